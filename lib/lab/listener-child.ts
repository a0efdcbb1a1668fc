// Child process of kernel-listener.ts, run inside the responder namespace:
// a plain kernel TCP listener (dual-stack, small backlog) that accepts each
// connection and closes it at once. Prints one JSON line when listening.
// Usage: node listener-child.js <port> <backlog>
import { createServer } from 'node:net';

const port = Number(process.argv[2]);
const backlog = Number(process.argv[3] ?? 16);
let accepted = 0;

const server = createServer({ pauseOnConnect: true }, (socket) => {
  accepted++;
  socket.on('error', () => {});
  socket.destroy();
});
server.on('error', (error) => {
  process.stdout.write(`${JSON.stringify({ error: (error as Error).message })}\n`);
  process.exit(1);
});
server.listen({ port, host: '::', ipv6Only: false, backlog }, () => {
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid, port })}\n`);
});
const stop = (): void => {
  process.stdout.write(`${JSON.stringify({ accepted })}\n`);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
