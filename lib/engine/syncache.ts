// The SYN cache: half-open connections between our SYN-ACK and the peer's
// ACK, after FreeBSD's tcp_syncache.c as reworked by the 2006 locking commit
// (per-bucket lists and per-bucket timers; DESIGN.md, "The seed").
//
// Storage is a struct of arrays in typed arrays: entry i's fields are
// family[i], peerAddr[4i..4i+4), iss[i], ... There is no object per entry
// and nothing on the SYN/ACK path allocates. The zone is preallocated with
// cacheLimit entries:
//
//   state    FREE -> allocate() -> ALLOCATED -> link() -> LINKED
//            LINKED -> unlink() -> ALLOCATED (fields kept, e.g. while a
//            connection is being made; relink() puts it back)
//            any -> remove() -> FREE
//   free     singly linked through chain (next), head freeHead
//   buckets  hashSize doubly linked lists (chain next, entryPrev), new entries
//            at the head, so the tail is the oldest; bucketCount per bucket
//
// syncache_add's limits: a SYN for a full bucket (bucketLimit) evicts that
// bucket's oldest entry (bucketoverflow). When the zone has no free entry
// (zonefail) the oldest entry of the SYN's own bucket is evicted
// (cacheoverflow); an empty bucket gets nothing and allocate() returns -1,
// the engine then answers with a cookie or drops the SYN. So zonefail -
// cacheoverflow is the number of SYNs the cache refused. Held entries (a
// completed handshake whose kernel socket is being made, collecting the data
// that follows) are never evicted: a bucket holding nothing else refuses the
// SYN, which gets a cookie. They leave by release() or go stale. A duplicate SYN
// (refresh()) counts as a send, as in the seed's SYNCACHE_TIMEOUT: rexmits+1
// and a backed-off deadline, so dupsyns cannot keep an entry alive forever.
// About 93 bytes per entry (bytesPerEntry), bucket and heap arrays included.
//
// syncache_timer: each bucket keeps the earliest deadline of its entries
// (the seed's sch_nextc). Instead of one callout per bucket there is one
// coarse timer (CoarseTimer, coarse-timer.ts) over an indexed min-heap of the buckets'
// deadlines, so a run visits only due buckets. A due entry with fewer than
// rexmtLimit retransmits is retransmitted and its deadline backed off:
// deadline = now + rexmtInitialMs << rexmits (1 s, 2 s, 4 s, ...); a due
// entry that already had rexmtLimit retransmits is dropped (stale). With the
// defaults an entry sends SYN-ACKs at 0, 1, 3 and 7 s and is dropped at 15 s.
// A bucket deadline is lowered eagerly and raised lazily (when its run
// recomputes it), as in the seed; an early deadline only costs a visit.
//
// Times are uint32 milliseconds (clock value >>> 0) compared wrap-safely with
// ((a - b) | 0) < 0, valid while live deadlines lie within 2^31 ms of now.
//
// Counters (indices from stats.ts) bumped here: added, bucketoverflow,
// cacheoverflow, zonefail, stale, retransmitted (when the timer decides to
// resend; whether the frame left is the engine's synackssent/txdropped).
// dupsyn, completed, reset, badack, unreach are the engine's.
import type { SyncacheConfig } from './config.js';
import { C, SHARD_COUNTER_NAMES } from './stats.js';
import { writeFlowKey } from './flow-key.js';

export const NONE = -1;

/** Bits of SynCache.flags. */
export const EntryFlag = {
  sackPermitted: 1,
  timestamps: 2,
  /** iss is a SYN cookie (the entry can be re-derived from the ACK). */
  cookie: 4,
  /** an ICMP unreachable for our SYN-ACK arrived (syncache_unreach). */
  unreach: 8,
  /** completed; kept while its kernel socket is made, to collect early data. */
  held: 16,
  /** taken only to hold a cookie-completed flow: it knows the flow's key, not its handshake. */
  holdOnly: 32,
} as const;

/** peerWscale value meaning "the peer sent no window-scale option". */
export const NO_WSCALE = 255;

export const EntryState = { free: 0, allocated: 1, linked: 2 } as const;

export type CacheGeometry = Pick<SyncacheConfig, 'hashSize' | 'bucketLimit' | 'cacheLimit' | 'rexmtLimit' | 'rexmtInitialMs'>;

/**
 * Called for an entry during expire(); it may read the entry but must not
 * change the cache. A retransmit callback returns false when it sent
 * nothing (not counted as retransmitted).
 */
