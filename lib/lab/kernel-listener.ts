// The baseline: the Linux kernel's own listener in the responder namespace,
// with `net.ipv4.tcp_syncookies=2` (a cookie for every SYN, no SYN queue),
// the anchor syncache is measured against. The listener is a child
// `ip netns exec <ns> node listener-child.js` (ip execs node, so the child's
// pid is node's own); stop() ends exactly that pid. The namespace's kernel
// counters come from its /proc/net/netstat (read from inside it).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Namespace } from './netns.js';
import { onTeardown } from './teardown.js';

export interface KernelListenerOptions {
  ns: Namespace;
  port: number;
  /** listen() backlog; small, so that a flood meets a full queue. Default 16. */
  backlog?: number;
  /** net.ipv4.tcp_syncookies in the namespace: 0 off, 1 on overflow, 2 always. Default 2. */
  syncookies?: 0 | 1 | 2;
  /** How long to wait for the child to listen. Default 10 s. */
  readyTimeoutMs?: number;
}

export interface KernelListener {
  readonly pid: number;
  readonly port: number;
  /** Ends the child (SIGTERM, then SIGKILL after 2 s); resolves with its accept count. */
  stop(): Promise<{ accepted: number }>;
}

/** Kernel TCP counters of a namespace, by MIB name (TcpExt and Tcp rows). */
export interface KernelCounters {
  SyncookiesSent: number;
  SyncookiesRecv: number;
  SyncookiesFailed: number;
  ListenOverflows: number;
  ListenDrops: number;
  /** Every TcpExt and Tcp counter, e.g. TCPReqQFullDoCookies, PassiveOpens. */
  all: Record<string, number>;
}

const CHILD = fileURLToPath(new URL('./listener-child.js', import.meta.url));

export async function startKernelListener(options: KernelListenerOptions): Promise<KernelListener> {
  const { ns, port } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port: ${port} is not a TCP port`);
  const backlog = options.backlog ?? 16;
  if (!Number.isInteger(backlog) || backlog < 1) throw new RangeError(`backlog must be a positive integer, got ${backlog}`);
  ns.sysctl('net.ipv4.tcp_syncookies', options.syncookies ?? 2);

  const [cmd, args] = ns.wrap(process.execPath, [CHILD, String(port), String(backlog)]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start the kernel listener in ${ns.name}`);
  // Signal the pid only while it is our live child: never a reused pid.
  let alive = true;
  child.once('exit', () => (alive = false));
  const kill = (signal: NodeJS.Signals): void => {
    if (alive) killQuietly(pid, signal);
  };
  const unregister = onTeardown(() => kill('SIGKILL'));
  const lines = lineReader(child);
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));

  try {
    const first = await withTimeout(lines.next(), options.readyTimeoutMs ?? 10_000, `kernel listener in ${ns.name} did not start`);
    const msg = JSON.parse(first ?? 'null') as { ready?: boolean; error?: string } | null;
    if (!msg?.ready) throw new Error(`kernel listener in ${ns.name} failed: ${msg?.error ?? stderr.trim()}`);
  } catch (error) {
    kill('SIGKILL');
    unregister();
    throw error;
  }

  let stopping: Promise<{ accepted: number }> | undefined;
  return {
    pid,
    port,
    stop() {
      stopping ??= (async () => {
        const last = lines.next();
        kill('SIGTERM');
        const timer = setTimeout(() => kill('SIGKILL'), 2000);
        await closed;
        clearTimeout(timer);
        unregister();
        const summary = JSON.parse((await last) ?? '{}') as { accepted?: number };
        return { accepted: summary.accepted ?? 0 };
      })();
      return stopping;
    },
  };
}

/** Reads the namespace's kernel TCP counters (TcpExt and Tcp MIBs). */
export function readKernelCounters(ns: Namespace): KernelCounters {
  const all: Record<string, number> = {};
  for (const file of ['/proc/net/netstat', '/proc/net/snmp']) {
    const rows = ns.exec('cat', [file]).split('\n');
    for (let i = 0; i + 1 < rows.length; i += 2) {
      const names = rows[i].split(/\s+/);
      const values = rows[i + 1].split(/\s+/);
      if (names[0] !== 'TcpExt:' && names[0] !== 'Tcp:') continue;
      for (let k = 1; k < names.length; k++) if (names[k]) all[names[k]] = Number(values[k]);
    }
  }
  const get = (name: string) => all[name] ?? 0;
  return {
    SyncookiesSent: get('SyncookiesSent'),
    SyncookiesRecv: get('SyncookiesRecv'),
    SyncookiesFailed: get('SyncookiesFailed'),
    ListenOverflows: get('ListenOverflows'),
    ListenDrops: get('ListenDrops'),
    all,
  };
}

/** Counter deltas between two readings (after - before). */
export function counterDelta(before: KernelCounters, after: KernelCounters): KernelCounters {
  const all: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.all)) all[k] = v - (before.all[k] ?? 0);
  return {
    SyncookiesSent: after.SyncookiesSent - before.SyncookiesSent,
    SyncookiesRecv: after.SyncookiesRecv - before.SyncookiesRecv,
    SyncookiesFailed: after.SyncookiesFailed - before.SyncookiesFailed,
    ListenOverflows: after.ListenOverflows - before.ListenOverflows,
    ListenDrops: after.ListenDrops - before.ListenDrops,
    all,
  };
}

export function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Lines of a child's stdout, one promise per line; undefined at end of stream. */
export function lineReader(child: ChildProcess): { next(): Promise<string | undefined> } {
  const ready: string[] = [];
  const waiting: Array<(line: string | undefined) => void> = [];
  let buffered = '';
  let ended = false;
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(line);
      else ready.push(line);
    }
  });
  child.stdout!.on('end', () => {
    ended = true;
    for (const w of waiting.splice(0)) w(undefined);
  });
  return {
    next() {
      if (ready.length) return Promise.resolve(ready.shift());
      if (ended) return Promise.resolve(undefined);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
