// Run: npm run build -w examples/trpc-todos && npx tsx examples/trpc-todos/server.ts
// then open http://127.0.0.1:3000/ in two tabs and add a todo in one of them.
import { fileURLToPath } from 'node:url';
import { startBackend } from './backend.js';

const backend = await startBackend({ port: Number(process.env.PORT ?? 3000), staticDir: fileURLToPath(new URL('./dist', import.meta.url)) });
console.log(`listening on ${backend.url}`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void backend.close().then(() => process.exit(0)));