export type EntryCallback = (index: number) => unknown;

const { free: FREE, allocated: ALLOCATED, linked: LINKED } = EntryState;

export class SynCache {
  readonly hashSize: number;
  readonly mask: number;
  readonly bucketLimit: number;
  readonly cacheLimit: number;
  readonly rexmtLimit: number;
  readonly rexmtInitialMs: number;
  readonly stats: Float64Array;

  // Entry fields (index i; address words at 4i, MAC bytes at 6i).
  readonly family: Uint8Array;
  /** Peer (source of the SYN) address words, network byte order, IPv4 in word 0. */
  readonly peerAddr: Uint32Array;
  readonly localAddr: Uint32Array;
  readonly peerPort: Uint16Array;
  readonly localPort: Uint16Array;
  readonly peerMac: Uint8Array;
  /** 802.1Q TCI of the SYN, 0 = untagged. */
  readonly vlan: Uint16Array;
  /** Our initial sequence number (random or a cookie). */
  readonly iss: Uint32Array;
  /** The peer's initial sequence number. */
  readonly irs: Uint32Array;
  readonly peerMss: Uint16Array;
  /** The peer's window-scale shift, NO_WSCALE if it sent none. */
  readonly peerWscale: Uint8Array;
  /** EntryFlag bits. */
  readonly flags: Uint8Array;
  /** The peer's latest TSval (ts_recent), echoed in our SYN-ACKs. */
  readonly tsRecent: Uint32Array;
  /** TSval of our latest SYN-ACK. */
  readonly tsval: Uint32Array;
  /** SYN-ACKs sent after the first (timer retransmits and dupsyn resends). */
  readonly rexmits: Uint8Array;
  /** SYN arrival, uint32 ms. */
  readonly arrival: Uint32Array;
  /** Next retransmit (or stale) deadline, uint32 ms. */
  readonly deadline: Uint32Array;
  /** EntryState per entry. */
  readonly state: Uint8Array;
  /** Start of the entry's challenge-ACK window (uint32 ms) and challenge ACKs sent in it (the engine's rate limit). */
  readonly challengeAt: Uint32Array;
  readonly challenges: Uint8Array;

  // Links: read-only outside this class. chain[2i] is the next entry (in the
  // bucket, or on the free list) and chain[2i+1] the entry's flow hash (| 0):
  // side by side so a bucket walk touches one cache line per entry.
  readonly chain: Int32Array;
  readonly entryPrev: Int32Array;
  readonly bucketHead: Int32Array;
  readonly bucketTail: Int32Array;
  readonly bucketCount: Uint16Array;
  /** Earliest deadline in the bucket (valid while the bucket is in the heap). */
  readonly bucketDeadline: Uint32Array;
  private readonly heap: Int32Array;
  private readonly heapPos: Int32Array;
  private heapSize = 0;
  private freeHead = NONE;
  private linked = 0;
  private allocatedCount = 0;

  /** Entry evicted by the last allocate()/relink(), or -1 (what the tests watch). */
  lastEvicted = NONE;
  /** Buckets walked by expire() so far (a run visits only due buckets). */
  bucketRuns = 0;

