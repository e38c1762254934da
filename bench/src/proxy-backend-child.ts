/**
 * The proxy bench's backend, in its own process so its CPU is not charged to the server: an HTTP
 * and a GRPC backend (the test helpers) answering every connect and subscribe at once. Prints
 * `{"http": port, "grpc": port}` on stdout, exits when stdin closes.
 */
import { GrpcBackend, HttpBackend } from '@switchboard/server/testing';

const answer = (path: string, body: Record<string, unknown>): unknown =>
  path.endsWith('connect') ? { result: { user: `u${String(body['client']).slice(0, 8)}`, info: { plan: 'bench' } } } : { result: { info: { seat: 1 } } };

const http = await new HttpBackend((c) => answer(c.path, c.body)).start();
const grpc = await new GrpcBackend((c) => answer(c.method, c.body)).start();
// The helpers record every call for tests; a bench makes too many to keep.
setInterval(() => {
  http.calls.length = 0;
  grpc.calls.length = 0;
}, 1000).unref();
process.stdout.write(`${JSON.stringify({ http: http.port, grpc: grpc.port })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void Promise.all([http.close(), grpc.close()]).then(() => process.exit(0));
});
