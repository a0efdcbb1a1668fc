// A kernel TCP client for the handoff tests, run in the peer namespace:
//   node client.js HOST PORT MODE [ARG]
// It prints one JSON line per event on stdout:
//   {"event":"connected","port":N}           after the handshake
//   {"event":"result", ...}                  what the mode measured
//   {"event":"error","code":"..."}
// Modes:
//   echo TEXT   write TEXT at once, read TEXT.length bytes back
//   greet       read one line the server sends first
//   bulk N      write N random bytes while reading N; report both sha256s
//   hold [TEXT] write TEXT at once (if given), then obey stdin lines: `send TEXT`, `expect N` (report after N
//               bytes), `end`
import { connect } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

const [host, portText, mode, arg] = process.argv.slice(2);
const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const s = connect({ host, port: Number(portText) });
const started = Date.now();
let received = Buffer.alloc(0);
let want = -1;
let onEnough: () => void = () => {};

s.on('error', (e: NodeJS.ErrnoException) => { say({ event: 'error', code: e.code }); process.exit(0); });
s.on('data', (d: Buffer) => {
  received = Buffer.concat([received, d]);
  if (want >= 0 && received.length >= want) { want = -1; onEnough(); }
});
s.on('connect', () => {
  say({ event: 'connected', port: s.localPort });
  if (mode === 'echo') {
    s.write(arg);
    want = Buffer.byteLength(arg);
    onEnough = () => { say({ event: 'result', got: received.toString(), ms: Date.now() - started }); s.end(); };
  } else if (mode === 'greet') {
    const check = (): void => {
      const nl = received.indexOf(10);
      if (nl >= 0) { say({ event: 'result', got: received.subarray(0, nl).toString(), ms: Date.now() - started }); s.end(); }
      else s.once('data', check);
    };
    s.once('data', check);
  } else if (mode === 'bulk') {
    const n = Number(arg);
    const out = randomBytes(n);
    const sentHash = createHash('sha256').update(out).digest('hex');
    s.write(out);
    want = n;
    onEnough = () => {
      say({ event: 'result', sentHash, gotHash: createHash('sha256').update(received.subarray(0, n)).digest('hex'), gotBytes: received.length, ms: Date.now() - started });
      s.end();
    };
  } else if (mode === 'hold') {
    if (arg !== undefined) s.write(arg);
    createInterface({ input: process.stdin }).on('line', (l) => {
      if (l.startsWith('send ')) s.write(l.slice(5));
      else if (l.startsWith('expect ')) {
        want = Number(l.slice(7));
        onEnough = () => say({ event: 'result', got: received.toString() });
        if (received.length >= want) { want = -1; onEnough(); }
      } else if (l === 'end') { s.end(); }
    });
  }
});
s.on('close', () => process.exit(0));
setTimeout(() => { say({ event: 'error', code: 'ETIMEDOUT' }); process.exit(0); }, 30000).unref();