  constructor(config: CacheGeometry, stats: Float64Array = new Float64Array(SHARD_COUNTER_NAMES.length)) {
    const { hashSize, bucketLimit, cacheLimit, rexmtLimit, rexmtInitialMs } = config;
    if (!Number.isInteger(hashSize) || hashSize < 1 || (hashSize & (hashSize - 1)) !== 0) {
      throw new RangeError(`hashSize must be a power of 2 from 1 to 2^24, got ${hashSize} (use resolveConfig)`);
    }
    if (!Number.isInteger(cacheLimit) || cacheLimit < 1) throw new RangeError(`cacheLimit must be a positive integer, got ${cacheLimit} (use resolveConfig)`);
    if (!Number.isInteger(bucketLimit) || bucketLimit < 1 || bucketLimit > 65535) {
      throw new RangeError(`bucketLimit must be an integer from 1 to 65535, got ${bucketLimit} (use resolveConfig)`);
    }
    if (!Number.isInteger(rexmtInitialMs) || rexmtInitialMs < 1) throw new RangeError(`rexmtInitialMs must be a positive integer, got ${rexmtInitialMs} (use resolveConfig)`);
    if (!Number.isInteger(rexmtLimit) || rexmtLimit < 0 || rexmtLimit > 254) throw new RangeError(`rexmtLimit must be an integer from 0 to 254, got ${rexmtLimit} (use resolveConfig)`);
    if (stats.length < SHARD_COUNTER_NAMES.length) throw new RangeError(`stats must hold ${SHARD_COUNTER_NAMES.length} counters, got ${stats.length}`);
    this.hashSize = hashSize;
    this.mask = hashSize - 1;
    this.bucketLimit = bucketLimit;
    this.cacheLimit = cacheLimit;
    this.rexmtLimit = rexmtLimit;
    this.rexmtInitialMs = rexmtInitialMs;
    this.stats = stats;

    const n = cacheLimit;
    this.family = new Uint8Array(n);
    this.peerAddr = new Uint32Array(n * 4);
    this.localAddr = new Uint32Array(n * 4);
    this.peerPort = new Uint16Array(n);
    this.localPort = new Uint16Array(n);
    this.peerMac = new Uint8Array(n * 6);
    this.vlan = new Uint16Array(n);
    this.iss = new Uint32Array(n);
    this.irs = new Uint32Array(n);
    this.peerMss = new Uint16Array(n);
    this.peerWscale = new Uint8Array(n);
    this.flags = new Uint8Array(n);
    this.tsRecent = new Uint32Array(n);
    this.tsval = new Uint32Array(n);
    this.rexmits = new Uint8Array(n);
    this.arrival = new Uint32Array(n);
    this.deadline = new Uint32Array(n);
    this.state = new Uint8Array(n);
    this.challengeAt = new Uint32Array(n);
    this.challenges = new Uint8Array(n);
    this.chain = new Int32Array(n * 2);
    this.entryPrev = new Int32Array(n);

    this.bucketHead = new Int32Array(hashSize);
    this.bucketTail = new Int32Array(hashSize);
    this.bucketCount = new Uint16Array(hashSize);
    this.bucketDeadline = new Uint32Array(hashSize);
    this.heap = new Int32Array(hashSize);
    this.heapPos = new Int32Array(hashSize);
    this.clear();
  }

  /** Bytes of typed-array storage per entry, bucket and heap arrays included. */
  get bytesPerEntry(): number {
    const arrays = [
      this.family, this.peerAddr, this.localAddr, this.peerPort, this.localPort, this.peerMac, this.vlan,
      this.chain, this.iss, this.irs, this.peerMss, this.peerWscale, this.flags, this.tsRecent, this.tsval,
      this.rexmits, this.arrival, this.deadline, this.state, this.entryPrev, this.challengeAt, this.challenges,
      this.bucketHead, this.bucketTail, this.bucketCount, this.bucketDeadline, this.heap, this.heapPos,
    ];
    let bytes = 0;
    for (const a of arrays) bytes += a.byteLength;
    return bytes / this.cacheLimit;
  }

  /** Entries linked into buckets. */
  get size(): number {
    return this.linked;
  }

  /** Entries taken from the zone (linked or not). */
  get inUse(): number {
    return this.allocatedCount;
  }

  bucketOf(hash: number): number {
    return hash & this.mask;
  }

  /** Entry e's flow hash (uint32). */
  hashOf(e: number): number {
    return this.chain[2 * e + 1] >>> 0;
  }

  /** Drops every entry. */
  clear(): void {
    const n = this.cacheLimit;
    for (let i = 0; i < n; i++) this.chain[2 * i] = i + 1;
    this.chain[2 * (n - 1)] = NONE;
    this.entryPrev.fill(NONE);
    this.state.fill(FREE);
    this.freeHead = 0;
    this.bucketHead.fill(NONE);
    this.bucketTail.fill(NONE);
    this.bucketCount.fill(0);
    this.heapPos.fill(NONE);
    this.heapSize = 0;
    this.linked = 0;
    this.allocatedCount = 0;
    this.lastEvicted = NONE;
  }

