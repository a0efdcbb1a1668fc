// Legitimate clients for a flood run: the kernel's own TCP stack in the client
// namespace (a child `ip netns exec <ns> node client-worker.js`), connecting at
// a steady rate while the responder is flooded, so the report can say how many
// real handshakes got through and how long they took.
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Namespace } from './netns.js';
import { onTeardown } from './teardown.js';
import { killQuietly, lineReader } from './kernel-listener.js';

export interface ClientOptions {
  ns: Namespace;
  /** Target address, or several (e.g. IPv4 and IPv6), used round-robin. */
  addr: string | readonly string[];
  port: number;
  /** Connection attempts per second. */
  rate: number;
  seconds: number;
  /** Per-connection timeout; default 3000 ms. */
  timeoutMs?: number;
  /** Run the clients on this CPU only (taskset), e.g. beside the flood generator. */
  cpu?: number;
}

export interface ClientSummary {
  attempted: number;
  completed: number;
  failed: number;
  /** Failures by error code; ETIMEDOUT is our own per-connection timeout. */
  errors: Record<string, number>;
  /** Connect times of completed connections, ms (null when none completed). */
  p50: number | null;
  p99: number | null;
  max: number | null;
  elapsedMs: number;
}

const WORKER = fileURLToPath(new URL('./client-worker.js', import.meta.url));

export async function runClients(options: ClientOptions): Promise<ClientSummary> {
  const addrs = typeof options.addr === 'string' ? [options.addr] : [...options.addr];
  if (addrs.length === 0 || addrs.some((a) => isIP(a) === 0)) throw new TypeError(`addr must be IPv4/IPv6 addresses, got ${JSON.stringify(options.addr)}`);
  const { port, rate, seconds } = options;
  const timeoutMs = options.timeoutMs ?? 3000;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port: ${port} is not a TCP port`);
  if (!(rate > 0 && rate <= 100_000)) throw new RangeError(`rate must be in (0, 100000] connections/s, got ${rate}`);
  if (!(seconds > 0 && seconds <= 3600)) throw new RangeError(`seconds must be in (0, 3600], got ${seconds}`);
  if (!(timeoutMs > 0 && timeoutMs <= 60_000)) throw new RangeError(`timeoutMs must be in (0, 60000], got ${timeoutMs}`);

  const worker: [string, string[]] = [process.execPath, [WORKER, JSON.stringify({ addrs, port, rate, seconds, timeoutMs })]];
  const [cmd, args] = options.ns.wrap(...(options.cpu === undefined ? worker : ['taskset', ['-c', String(options.cpu), ...worker.flat()]] as [string, string[]]));
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start clients in ${options.ns.name}`);
  let alive = true;
  child.once('exit', () => (alive = false));
  const unregister = onTeardown(() => {
    if (alive) killQuietly(pid, 'SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = lineReader(child);
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    const line = await lines.next();
    const code = await closed;
    if (line === undefined || code !== 0) throw new Error(`clients in ${options.ns.name} failed (exit ${code}): ${stderr.trim()}`);
    return JSON.parse(line) as ClientSummary;
  } finally {
    unregister();
  }
}
