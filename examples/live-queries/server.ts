// Run: npm run build -w examples/live-queries && npx tsx examples/live-queries/server.ts
// then open http://127.0.0.1:3000/react.html?user=42 and http://127.0.0.1:3000/vue.html?user=42,
// and push an invalidation:
//   curl -X POST localhost:3000/notify/user/42 -d '{"text":"hello"}'
//   curl -X POST localhost:3000/notify/global -d '{"text":"news"}'
import { fileURLToPath } from 'node:url';
import { startBackend } from './backend.js';

const backend = await startBackend({
  port: Number(process.env.PORT ?? 3000),
  staticDir: fileURLToPath(new URL('./dist', import.meta.url)),
});
console.log(`listening on ${backend.port}`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void backend.close().then(() => process.exit(0));
  });
}