  /**
   * The entry for a flow, or -1. Addresses are read from addrWords[at..at+4)
   * and localWords[localAt..localAt+4) (the batch's saddr/daddr, at = row*4).
   */
  lookup(family: number, addrWords: Uint32Array, at: number, localWords: Uint32Array, localAt: number,
    peerPort: number, localPort: number, hash: number): number {
    hash |= 0;
    let e = this.bucketHead[hash & this.mask];
    const chain = this.chain;
    const pa = this.peerAddr;
    const la = this.localAddr;
    while (e !== NONE) {
      if (chain[2 * e + 1] === hash && this.peerPort[e] === peerPort && this.localPort[e] === localPort && this.family[e] === family) {
        const o = e * 4;
        if (pa[o] === addrWords[at] && pa[o + 1] === addrWords[at + 1] && pa[o + 2] === addrWords[at + 2] && pa[o + 3] === addrWords[at + 3]
          && la[o] === localWords[localAt] && la[o + 1] === localWords[localAt + 1]
          && la[o + 2] === localWords[localAt + 2] && la[o + 3] === localWords[localAt + 3]) {
          return e;
        }
      }
      e = chain[2 * e];
    }
    return NONE;
  }

  /**
   * Takes an entry for a new SYN whose flow hashes to `hash`, evicting per
   * the bucket and zone limits; -1 when the zone is full and the bucket is
   * empty. The entry's fields are zeroed except hash; fill them and link().
   * `anyBucket` (for a handshake that completed through its cookie and is to
   * be held): when the zone is full and this bucket has nothing to evict,
   * the oldest entry of the next bucket that has one goes instead (a SYN
   * that still has its cookie to fall back on).
   */
  allocate(hash: number, anyBucket = false): number {
    hash >>>= 0;
    const b = hash & this.mask;
    const s = this.stats;
    this.lastEvicted = NONE;
    if (this.bucketCount[b] >= this.bucketLimit) {
      const victim = this.evictable(b);
      if (victim === NONE) return NONE;
      s[C.bucketoverflow]++;
      this.lastEvicted = victim;
      this.remove(victim);
    } else if (this.freeHead === NONE) {
      s[C.zonefail]++;
      let victim = this.evictable(b);
      for (let k = 1; victim === NONE && anyBucket && k < this.hashSize; k++) victim = this.evictable((b + k) & this.mask);
      if (victim === NONE) return NONE;
      s[C.cacheoverflow]++;
      this.lastEvicted = victim;
      this.remove(victim);
    }
    const e = this.freeHead;
    this.freeHead = this.chain[2 * e];
    this.chain[2 * e] = NONE;
    this.entryPrev[e] = NONE;
    this.state[e] = ALLOCATED;
    this.allocatedCount++;
    this.chain[2 * e + 1] = hash;
    this.family[e] = 0;
    this.vlan[e] = 0;
    this.iss[e] = 0;
    this.irs[e] = 0;
    this.peerMss[e] = 0;
    this.peerWscale[e] = NO_WSCALE;
    this.flags[e] = 0;
    this.tsRecent[e] = 0;
    this.tsval[e] = 0;
    this.rexmits[e] = 0;
    this.challengeAt[e] = 0;
    this.challenges[e] = 0;
    return e;
  }

  /** Copies the flow key (same arguments as lookup) into entry e. */
  setKey(e: number, family: number, addrWords: Uint32Array, at: number, localWords: Uint32Array, localAt: number,
    peerPort: number, localPort: number): void {
    writeFlowKey(this, e, family, localWords, localAt, addrWords, at, localPort, peerPort);
  }

  /**
   * What a new SYN's entry records beyond its key (after allocate() and
   * setKey(), before link()): its 802.1Q tag, our ISS and the peer's, the
   * peer's MSS and window-scale shift (NO_WSCALE: none), EntryFlag bits and
   * the SYN's TSval.
   */
  setSyn(e: number, vlan: number, iss: number, irs: number, peerMss: number, peerWscale: number, flags: number, tsRecent: number): void {
    this.vlan[e] = vlan;
    this.iss[e] = iss;
    this.irs[e] = irs;
    this.peerMss[e] = peerMss;
    this.peerWscale[e] = peerWscale;
    this.flags[e] = flags;
    this.tsRecent[e] = tsRecent;
  }

  /** The peer's latest TSval, to echo (ts_recent). */
  setTsRecent(e: number, tsval: number): void {
    this.tsRecent[e] = tsval;
  }

  /** The TSval of the SYN-ACK just sent for entry e. */
  setTsval(e: number, tsval: number): void {
    this.tsval[e] = tsval;
  }

  /** An ICMP unreachable quoted our SYN-ACK (syncache_unreach's first step). */
  markUnreach(e: number): void {
    this.flags[e] |= EntryFlag.unreach;
  }

