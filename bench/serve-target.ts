// The server side of bench:serve, run inside the lab's responder namespace:
//   node serve-target.js plain PORT            http.Server on a kernel listener
//   node serve-target.js protect PORT IFACE ADDR [WORKERS [IO [CACHE]]]   the same server behind protect()
//     IO: packet (default) or xdp (the XDP door); CACHE: big, a cache that a
//     flood of up to a few hundred thousand SYN/s does not fill (2^22 entries,
//     each dropped at its first timeout), so every SYN takes the cache path;
//     only, syncookies 'only': every SYN a cookie, no cache
// Prints "ready"; on SIGUSR2 one JSON line of its stats; on SIGTERM the same
// line, then it exits.
import http from 'node:http';
import { protect } from '../lib/handoff/protect.js';

const [mode, portText, iface, addr, workersText, ioText, cacheText] = process.argv.slice(2);
const port = Number(portText);
const server = http.createServer((req, res) => res.end('ok\n'));
let stats: () => object = () => ({});
let close: () => Promise<void> = async () => {};
if (mode === 'plain') {
  server.listen({ port, host: '::', backlog: 1024 }, () => process.stdout.write('ready\n'));
  close = () => new Promise((resolve) => server.close(() => resolve()));
} else {
  const io = ioText === 'xdp' ? 'xdp' : 'packet';
  const cache = cacheText === 'big' ? { hashSize: 2 ** 20, bucketLimit: 30, cacheLimit: 2 ** 22, rexmtLimit: 0 }
    : cacheText === 'only' ? { syncookies: 'only' as const } : {};
  const p = await protect(server, { iface, addrs: [addr], ports: [port], workers: Number(workersText ?? 0), io, ...cache });
  stats = () => ({ ...p.stats(), ...p.responder.stats(), cacheSize: p.responder.cacheSize });
  close = () => p.close();
  process.stdout.write('ready\n');
}
const report = (): void => { process.stdout.write(`${JSON.stringify({ type: 'stats', mode, ...stats() })}\n`); };
process.on('SIGUSR2', report);
process.once('SIGTERM', () => {
  report();
  void close().then(() => process.exit(0));
});
