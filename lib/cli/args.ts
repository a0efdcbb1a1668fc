// Flag values to typed options, with errors that name the flag.
import { isIP } from 'node:net';
import { UsageError } from './errors.js';
import { namedNetnsPath } from '../native/netns.js';
import { LIMITS } from '../engine/config.js';
import { WORKERS_MAX } from '../responder/responder.js';
import { bindAddressProblem } from '../responder/bind-addresses.js';

export function list(flag: string, value: string | boolean | undefined): string[] {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${flag} is required`);
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

export function addresses(flag: string, value: string | boolean | undefined): string[] {
  const out = list(flag, value);
  for (const a of out) {
    if (isIP(a) === 0) throw new UsageError(`--${flag}: '${a}' is not an IPv4 or IPv6 address`);
    const problem = bindAddressProblem(a);
    if (problem !== undefined) throw new UsageError(`--${flag}: ${problem}`);
  }
  return out;
}

export function ports(flag: string, value: string | boolean | undefined): number[] {
  return list(flag, value).map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--${flag}: '${p}' is not a port from 1 to 65535`);
    return n;
  });
}

export function integer(flag: string, value: string | boolean | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got '${String(value)}'`);
  }
  return n;
}

export function number(flag: string, value: string | boolean | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${flag} must be a number from ${min} to ${max}, got '${String(value)}'`);
  }
  return n;
}

export function choice<T extends string>(flag: string, value: string | boolean | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got '${String(value)}'`);
  }
  return value as T;
}

/** Root is needed for the packet ring and the gate; say so before anything fails halfway. */
export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw Object.assign(new Error(`${what} needs root (CAP_NET_RAW for the packet ring, CAP_NET_ADMIN for the nftables gate): run it with sudo`), { code: 'EPERM' });
  }
}

/** The flags `listen` and `serve` share: where to answer, the cache, the output. */
export const RESPONDER_FLAGS = {
  iface: { type: 'string' },
  addr: { type: 'string' },
  port: { type: 'string' },
  syncookies: { type: 'string' },
  'hash-size': { type: 'string' },
  'bucket-limit': { type: 'string' },
  'cache-limit': { type: 'string' },
  'rexmt-limit': { type: 'string' },
  'pause-ms': { type: 'string' },
  workers: { type: 'string' },
  netns: { type: 'string' },
  json: { type: 'boolean' },
  'stats-interval': { type: 'string' },
} as const;

type Values = Record<string, string | boolean | undefined>;

/** Responder options from RESPONDER_FLAGS, each checked with an error naming its flag. */
export function responderOptions(v: Values) {
  if (typeof v.iface !== 'string' || v.iface === '') throw new UsageError('--iface is required');
  let netns: string | undefined;
  if (typeof v.netns === 'string') {
    try {
      netns = namedNetnsPath(v.netns, '--netns');
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  return {
    iface: v.iface,
    addrs: addresses('addr', v.addr),
    ports: ports('port', v.port),
    netns,
    syncookies: choice('syncookies', v.syncookies, ['off', 'on', 'only'] as const),
    hashSize: integer('hash-size', v['hash-size'], 1, LIMITS.hashSizeMax),
    bucketLimit: integer('bucket-limit', v['bucket-limit'], 1, LIMITS.bucketLimitMax),
    cacheLimit: integer('cache-limit', v['cache-limit'], 1, LIMITS.cacheLimitMax),
    rexmtLimit: integer('rexmt-limit', v['rexmt-limit'], 0, LIMITS.rexmtLimitMax),
    pauseMs: integer('pause-ms', v['pause-ms'], 0, LIMITS.pauseMsMax),
    workers: integer('workers', v.workers, 0, WORKERS_MAX),
  };
}

/** --stats-interval in seconds (default 1). */
export function statsInterval(v: Values): number {
  return number('stats-interval', v['stats-interval'], 0.1, 3600) ?? 1;
}