  /**
   * Holds a linked entry whose handshake completed (flag held: never
   * evicted) for holdMs: no more SYN-ACKs, and the next run after that drops
   * it as stale unless release() came first. Its bucket's deadline comes
   * down with it, so the timer is not late.
   */
  hold(e: number, now: number, holdMs: number): void {
    if (this.state[e] !== LINKED) throw new RangeError(`hold(${e}): entry is not linked`);
    this.flags[e] |= EntryFlag.held;
    this.rexmits[e] = this.rexmtLimit;
    const d = ((now >>> 0) + holdMs) >>> 0;
    this.deadline[e] = d;
    this.lowerBucketDeadline(this.chain[2 * e + 1] & this.mask, d);
  }

  /** Ends a hold without freeing the entry (its handshake was refused; the peer's retry completes it again). */
  unhold(e: number): void {
    this.flags[e] &= ~EntryFlag.held;
  }

  /**
   * Counts a challenge ACK against entry e's limit: at most `limit` per
   * `windowMs` (uint32 ms, `now` the clock); false when this window's are
   * used up.
   */
  takeChallenge(e: number, now: number, limit: number, windowMs: number): boolean {
    const t = now >>> 0;
    if (this.challenges[e] === 0 || ((t - this.challengeAt[e]) >>> 0) >= windowMs) {
      this.challengeAt[e] = t;
      this.challenges[e] = 0;
    }
    if (this.challenges[e] >= limit) return false;
    this.challenges[e]++;
    return true;
  }

  /** Copies 6 MAC bytes from mac[at..at+6). */
  setPeerMac(e: number, mac: Uint8Array, at: number): void {
    const o = e * 6;
    for (let k = 0; k < 6; k++) this.peerMac[o + k] = mac[at + k];
  }

  /**
   * Inserts an allocated entry at its bucket's head as a new SYN (added):
   * arrival = now, no retransmits, first deadline now + rexmtInitialMs.
   * The SYN-ACK it answers is sent by the caller.
   */
  link(e: number, now: number): void {
    if (this.state[e] !== ALLOCATED) throw new RangeError(`link(${e}): entry is not allocated`);
    const t = now >>> 0;
    this.arrival[e] = t;
    this.rexmits[e] = 0;
    this.deadline[e] = (t + this.rexmtInitialMs) >>> 0;
    this.insertHead(e);
    this.stats[C.added]++;
  }

  /**
   * Puts an unlinked entry back keeping its timers (syncache_expand's
   * reinsert after a failed connection: `aborted` is the engine's). A full
   * bucket evicts its oldest (bucketoverflow); false, the entry left
   * unlinked, if every entry in it is held.
   */
  relink(e: number): boolean {
    if (this.state[e] !== ALLOCATED) throw new RangeError(`relink(${e}): entry is not allocated`);
    const b = this.chain[2 * e + 1] & this.mask;
    this.lastEvicted = NONE;
    if (this.bucketCount[b] >= this.bucketLimit) {
      const victim = this.evictable(b);
      if (victim === NONE) return false;
      this.stats[C.bucketoverflow]++;
      this.lastEvicted = victim;
      this.remove(victim);
    }
    this.insertHead(e);
    return true;
  }

  /**
   * The oldest entry of bucket b a new SYN may evict, or -1: not a held one
   * (its handshake is complete and its socket is being made; it leaves by
   * release() or goes stale), lest a flood throw away the data it collects.
   */
  private evictable(b: number): number {
    let e = this.bucketTail[b];
    while (e !== NONE && (this.flags[e] & EntryFlag.held) !== 0) e = this.entryPrev[e];
    return e;
  }

  /** Takes a linked entry out of its bucket, keeping its fields (LINKED -> ALLOCATED). */
  unlink(e: number): void {
    if (this.state[e] !== LINKED) throw new RangeError(`unlink(${e}): entry is not linked`);
    const b = this.chain[2 * e + 1] & this.mask;
    const p = this.entryPrev[e];
    const n = this.chain[2 * e];
    if (p === NONE) this.bucketHead[b] = n; else this.chain[2 * p] = n;
    if (n === NONE) this.bucketTail[b] = p; else this.entryPrev[n] = p;
    this.chain[2 * e] = NONE;
    this.entryPrev[e] = NONE;
    this.state[e] = ALLOCATED;
    this.linked--;
    if (--this.bucketCount[b] === 0) this.heapRemove(b);
  }

