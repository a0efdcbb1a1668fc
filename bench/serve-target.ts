// The server side of bench:serve, run inside the lab's responder namespace:
//   node serve-target.js plain PORT            http.Server on a kernel listener
//   node serve-target.js protect PORT IFACE ADDR [WORKERS]   the same server behind protect()
// Prints "ready"; on SIGTERM prints one JSON line of its stats and exits.
import http from 'node:http';
import { protect } from '../lib/handoff/protect.js';

const [mode, portText, iface, addr, workersText] = process.argv.slice(2);
const port = Number(portText);
const server = http.createServer((req, res) => res.end('ok\n'));
let stats: () => object = () => ({});
let close: () => Promise<void> = async () => {};
if (mode === 'plain') {
  server.listen({ port, host: '::', backlog: 1024 }, () => process.stdout.write('ready\n'));
  close = () => new Promise((resolve) => server.close(() => resolve()));
} else {
  const p = await protect(server, { iface, addrs: [addr], ports: [port], workers: Number(workersText ?? 0) });
  stats = () => ({ ...p.stats(), ...p.responder.stats() });
  close = () => p.close();
  process.stdout.write('ready\n');
}
process.once('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ type: 'stats', mode, ...stats() })}\n`);
  void close().then(() => process.exit(0));
});
