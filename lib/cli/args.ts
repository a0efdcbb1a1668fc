// Flag values to typed options, with errors that name the flag.
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { UsageError } from './errors.js';
import type { FlagValue, FlagValues } from './config-file.js';
import type { Need } from './capabilities.js';
import { doorNeeds, packetNeeds, type IoRun } from './io-needs.js';
import { namedNetnsPath } from '../native/netns.js';
import { LIMITS, resolveConfig } from '../engine/config.js';
import { WORKERS_MAX } from '../responder/responder.js';
import type { IoChoice } from '../responder/io-choice.js';
import { bindAddressProblem } from '../responder/bind-addresses.js';

/** Every value of a flag that may repeat (--port 80 --port 81,82): all of them, in order, each once. */
export function list(flag: string, value: FlagValue): string[] {
  const given = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  const out = [...new Set(given.flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0))];
  if (out.length === 0) throw new UsageError(`--${flag} is required`, flag);
  return out;
}

export function addresses(flag: string, value: FlagValue): string[] {
  const out = list(flag, value);
  for (const a of out) {
    if (isIP(a) === 0) throw new UsageError(`--${flag}: '${a}' is not an IPv4 or IPv6 address`, flag);
    const problem = bindAddressProblem(a);
    if (problem !== undefined) throw new UsageError(`--${flag}: ${problem}`, flag);
  }
  return out;
}

export function ports(flag: string, value: FlagValue): number[] {
  return list(flag, value).map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--${flag}: '${p}' is not a port from 1 to 65535`, flag);
    return n;
  });
}

export function integer(flag: string, value: FlagValue, min: number, max: number): number | undefined {
  return inRange(flag, value, min, max, 'an integer', Number.isInteger);
}

export function number(flag: string, value: FlagValue, min: number, max: number): number | undefined {
  return inRange(flag, value, min, max, 'a number', Number.isFinite);
}

function inRange(flag: string, value: FlagValue, min: number, max: number, kind: string,
  isKind: (n: number) => boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !isKind(n) || n < min || n > max) {
    throw new UsageError(`--${flag} must be ${kind} from ${min} to ${max}, got '${String(value)}'`, flag);
  }
  return n;
}

export function choice<T extends string>(flag: string, value: FlagValue, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got '${String(value)}'`, flag);
  }
  return value as T;
}

/** HOST:PORT (or [IPv6]:PORT) of a flag. */
export function hostPort(flag: string, value: FlagValue): { host: string; port: number } {
  if (typeof value !== 'string') throw new UsageError(`--${flag} HOST:PORT is required`, flag);
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`--${flag} must be HOST:PORT (or [IPv6]:PORT), got '${value}'`, flag);
  }
  return { host: m[1], port };
}

/** --metrics HOST:PORT, if given. */
export function metricsAddress(v: FlagValues): { host: string; port: number } | undefined {
  return v.metrics === undefined ? undefined : hostPort('metrics', v.metrics);
}

/** A line for stderr when more workers are asked for than this host has cores. */
export function workersWarning(workers: number | undefined, cores = availableParallelism()): string | undefined {
  if (workers === undefined || workers <= cores) return undefined;
  return `syncache: warning: --workers ${workers} is more than the ${cores} core${cores === 1 ? '' : 's'} this process may use: shards will share cores and answer slower, not faster\n`;
}

/** What `listen` and `serve` ask of the kernel on `path`, for the capability check. */
export function responderNeeds(options: { netns?: string; gate: 'optional' | 'required' | 'off'; handoff: boolean; path: IoRun }): Need[] {
  const needs = options.path === 'xdp' ? doorNeeds() : packetNeeds(options.gate);
  if (options.handoff) needs.push({ capability: 'CAP_NET_ADMIN', for: 'TCP_REPAIR, which makes the kernel sockets' });
  if (options.netns !== undefined) needs.push({ capability: 'CAP_SYS_ADMIN', for: '--netns, entering the namespace' });
  return needs;
}

