// SYN cache tunables, named after FreeBSD's net.inet.tcp.syncache.* sysctls
// (hashsize, bucketlimit, cachelimit, rexmtlimit) and net.inet.tcp.syncookies
// (off | on | only), plus what our SYN-ACK advertises (MSS, window, window
// scale) and the timer and cookie-secret periods.
//
// resolveConfig() is the edge: it rejects unknown fields and wrong types with
// a TypeError, out-of-range values with a RangeError, each message naming the
// field and what it accepts, and returns a frozen object with every default
// filled in. Nothing past this point re-validates.
import type { CookieMode } from '../native/addon.js';

const DEFAULT_HASH_SIZE = 8192;
/** FreeBSD's default cachelimit: hashsize 512 x bucketlimit 30. */
const DEFAULT_CACHE_LIMIT = 512 * 30;

export interface SyncacheConfig {
  /**
   * Buckets in the hash table; a power of 2 (FreeBSD hashsize; default 8192).
   * The seed's 512 buckets hold chains of 30 once a flood fills the cache,
   * and every new SYN walks its whole chain looking for a duplicate; 8192
   * buckets keep them near 2 for the same 15,360 entries.
   */
  readonly hashSize: number;
  /** Entries per bucket before the oldest is evicted (bucketlimit, default 30). */
  readonly bucketLimit: number;
  /**
   * Entries in the whole cache (cachelimit): hashSize x bucketLimit, as in
   * FreeBSD, once either is set; with neither, the seed's 15,360 (512 x 30).
   * A larger cache under a flood holds its entries long enough to
   * retransmit their SYN-ACKs.
   */
  readonly cacheLimit: number;
  /** SYN-ACK retransmits before an entry is dropped as stale (rexmtlimit, default 3). */
  readonly rexmtLimit: number;
  /**
   * off: cache only; on: cookies when the cache has no room, and for new
   * flows for pauseMs once the whole cache ran out (the pause); only:
   * cookies, no cache.
   */
  readonly syncookies: CookieMode;
  /**
   * With syncookies 'on': once the cache's zone runs out, new flows get
   * cookies without entries for this long, doubled (to 64 times at most) while it
   * keeps running out (FreeBSD's syncache pause). 0: never pause, every SYN
   * evicts another entry, as in the seed (default 15000 ms).
   */
  readonly pauseMs: number;
  /** MSS we advertise over IPv4 (default 1460). */
  readonly mss: number;
  /** MSS we advertise over IPv6 (default mss - 20, at least 1220). */
  readonly mss6: number;
  /** Our window-scale shift (default 7). */
  readonly windowScale: number;
  /** Raw window field of our SYN-ACK (default 65535). */
  readonly window: number;
  /** First retransmit timeout; doubles per retransmit (default 1000 ms). */
  readonly rexmtInitialMs: number;
  /** Period of cookie-secret rotation; a cookie lives 1 to 2 periods (default 15000 ms). */
  readonly cookieRotateMs: number;
  /**
   * Bytes of data held for completed handshakes whose kernel socket is not
   * made yet, over all of a shard's flows (default 32 MiB). Each flow holds
   * at most `window` bytes, the window our SYN-ACK advertised; a segment
   * past either bound is dropped and counted (holdoverwindow, holdfull) and
   * the peer resends it to the socket.
   */
  readonly holdLimit: number;
}

export type SyncacheConfigInput = Partial<SyncacheConfig>;

const FIELDS: readonly (keyof SyncacheConfig)[] = [
  'hashSize', 'bucketLimit', 'cacheLimit', 'rexmtLimit', 'syncookies', 'pauseMs',
  'mss', 'mss6', 'windowScale', 'window', 'rexmtInitialMs', 'cookieRotateMs', 'holdLimit',
];

export const LIMITS = {
  hashSizeMax: 2 ** 24,
  bucketLimitMax: 65535,
  cacheLimitMax: 2 ** 26,
  // rexmtInitialMs << (rexmtLimit + 1) must stay well below 2^31 ms for the
  // wrap-safe uint32 comparisons of the timer.
  rexmtLimitMax: 8,
  rexmtInitialMsMax: 60_000,
  pauseMsMax: 3_600_000,
  holdLimitMax: 2 ** 31,
} as const;

