// wrk as a benchmark's client: one run from a lab namespace, its figures
// parsed from wrk's report. Every request opens a new connection
// (Connection: close), the load a SYN cache stands in front of.
import { spawn } from 'node:child_process';
import type { Namespace } from '../lib/lab/netns.js';

export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests answered. */
  requests: number;
  /** Connect, read, write and timeout errors plus non-2xx/3xx answers. */
  errors: number;
}

export interface WrkRun {
  ns: Namespace;
  url: string;
  connections: number;
  seconds: number;
  /** Pins wrk to this CPU (taskset). */
  cpu?: number;
}

export function runWrk({ ns, url, connections, seconds, cpu }: WrkRun): Promise<WrkResult> {
  const argv = ['wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', 'Connection: close', url];
  const pinnedArgv = cpu === undefined ? argv : ['taskset', '-c', String(cpu), ...argv];
  const [cmd, args] = ns.wrap(pinnedArgv[0], pinnedArgv.slice(1));
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => child.once('exit', (code) => {
    if (code !== 0) return reject(new Error(`wrk exited with ${code}: ${out}`));
    resolve(parseWrk(out));
  }));
}

/** The figures of one wrk --latency report. */
export function parseWrk(out: string): WrkResult {
  const ms = (label: string): number => {
    const m = new RegExp(`^\\s*${label}%\\s+([0-9.]+)(us|ms|s)`, 'm').exec(out);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = non2xx + (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { requestsPerSecond: rps, p50Ms: ms('50'), p99Ms: ms('99'), requests, errors };
}