/** The flags `listen` and `serve` share: where to answer, the cache, the output. */
export const RESPONDER_FLAGS = {
  iface: { type: 'string' },
  addr: { type: 'string', multiple: true },
  port: { type: 'string', multiple: true },
  syncookies: { type: 'string' },
  io: { type: 'string' },
  'hash-size': { type: 'string' },
  'bucket-limit': { type: 'string' },
  'cache-limit': { type: 'string' },
  'rexmt-limit': { type: 'string' },
  'pause-ms': { type: 'string' },
  workers: { type: 'string' },
  netns: { type: 'string' },
  json: { type: 'boolean' },
  'stats-interval': { type: 'string' },
  'key-file': { type: 'string' },
  metrics: { type: 'string' },
  config: { type: 'string' },
} as const;

type Values = FlagValues;

/** The flag of each SyncacheConfig field the command line sets. */
const FLAG_OF_FIELD: Record<string, string> = {
  hashSize: 'hash-size', bucketLimit: 'bucket-limit', cacheLimit: 'cache-limit',
  rexmtLimit: 'rexmt-limit', pauseMs: 'pause-ms', syncookies: 'syncookies',
};

/** resolveConfig's checks that span fields (hash-size a power of 2, the product of two limits), in the flags' names. */
function checkConfig(config: Record<string, unknown>): void {
  const given = Object.fromEntries(Object.entries(config).filter(([, value]) => value !== undefined));
  try {
    resolveConfig(given);
  } catch (error) {
    const message = (error as Error).message;
    const field = /^(\w+)/.exec(message)?.[1] ?? '';
    const flag = FLAG_OF_FIELD[field];
    if (flag === undefined) throw new UsageError(message);
    let said = message;
    for (const [f, name] of Object.entries(FLAG_OF_FIELD)) said = said.replace(new RegExp(`\\b${f}\\b`, 'g'), `--${name}`);
    throw new UsageError(said.replace(/; set --cache-limit$/, ': set --cache-limit'), flag);
  }
}

/** Responder options from RESPONDER_FLAGS, each checked with an error naming its flag. */
export function responderOptions(v: Values) {
  if (typeof v.iface !== 'string' || v.iface === '') throw new UsageError('--iface is required', 'iface');
  let netns: string | undefined;
  if (typeof v.netns === 'string') {
    try {
      netns = namedNetnsPath(v.netns, '--netns');
    } catch (error) {
      throw new UsageError((error as Error).message, 'netns');
    }
  }
  const config = {
    syncookies: choice('syncookies', v.syncookies, ['off', 'on', 'only'] as const),
    hashSize: integer('hash-size', v['hash-size'], 1, LIMITS.hashSizeMax),
    bucketLimit: integer('bucket-limit', v['bucket-limit'], 1, LIMITS.bucketLimitMax),
    cacheLimit: integer('cache-limit', v['cache-limit'], 1, LIMITS.cacheLimitMax),
    rexmtLimit: integer('rexmt-limit', v['rexmt-limit'], 0, LIMITS.rexmtLimitMax),
    pauseMs: integer('pause-ms', v['pause-ms'], 0, LIMITS.pauseMsMax),
  };
  checkConfig(config);
  if (v['key-file'] !== undefined && (typeof v['key-file'] !== 'string' || v['key-file'] === '')) throw new UsageError('--key-file needs the path of a key file', 'key-file');
  const keyFile = v['key-file'] as string | undefined;
  const workers = integer('workers', v.workers, 0, WORKERS_MAX);
  return {
    iface: v.iface,
    addrs: addresses('addr', v.addr),
    ports: ports('port', v.port),
    netns,
    ...config,
    io: ioFlag(v),
    workers,
    secrets: keyFile === undefined ? undefined : { keyFile },
  };
}

export const IO_CHOICES: readonly IoChoice[] = ['packet', 'xdp', 'auto'];

/** --io (default packet); whether the door can be had (its build, receive queues against --workers) is the Responder's to say. */
export function ioFlag(v: Values): IoChoice {
  return choice('io', v.io, IO_CHOICES) ?? 'packet';
}

/** --stats-interval in seconds (default 1). */
export function statsInterval(v: Values): number {
  return number('stats-interval', v['stats-interval'], 0.1, 3600) ?? 1;
}
