// Child process of clients.ts, run inside the client namespace: legitimate
// clients on the kernel's TCP stack. Opens connections at a steady rate for a
// duration, round-robin over the target addresses, each with its own timeout;
// times connect() to 'connect', resets the socket at once (no TIME_WAIT left
// behind) and prints one JSON summary line when every attempt has settled.
// Usage: node client-worker.js '<json ClientWorkerArgs>'
import { Socket } from 'node:net';

interface ClientWorkerArgs {
  addrs: string[];
  port: number;
  rate: number;
  seconds: number;
  timeoutMs: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ClientWorkerArgs;
const total = Math.max(1, Math.round(args.rate * args.seconds));
const times: number[] = [];
const errors: Record<string, number> = {};
let started = 0;
let settled = 0;
let failed = 0;
const t0 = process.hrtime.bigint();

function attempt(): void {
  const host = args.addrs[started % args.addrs.length];
  started++;
  const socket = new Socket();
  const begin = process.hrtime.bigint();
  let done = false;
  const finish = (code: string | undefined): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (code === undefined) {
      times.push(Number(process.hrtime.bigint() - begin) / 1e6);
      socket.resetAndDestroy();
    } else {
      failed++;
      errors[code] = (errors[code] ?? 0) + 1;
      socket.destroy();
    }
    if (++settled === total) report();
  };
  const timer = setTimeout(() => finish('ETIMEDOUT'), args.timeoutMs);
  socket.once('connect', () => finish(undefined));
  socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? 'EUNKNOWN'));
  socket.connect({ host, port: args.port });
}

function tick(): void {
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const due = Math.min(total, Math.floor(elapsed * args.rate) + 1);
  while (started < due) attempt();
  if (started < total) setTimeout(tick, Math.max(1, Math.min(10, 1000 / args.rate)));
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function report(): void {
  times.sort((a, b) => a - b);
  const round = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
  const summary = {
    attempted: started,
    completed: times.length,
    failed,
    errors,
    p50: round(quantile(times, 0.5)),
    p99: round(quantile(times, 0.99)),
    max: round(times.length ? times[times.length - 1] : null),
    elapsedMs: Math.round(Number(process.hrtime.bigint() - t0) / 1e6),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

tick();