  /** Frees an entry (unlinking it if linked); false if it was already free. */
  remove(e: number): boolean {
    const st = this.state[e];
    if (st === FREE) return false;
    if (st === LINKED) this.unlink(e);
    this.state[e] = FREE;
    this.allocatedCount--;
    this.chain[2 * e] = this.freeHead;
    this.freeHead = e;
    return true;
  }

  /**
   * A duplicate SYN resent our SYN-ACK: as the seed's SYNCACHE_TIMEOUT, it
   * counts as a send (rexmits + 1, so dupsyns cannot keep an entry alive past
   * rexmtLimit) and restarts the timer with the backed-off interval.
   */
  refresh(e: number, now: number): void {
    if (this.state[e] !== LINKED) throw new RangeError(`refresh(${e}): entry is not linked`);
    if (this.rexmits[e] < 255) this.rexmits[e]++;
    const d = (now + this.backoff(this.rexmits[e])) >>> 0;
    this.deadline[e] = d;
    this.lowerBucketDeadline(this.chain[2 * e + 1] & this.mask, d);
  }

  /** Earliest bucket deadline (uint32 ms), -1 when the cache is empty. */
  nextDeadline(): number {
    return this.heapSize === 0 ? NONE : this.bucketDeadline[this.heap[0]];
  }

  /**
   * The timer run: for every bucket whose deadline is due, retransmits due
   * entries (onRetransmit, after rexmits and deadline are updated) and drops
   * those past rexmtLimit (onStale, before the entry is freed). Returns the
   * number of entries handled.
   */
  expire(now: number, onRetransmit: EntryCallback, onStale: EntryCallback): number {
    const t = now >>> 0;
    const s = this.stats;
    let handled = 0;
    while (this.heapSize > 0) {
      const b = this.heap[0];
      if (((t - this.bucketDeadline[b]) | 0) < 0) break;
      this.bucketRuns++;
      let earliest = 0;
      let hasEarliest = false;
      let e = this.bucketHead[b];
      while (e !== NONE) {
        const next = this.chain[2 * e];
        const d = this.deadline[e];
        if (((t - d) | 0) < 0) {
          if (!hasEarliest || ((d - earliest) | 0) < 0) { earliest = d; hasEarliest = true; }
        } else if (this.rexmits[e] >= this.rexmtLimit) {
          handled++;
          s[C.stale]++;
          onStale(e);
          this.remove(e);
        } else {
          handled++;
          const r = ++this.rexmits[e];
          const nd = (t + this.backoff(r)) >>> 0;
          this.deadline[e] = nd;
          if (!hasEarliest || ((nd - earliest) | 0) < 0) { earliest = nd; hasEarliest = true; }
          if (onRetransmit(e) !== false) s[C.retransmitted]++;
        }
        e = next;
      }
      // remove() took an emptied bucket out of the heap already.
      if (this.heapPos[b] !== NONE) {
        this.bucketDeadline[b] = earliest;
        this.siftDown(this.heapPos[b]);
      }
    }
    return handled;
  }

