// One named counter per event, with the seed's names (FreeBSD tcps_sc_*),
// kept in a Float64Array over a SharedArrayBuffer so a worker's shard can be
// read by the main thread without a message. Native ring and parse counters
// are copied in beside them (see Stats.absorbNative).
import { addon } from '../native/addon.js';

export const SYNCACHE_COUNTERS = [
  'added', // entry inserted into the cache
  'retransmitted', // SYN-ACK resent by the timer
  'dupsyn', // duplicate SYN for an entry: SYN-ACK resent, timer refreshed
  'dropped', // SYN not answered (no room and no cookies)
  'completed', // handshake completed (entry or cookie)
  'bucketoverflow', // bucket full: its oldest entry evicted
  'cacheoverflow', // cache full: oldest entry of the bucket evicted
  'reset', // RST in window dropped an entry
  'stale', // entry dropped after rexmtLimit retransmits
  'aborted', // application refused a handshake: entry reinserted
  'badack', // ACK that does not acknowledge ISS+1
  'unreach', // ICMP unreachable dropped an entry
  'zonefail', // no free entry in the zone (eviction made room)
  'pauses', // the zone ran out: new flows got cookies without entries for a while
  'sendcookie', // SYN-ACK sent with a cookie ISS
  'recvcookie', // handshake completed through a cookie
  'failcookie', // ACK with no entry and no valid cookie
  'rstignored', // RST outside the window, ignored
  'ackunknown', // ACK for no entry while cookies are off
  'unreachmarked', // first ICMP unreachable: entry marked
  'unreachignored', // ICMP unreachable for no entry or another ISS
  'synackssent', // SYN-ACK frames sent (first and retransmits)
  'rstssent', // RST frames sent
  'txdropped', // response frames the ring could not send
  'lateinjected', // handoffs whose data slipped past the ring's last read, injected after all
  'handoffduplicate', // a flow handed over completing again (ignored)
  'completedrepeat', // a later segment of a flow completed earlier in the same batch: skipped, not completed again
  'challengeack', // RST in the window but not at IRS+1: answered with a challenge ACK (RFC 5961 3.2)
  'challengeacklimited', // such a RST past the entry's challenge-ACK rate limit: dropped unanswered
  'spuriouscookie', // valid-looking cookie ACK while cookies were not recently needed (syncookies on): dropped
  'badseq', // final ACK for an entry whose sequence is not IRS+1: dropped, the entry kept
  'pawsreject', // final ACK failing the timestamp checks (missing, TSecr we never sent, TSval older than the SYN's): dropped
  'workerrestarts', // shard workers started again after theirs died
  'adopted', // open handed-over flows marked in a shard after a worker was replaced
  'holdoverwindow', // data segment of a held flow past the window our SYN-ACK advertised: dropped (the rest of it, if it straddled)
  'holdfull', // data segment of a held flow dropped: the shard's holdLimit bytes were held already
  'lingerfull', // linger queue full (LINGER_LIMIT flows): its oldest flow stopped lingering early
  'handoffqueuefull', // handshake refused (aborted; the peer's next segment retries): the socket makers' backlog was full
  'workerqueuefull', // handshake refused (aborted; the peer's next segment retries): WORKER_BACKLOG handshakes on their way to the main thread
  'handedoverfull', // a flow not marked handed over: the native set of handed-over flows was full (2^20)
] as const;

export type SyncacheCounterName = (typeof SYNCACHE_COUNTERS)[number];

/**
 * What only the XDP door counts (lib/door/; its other counters carry the
 * names above). The door's own map holds them: the Responder reads them
 * from there into stats(), so a shard's Stats has no slot for them.
 */
export const DOOR_COUNTERS = ['doorRedirected', 'doorNoSocket', 'doorSynNotViaGateway', 'doorKernelSocket', 'doorCalm'] as const;

/** What a shard counts, in its Stats array's order. */
export const SHARD_COUNTER_NAMES: readonly string[] = [...SYNCACHE_COUNTERS, ...addon.counterNames];

/** Every name the Responder's stats() reports: the shards' counters, then the door's own. */
export const COUNTER_NAMES: readonly string[] = [...SHARD_COUNTER_NAMES, ...DOOR_COUNTERS];

const index = new Map<string, number>(SHARD_COUNTER_NAMES.map((name, i) => [name, i]));

/** The position of a counter in a Stats array (throws on an unknown name, or a door's own). */
export function counterIndex(name: string): number {
  const i = index.get(name);
  if (i === undefined) throw new RangeError(`unknown counter ${JSON.stringify(name)}`);
  return i;
}

export class Stats {
  readonly values: Float64Array;
  private readonly nativeBase = SYNCACHE_COUNTERS.length;

  constructor(buffer: SharedArrayBuffer | ArrayBuffer = new SharedArrayBuffer(SHARD_COUNTER_NAMES.length * 8)) {
    this.values = new Float64Array(buffer);
  }

  get buffer(): SharedArrayBuffer | ArrayBuffer {
    return this.values.buffer as SharedArrayBuffer | ArrayBuffer;
  }

  /** Copies a native counters array (BigUint64Array from a ring/pipeline) in. */
  absorbNative(counters: BigUint64Array): void {
    for (let i = 0; i < counters.length; i++) this.values[this.nativeBase + i] = Number(counters[i]);
  }

  /** Every counter by name. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < SHARD_COUNTER_NAMES.length; i++) out[SHARD_COUNTER_NAMES[i]] = this.values[i];
    return out;
  }

  /** Sums several shards' stats into one record. */
  static sum(shards: readonly Stats[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < SHARD_COUNTER_NAMES.length; i++) {
      let total = 0;
      for (const s of shards) total += s.values[i];
      out[SHARD_COUNTER_NAMES[i]] = total;
    }
    return out;
  }
}

/** Indices of the syncache counters, for the hot path (no string lookups). */
export const C = Object.fromEntries(SYNCACHE_COUNTERS.map((n, i) => [n, i])) as Record<SyncacheCounterName, number>;