/** Default holdLimit: 512 flows' worth of a full 64 KiB window. */
const DEFAULT_HOLD_LIMIT = 32 * 1024 * 1024;

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value === 'bigint' ? `${value}n` : String(value);
}

function integer(field: string, value: unknown, min: number, max: number, range = `from ${min} to ${max}`): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${field} must be an integer ${range}, got ${describe(value)}`);
  }
  if (value < min || value > max) throw new RangeError(`${field} must be an integer ${range}, got ${value}`);
  return value;
}

/** Fills in defaults and validates; throws TypeError/RangeError naming the field. */
export function resolveConfig(partial: SyncacheConfigInput = {}): SyncacheConfig {
  if (partial === null || typeof partial !== 'object' || Array.isArray(partial)) {
    throw new TypeError(`config must be an object, got ${describe(partial)}`);
  }
  for (const key of Object.keys(partial)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      throw new TypeError(`unknown config field ${JSON.stringify(key)} (known: ${FIELDS.join(', ')})`);
    }
  }
  const p = partial as Record<string, unknown>;
  const has = (k: string): boolean => p[k] !== undefined;

  const hashSize = has('hashSize')
    ? integer('hashSize', p.hashSize, 1, LIMITS.hashSizeMax, 'from 1 to 2^24')
    : DEFAULT_HASH_SIZE;
  if ((hashSize & (hashSize - 1)) !== 0) {
    throw new RangeError(`hashSize must be a power of 2 from 1 to 2^24, got ${hashSize}`);
  }
  const bucketLimit = has('bucketLimit') ? integer('bucketLimit', p.bucketLimit, 1, LIMITS.bucketLimitMax) : 30;
  let cacheLimit: number;
  if (has('cacheLimit')) {
    cacheLimit = integer('cacheLimit', p.cacheLimit, 1, LIMITS.cacheLimitMax, 'from 1 to 2^26');
  } else {
    // FreeBSD's rule, hashsize x bucketlimit, once either is set; with
    // neither, the seed's total (the same rule over its 512 buckets).
    cacheLimit = has('hashSize') || has('bucketLimit') ? hashSize * bucketLimit : DEFAULT_CACHE_LIMIT;
    if (cacheLimit > LIMITS.cacheLimitMax) {
      throw new RangeError(`cacheLimit must be an integer from 1 to 2^26, got ${cacheLimit} (hashSize ${hashSize} x bucketLimit ${bucketLimit}); set cacheLimit`);
    }
  }
  const rexmtLimit = has('rexmtLimit') ? integer('rexmtLimit', p.rexmtLimit, 0, LIMITS.rexmtLimitMax) : 3;

  let syncookies: CookieMode = 'on';
  if (has('syncookies')) {
    if (p.syncookies !== 'off' && p.syncookies !== 'on' && p.syncookies !== 'only') {
      throw new TypeError(`syncookies must be 'off', 'on' or 'only', got ${describe(p.syncookies)}`);
    }
    syncookies = p.syncookies;
  }

  const mss = has('mss') ? integer('mss', p.mss, 536, 65495) : 1460;
  const mss6 = has('mss6') ? integer('mss6', p.mss6, 1220, 65475) : Math.min(65475, Math.max(1220, mss - 20));
  const windowScale = has('windowScale') ? integer('windowScale', p.windowScale, 0, 14) : 7;
  const window = has('window') ? integer('window', p.window, 1, 65535) : 65535;
  const rexmtInitialMs = has('rexmtInitialMs')
    ? integer('rexmtInitialMs', p.rexmtInitialMs, 1, LIMITS.rexmtInitialMsMax)
    : 1000;
  const cookieRotateMs = has('cookieRotateMs') ? integer('cookieRotateMs', p.cookieRotateMs, 100, 3_600_000) : 15_000;
  const pauseMs = has('pauseMs') ? integer('pauseMs', p.pauseMs, 0, LIMITS.pauseMsMax) : 15_000;
  const holdLimit = has('holdLimit') ? integer('holdLimit', p.holdLimit, 0, LIMITS.holdLimitMax, 'from 0 to 2^31') : DEFAULT_HOLD_LIMIT;

  return Object.freeze({
    hashSize, bucketLimit, cacheLimit, rexmtLimit, syncookies, pauseMs,
    mss, mss6, windowScale, window, rexmtInitialMs, cookieRotateMs, holdLimit,
  });
}