  /**
   * Checks every structural invariant (bucket lists, counts, free list,
   * states, heap); throws an Error naming the first violation. For tests and
   * debugging: it walks the whole cache.
   */
  checkInvariants(): void {
    const fail = (what: string): never => { throw new Error(`SynCache invariant: ${what}`); };
    let linked = 0;
    const seen = new Uint8Array(this.cacheLimit);
    for (let b = 0; b < this.hashSize; b++) {
      let count = 0;
      let prev = NONE;
      let e = this.bucketHead[b];
      let earliest: number | undefined;
      while (e !== NONE) {
        if (e < 0 || e >= this.cacheLimit) fail(`bucket ${b} links to ${e}`);
        if (seen[e]) fail(`entry ${e} reached twice`);
        seen[e] = 1;
        if (this.state[e] !== LINKED) fail(`entry ${e} in bucket ${b} has state ${this.state[e]}`);
        if ((this.chain[2 * e + 1] & this.mask) !== b) fail(`entry ${e} in bucket ${b} hashes to ${this.chain[2 * e + 1] & this.mask}`);
        if (this.entryPrev[e] !== prev) fail(`entry ${e} prev ${this.entryPrev[e]} != ${prev}`);
        const d = this.deadline[e];
        if (earliest === undefined || ((d - earliest) | 0) < 0) earliest = d;
        count++;
        prev = e;
        e = this.chain[2 * e];
      }
      if (this.bucketTail[b] !== prev) fail(`bucket ${b} tail ${this.bucketTail[b]} != ${prev}`);
      if (this.bucketCount[b] !== count) fail(`bucket ${b} count ${this.bucketCount[b]} != ${count}`);
      if (count > this.bucketLimit) fail(`bucket ${b} holds ${count} > bucketLimit`);
      const pos = this.heapPos[b];
      if (count === 0 && pos !== NONE) fail(`empty bucket ${b} in heap`);
      if (count > 0) {
        if (pos === NONE || this.heap[pos] !== b) fail(`bucket ${b} not in heap`);
        // Lazily raised: the bucket deadline may be early, never late.
        if (((earliest! - this.bucketDeadline[b]) | 0) < 0) fail(`bucket ${b} deadline later than entry ${earliest}`);
      }
      linked += count;
    }
    if (linked !== this.linked) fail(`size ${this.linked} != ${linked} linked`);
    let free = 0;
    for (let e = this.freeHead; e !== NONE; e = this.chain[2 * e]) {
      if (seen[e]) fail(`free entry ${e} also linked or reached twice`);
      seen[e] = 1;
      if (this.state[e] !== FREE) fail(`free-list entry ${e} has state ${this.state[e]}`);
      free++;
    }
    let allocated = 0;
    for (let e = 0; e < this.cacheLimit; e++) {
      if (this.state[e] === ALLOCATED) { allocated++; if (seen[e]) fail(`allocated entry ${e} on a list`); } else if (!seen[e]) fail(`entry ${e} lost`);
    }
    if (linked + allocated !== this.allocatedCount) fail(`inUse ${this.allocatedCount} != ${linked + allocated}`);
    if (free + linked + allocated !== this.cacheLimit) fail(`free ${free} + used ${linked + allocated} != cacheLimit`);
    for (let i = 0; i < this.heapSize; i++) {
      if (this.heapPos[this.heap[i]] !== i) fail(`heap position of bucket ${this.heap[i]}`);
      if (i > 0 && this.before(this.heap[i], this.heap[(i - 1) >> 1])) fail(`heap order at ${i}`);
    }
  }

  // Dupsyns can push rexmits past rexmtLimit (the next run drops the entry);
  // the cap keeps every interval far below the 2^31 ms comparison window.
  private backoff(rexmits: number): number {
    return Math.min(this.rexmtInitialMs * 2 ** Math.min(rexmits, 10), 2 ** 30);
  }

  private insertHead(e: number): void {
    const b = this.chain[2 * e + 1] & this.mask;
    const h = this.bucketHead[b];
    this.entryPrev[e] = NONE;
    this.chain[2 * e] = h;
    if (h === NONE) this.bucketTail[b] = e; else this.entryPrev[h] = e;
    this.bucketHead[b] = e;
    this.bucketCount[b]++;
    this.state[e] = LINKED;
    this.linked++;
    this.lowerBucketDeadline(b, this.deadline[e]);
  }

  private lowerBucketDeadline(b: number, d: number): void {
    const pos = this.heapPos[b];
    if (pos === NONE) {
      this.bucketDeadline[b] = d;
      const i = this.heapSize++;
      this.heap[i] = b;
      this.heapPos[b] = i;
      this.siftUp(i);
    } else if (((d - this.bucketDeadline[b]) | 0) < 0) {
      this.bucketDeadline[b] = d;
      this.siftUp(pos);
    }
  }

  private before(a: number, b: number): boolean {
    return ((this.bucketDeadline[a] - this.bucketDeadline[b]) | 0) < 0;
  }

  private heapRemove(b: number): void {
    const pos = this.heapPos[b];
    if (pos === NONE) return;
    this.heapPos[b] = NONE;
    const last = this.heap[--this.heapSize];
    if (pos === this.heapSize) return;
    this.heap[pos] = last;
    this.heapPos[last] = pos;
    this.siftUp(pos);
    this.siftDown(this.heapPos[last]);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const b = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(b, heap[p])) break;
      heap[i] = heap[p];
      this.heapPos[heap[i]] = i;
      i = p;
    }
    heap[i] = b;
    this.heapPos[b] = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = this.heapSize;
    const b = heap[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(heap[c + 1], heap[c])) c++;
      if (!this.before(heap[c], b)) break;
      heap[i] = heap[c];
      this.heapPos[heap[i]] = i;
      i = c;
    }
    heap[i] = b;
    this.heapPos[b] = i;
  }
}
