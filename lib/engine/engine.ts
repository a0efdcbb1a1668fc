// The packet engine of one shard: reads a received batch, decides, writes a
// send batch. This is the seed's syncache_add / _expand / _chkrst / _badack /
// _unreach over rows of typed arrays; no allocation on the SYN path.
//
//   SYN    entry for the flow?  yes: duplicate SYN -> resend the same ISS,
//                                    refresh the timer (dupsyn); the stored
//                                    IRS, peer MAC and address never change
//          syncookies=only      -> SYN-ACK with the native cookie, no state
//          syncookies=on, paused -> the same (see below)
//          otherwise            -> allocate (bucket/zone limits may evict);
//                                  ISS = cookie (on) or random (off);
//                                  no room: cookie (on) or drop (off)
//   ACK    entry?  ack != ISS+1: drop the entry, RST (badack)
//                  seq != IRS+1: dropped, entry kept (badseq)
//                  timestamps fail (below): dropped, entry kept (pawsreject)
//                  else unlink, hand over (completed); refused by the
//                  application: relink (aborted)
//          no entry, but its flow completed earlier in this batch (curl's
//                  data right behind the final ACK): skipped (completedrepeat)
//          no entry: a valid cookie completes (recvcookie) - with 'on' only
//                  while cookies were recently needed (spuriouscookie) -
//                  else failcookie
//   RST    entry and seq == IRS+1: drop (reset); elsewhere in
//          [IRS+1, IRS+1+window]: challenge ACK (RFC 5961 3.2), at most
//          CHALLENGE_ACK_LIMIT per entry per CHALLENGE_ACK_WINDOW_MS
//          (challengeack, challengeacklimited); else ignored (rstignored)
//   ICMP   unreachable quoting our SYN-ACK (seq == ISS): the first marks the
//          entry; another once it has >= 3 retransmits drops it (unreach)
//   timer  SynCache.expire(): retransmit with backoff, then stale
//
// The pause (FreeBSD's syncache_pause, which came after the seed): with
// syncookies=on, the first SYN that finds the zone exhausted (zonefail)
// still evicts and takes an entry, and from then on new flows get cookies
// without entries for config.pauseMs (15 s), as if syncookies were 'only'.
// A cache that a flood keeps full only churns: every SYN would evict
// another flood SYN's entry, and each entry costs a heap insert and an
// eviction. Lookups go on, so a flow that has an entry keeps it (a
// duplicate SYN is answered from it; its ACK completes through it), but the
// timer sends no retransmits while paused: those entries' clients resend
// their SYNs as they would to cookies, and a flood's 15,000 entries would
// otherwise all retransmit at 1, 3 and 7 s. A zone that runs out again
// within a pause's length of the last pause ending doubles the next one, up
// to 2^6 x pauseMs (16 minutes), as in FreeBSD. pauseMs 0 never pauses:
// every SYN evicts, as in the seed.
//
// Our timestamps are clock milliseconds plus a random offset (even, as
// TCP_TIMESTAMP wants bit 0 clear for millisecond clocks), so any later
// moment's value is known without state: tsNow().
//
// Exactness, as the kernels are exact (FreeBSD's syncache_chkrst and
// syncache_expand, Linux's tcp_check_req):
// - A duplicate SYN is a retransmit: it refreshes the timer and resends the
//   SYN-ACK to the stored peer, acking the stored IRS. A SYN with another
//   ISN (spoofed, or a client that restarted) rewrites nothing: a real
//   client answers that SYN-ACK with a RST at exactly IRS+1, which drops the
//   entry, and its next SYN starts afresh. Only a SYN with the stored ISN
//   updates ts_recent.
// - Cookies while they were recently needed (FreeBSD's sch_last_overflow,
//   Linux's tcp_synq_no_recent_overflow): with 'on' every ISS is a cookie, so
//   an ACK whose entry is gone (stale, reset, evicted) would complete
//   through it; that is accepted only within two secret rotations (a
//   cookie's whole life) of the cache last refusing or evicting for a new
//   SYN, or of the pause. 'only' needs no recent overflow: always.
// - Timestamps (RFC 7323 5.3, PAWS): an entry that negotiated them wants
//   them in the ACK, its TSecr 0 (broken stacks, as FreeBSD allows) or one
//   of ours since the SYN, its TSval not older than the SYN's; a cookie ACK's
//   TSecr, if not 0, no older than a cookie lives and not in the future.
import { randomFillSync, randomInt } from 'node:crypto';
import { addon, type Connection, type CookieMode } from '../native/addon.js';
import { BatchView } from '../native/batch.js';
import { formatAddress } from '../native/address.js';
import type { Clock } from './clock.js';
import type { SyncacheConfig } from './config.js';
import { EntryFlag, NO_WSCALE, NONE, SynCache } from './syncache.js';
import { C } from './stats.js';
import { HeldData } from './held-data.js';
import { EPOCH_SKEW_MS } from './fleet-key.js';
import { type FlowKeyColumns, writeFlowKey } from './flow-key.js';

const K = addon.constants.kinds;
const OPT = addon.constants.optFlags;
const VERDICT = addon.constants.cookieVerdicts;

/** A completed handshake, with every parameter both sides agreed on. */
export interface Handshake extends Connection {
  /** Our timestamp clock's value when the ACK was handled (TCP_TIMESTAMP for a handoff). */
  tsNow: number;
  /** The peer's raw window in the ACK. */
  window: number;
  /** Completed through a SYN cookie, without a cache entry. */
  viaCookie: boolean;
  /** SYN-ACK retransmits it took. */
  retransmits: number;
  /** When the SYN and the ACK arrived, ms since the epoch. */
  synTime: number;
  ackTime: number;
  /** Bytes of data that came with the final ACK. */
  payloadLength: number;
  /** The peer's MAC and the 802.1Q tag its frames carried. */
  peerMac: string;
  vlan: number;
  /** The data that came with the final ACK (null if none, or it was not kept). */
  payload: Uint8Array | null;
  /** With EngineOptions.hold: the held entry (pass to release()), else -1. */
  hold: number;
}

/** Returns false to refuse the connection (the entry is kept and retried). */
export type HandshakeSink = (handshake: Handshake) => boolean | void;

export interface EngineOptions {
  config: SyncacheConfig;
  clock: Clock;
  stats: Float64Array;
  /** Sends rows [0, count) of the send batch; returns frames that left. */
  send: (count: number) => number;
  onHandshake: HandshakeSink;
  /** The send batch (default: a new one). */
  tx?: BatchView;
  /**
   * Keep each completed handshake's entry (flagged held) until release(), and
   * collect the data that follows the final ACK meanwhile (takeHeldData), so
   * a kernel socket made from it loses nothing. With 'only' the cache holds
   * these entries alone (a SYN still leaves no state).
   */
  hold?: boolean;
  /**
   * One of a fleet's hosts (shared cookie secrets): our TSval is the clock's
   * own ms, without this host's random offset, so a cookie ACK's TSecr from
   * another host's SYN-ACK reads right here (clocks within EPOCH_SKEW_MS).
   */
  fleetTimestamps?: boolean;
  /**
   * Our timestamps' offset (uint32; default random): one drawn per
   * Responder lets every shard and the XDP door in front of them read one
   * clock, so a SYN-ACK one of them sent and an ACK another sees agree.
   * Ignored with fleetTimestamps.
   */
  tsOffset?: number;
}

/** Our timestamp clock at clock ms `now` with offset `offset` (uint32, ms, bit 0 clear). */
export function timestampAt(now: number, offset: number): number {
  return ((Math.floor(now) + offset) & ~1) >>> 0;
}

/** How long a held entry may wait for release() before it goes stale. */
const HOLD_MS = 10_000;

/** Challenge ACKs per entry per window (FreeBSD's net.inet.tcp.ack_war_cnt and ack_war_timewindow). */
export const CHALLENGE_ACK_LIMIT = 5;
export const CHALLENGE_ACK_WINDOW_MS = 1000;

/** How often a pause may double (FreeBSD: TCP_SYNCACHE_MAX_BACKOFF). */
export const PAUSE_MAX_BACKOFF = 6;

const RANDOM_POOL = 4096;

export class SynEngine {
  readonly cache: SynCache | null;
  readonly tx: BatchView;
  /** The send batch's columns by the flow's ends (we send from local to peer). */
  private readonly txKey: FlowKeyColumns;
  private txCount = 0;
  private readonly config: SyncacheConfig;
  private readonly clock: Clock;
  private readonly stats: Float64Array;
  private readonly sendRows: (count: number) => number;
  private readonly onHandshake: HandshakeSink;
  private readonly mode: CookieMode;
  private readonly tsOffset: number;
  /** How far ahead of ours another host's TSval may be (a fleet's clock skew). */
  private readonly tsSkew: number;
  private readonly random = new Uint32Array(RANDOM_POOL);
  private randomAt = RANDOM_POOL;
  private readonly capacity: number;
  private readonly hold: boolean;
  /** The clock, read once per batch or timer run. */
  private now = 0;
  /** Until when new flows get cookies without entries (clock ms; see the pause above). */
  private pausedUntil = -Infinity;
  private pauseBackoff = 0;
  /** When cookies were last needed: the cache refused or evicted for a new SYN, or the pause answered one (clock ms). */
  private lastOverflow = -Infinity;
  /** Rows of the batch being handled that completed a handshake (see repeatOfCompleted). */
  private readonly completedRows: Int32Array;
  private completedCount = 0;
  /** Data behind the final ACKs of held entries, until their sockets take it. */
  private readonly held: HeldData;
  // While paused, due entries back off and go stale on schedule but send
  // nothing: a client's own SYN retransmit is answered from its entry
  // (dupsyn), and a flood's worth of entries made just before the pause
  // would otherwise all retransmit at 1, 3 and 7 s.
  private readonly onRetransmit = (e: number): boolean => {
    if (this.now < this.pausedUntil) return false;
    this.resendSynAck(e);
    return true;
  };
  private readonly onStale = (e: number): void => { this.held.forget(e); };

  constructor(options: EngineOptions) {
    this.config = options.config;
    this.clock = options.clock;
    this.stats = options.stats;
    this.sendRows = options.send;
    this.onHandshake = options.onHandshake;
    this.tx = options.tx ?? new BatchView();
    const tx = this.tx;
    this.txKey = { family: tx.family, localAddr: tx.saddr, peerAddr: tx.daddr, localPort: tx.sport, peerPort: tx.dport };
    this.capacity = addon.batchLayout.capacity;
    this.completedRows = new Int32Array(this.capacity);
    this.mode = options.config.syncookies;
    // 'only' keeps no state for SYNs; with hold, a cache still keeps each
    // completed flow until its socket exists, so the data right behind its
    // final ACK is not lost (the peer would resend it only after its RTO).
    this.hold = options.hold === true;
    this.cache = this.mode === 'only' && !this.hold ? null : new SynCache(options.config, options.stats);
    this.held = new HeldData(options.config.window, options.config.holdLimit, options.stats);
    this.tsOffset = options.fleetTimestamps === true ? 0 : (options.tsOffset ?? randomInt(0, 2 ** 32)) >>> 0;
    this.tsSkew = options.fleetTimestamps === true ? EPOCH_SKEW_MS : 0;
  }

  /** Our timestamp clock now (uint32, ms, bit 0 clear). */
  tsNow(): number {
    return this.tsAt(this.clock.now());
  }

  private tsAt(now: number): number {
    return timestampAt(now, this.tsOffset);
  }

  /** Handles rows [0, count) of a received batch; sends every response. */
  handle(rx: BatchView, count: number): void {
    // One clock read per batch: the rows of a batch arrived together.
    this.now = this.clock.now();
    this.completedCount = 0;
    const kind = rx.kind;
    for (let i = 0; i < count; i++) {
      const k = kind[i];
      if (k === K.syn) this.syn(rx, i);
      else if (k === K.ack) this.ack(rx, i);
      else if (k === K.rst) this.rst(rx, i);
      else if (k === K.unreach) this.unreach(rx, i);
    }
    this.flush();
  }

  /** The timer run: retransmits and stale entries, then sends. */
  expire(): void {
    if (this.cache === null) return;
    this.now = this.clock.now();
    this.cache.expire(this.now, this.onRetransmit, this.onStale);
    this.flush();
  }

  /** Sends what is queued. */
  flush(): void {
    if (this.txCount === 0) return;
    const count = this.txCount;
    this.txCount = 0;
    const sent = this.sendRows(count);
    if (sent < count) this.stats[C.txdropped] += count - sent;
  }

  private lookup(rx: BatchView, i: number): number {
    if (this.cache === null) return NONE;
    return this.cache.lookup(rx.family[i], rx.saddr, i * 4, rx.daddr, i * 4, rx.sport[i], rx.dport[i], rx.hash[i]);
  }

  private syn(rx: BatchView, i: number): void {
    const s = this.stats;
    const cache = this.cache;
    const cookieMade = rx.cookieState[i] === VERDICT.made;
    if (this.completedCount > 0 && this.repeatOfCompleted(rx, i, true)) { s[C.completedrepeat]++; return; }
    if (cache === null || this.mode === 'only') {
      // 'only' keeps entries solely for completed flows waiting for their
      // socket (hold): the same flow's SYN again changes nothing there.
      if (cache !== null && cache.size > 0 && this.lookup(rx, i) !== NONE) { s[C.dupsyn]++; return; }
      if (!cookieMade) { s[C.dropped]++; return; }
      this.synAckFromRow(rx, i, rx.cookie[i]);
      s[C.sendcookie]++;
      return;
    }
    const now = this.now;
    let e = cache.lookup(rx.family[i], rx.saddr, i * 4, rx.daddr, i * 4, rx.sport[i], rx.dport[i], rx.hash[i]);
    if (e !== NONE) {
      s[C.dupsyn]++;
      // A completed flow waiting for its socket: its SYN-ACK was answered
      // already, and a new IRS would throw off the data it collects.
      if ((cache.flags[e] & EntryFlag.held) !== 0) return;
      // A retransmit, whatever its ISN: the stored IRS and peer stay (see
      // the header). Only the flow's own SYN again may move ts_recent on.
      if (rx.seq[i] === cache.irs[e] && (rx.optFlags[i] & OPT.timestamps) !== 0
        && ((rx.tsval[i] - cache.tsRecent[e]) | 0) >= 0) cache.setTsRecent(e, rx.tsval[i]);
      cache.refresh(e, now);
      this.resendSynAck(e);
      return;
    }
    if (this.mode === 'on' && cookieMade && now < this.pausedUntil) {
      this.lastOverflow = now;
      this.synAckFromRow(rx, i, rx.cookie[i]);
      s[C.sendcookie]++;
      return;
    }
    const zoneFails = s[C.zonefail];
    const bucketOverflows = s[C.bucketoverflow];
    e = cache.allocate(rx.hash[i]);
    if (e === NONE || s[C.zonefail] !== zoneFails || s[C.bucketoverflow] !== bucketOverflows) this.lastOverflow = now;
    if (s[C.zonefail] !== zoneFails && this.mode === 'on' && this.config.pauseMs > 0) this.pause(now);
    if (e === NONE) {
      if (this.mode === 'on' && cookieMade) {
        this.synAckFromRow(rx, i, rx.cookie[i]);
        s[C.sendcookie]++;
      } else {
        s[C.dropped]++;
      }
      return;
    }
    const useCookie = this.mode === 'on' && cookieMade;
    const iss = useCookie ? rx.cookie[i] : this.randomIss();
    cache.setKey(e, rx.family[i], rx.saddr, i * 4, rx.daddr, i * 4, rx.sport[i], rx.dport[i]);
    cache.setPeerMac(e, rx.mac, i * 6);
    const opt = rx.optFlags[i];
    let flags = useCookie ? EntryFlag.cookie : 0;
    if ((opt & OPT.sackPermitted) !== 0) flags |= EntryFlag.sackPermitted;
    if ((opt & OPT.timestamps) !== 0) flags |= EntryFlag.timestamps;
    cache.setSyn(e, rx.vlan[i], iss, rx.seq[i], (opt & OPT.mss) !== 0 ? rx.mss[i] : this.defaultMss(rx.family[i]),
      (opt & OPT.wscale) !== 0 ? rx.wscale[i] : NO_WSCALE, flags, (opt & OPT.timestamps) !== 0 ? rx.tsval[i] : 0);
    cache.link(e, now);
    if (useCookie) s[C.sendcookie]++;
    this.resendSynAck(e);
  }

  /** Whether new flows get cookies without entries now (the pause). */
  get paused(): boolean {
    return this.clock.now() < this.pausedUntil;
  }

  /**
   * When the timer must run next (uint32 clock ms, as SynCache.nextDeadline),
   * or -1: the cache's earliest deadline, or the pause's end if that comes
   * first. The end of a pause changes nothing in the cache, but the XDP
   * door, which answers every SYN itself while paused, hears of it only
   * from the shard, after a drain or a tick: with the end as a deadline the
   * tick comes on time even when nothing reaches userspace.
   */
  nextDeadline(): number {
    const due = this.cache === null ? NONE : this.cache.nextDeadline();
    if (!this.paused) return due;
    const end = Math.ceil(this.pausedUntil) >>> 0;
    return due === NONE || ((end - due) | 0) < 0 ? end : due;
  }

  /** The zone ran out: cookies only for a while (FreeBSD's syncache_pause). */
  private pause(now: number): void {
    if (now < this.pausedUntil) return;
    // A new overflow within the last pause's length of its end extends the attack.
    const first = this.config.pauseMs;
    let length = first * 2 ** this.pauseBackoff;
    if (now < this.pausedUntil + length) {
      if (this.pauseBackoff < PAUSE_MAX_BACKOFF) {
        length *= 2;
        this.pauseBackoff++;
      }
    } else {
      length = first;
      this.pauseBackoff = 0;
    }
    this.pausedUntil = now + length;
    this.stats[C.pauses]++;
  }

  private ack(rx: BatchView, i: number): void {
    const s = this.stats;
    const cache = this.cache;
    const e = this.lookup(rx, i);
    if (e !== NONE && cache !== null) {
      if ((cache.flags[e] & EntryFlag.held) !== 0) {
        this.collect(e, rx, i);
        return;
      }
      if (rx.ack[i] !== ((cache.iss[e] + 1) >>> 0)) {
        s[C.badack]++;
        this.rstForRow(rx, i);
        cache.remove(e);
        return;
      }
      // The first segment after our SYN-ACK starts at IRS+1 (a cookie's MAC
      // fixes the same); a later one means what came before it was lost,
      // and the peer resends that.
      if (rx.seq[i] !== ((cache.irs[e] + 1) >>> 0)) { s[C.badseq]++; return; }
      if ((cache.flags[e] & EntryFlag.timestamps) !== 0) {
        if (!this.entryTimestampsOk(e, rx, i)) { s[C.pawsreject]++; return; }
        cache.setTsRecent(e, rx.tsval[i]);
      }
      if (this.hold) {
        const handshake = this.handshake(rx, i, e, e);
        this.holdEntry(e, rx, i);
        const accepted = this.onHandshake(handshake) !== false;
        if (accepted) {
          s[C.completed]++;
          this.completedRows[this.completedCount++] = i;
        } else {
          s[C.aborted]++;
          cache.unhold(e);
          this.held.forget(e); // the retry collects it again
        }
        return;
      }
      cache.unlink(e);
      const accepted = this.onHandshake(this.handshake(rx, i, e, NONE)) !== false;
      if (accepted) {
        s[C.completed]++;
        this.completedRows[this.completedCount++] = i;
        cache.remove(e);
      } else {
        s[C.aborted]++;
        if (!cache.relink(e)) cache.remove(e);
      }
      return;
    }
    if (this.completedCount > 0 && this.repeatOfCompleted(rx, i, false)) { s[C.completedrepeat]++; return; }
    if (this.mode === 'off') { s[C.ackunknown]++; return; }
    if (rx.cookieState[i] !== VERDICT.valid) { s[C.failcookie]++; return; }
    if (this.mode === 'on' && !this.cookiesRecentlyNeeded()) { s[C.spuriouscookie]++; return; }
    if (!this.cookieTimestampsOk(rx, i)) { s[C.pawsreject]++; return; }
    const held = this.hold ? this.entryFromCookie(rx, i) : NONE;
    const accepted = this.onHandshake(this.handshake(rx, i, NONE, held)) !== false;
    if (accepted) {
      s[C.recvcookie]++;
      s[C.completed]++;
      this.completedRows[this.completedCount++] = i;
    } else {
      s[C.aborted]++;
      if (held !== NONE) {
        this.held.forget(held);
        (cache as SynCache).remove(held);
      }
    }
  }

  /**
   * Whether row i belongs to a flow that completed earlier in this batch (its
   * data, or its ACK again): that flow is reported, and the caller marks it
   * so that later batches never see it (Shard.mark); within the batch, this
   * keeps it from completing twice. A SYN belongs to it only with the
   * flow's own ISN (another is a new connection on the 4-tuple).
   */
  private repeatOfCompleted(rx: BatchView, i: number, syn: boolean): boolean {
    const hash = rx.hash[i];
    const sa = rx.saddr;
    const da = rx.daddr;
    const io = i * 4;
    for (let k = 0; k < this.completedCount; k++) {
      const j = this.completedRows[k];
      const jo = j * 4;
      if (rx.hash[j] !== hash || rx.sport[j] !== rx.sport[i] || rx.dport[j] !== rx.dport[i] || rx.family[j] !== rx.family[i]) continue;
      if (sa[jo] !== sa[io] || sa[jo + 1] !== sa[io + 1] || sa[jo + 2] !== sa[io + 2] || sa[jo + 3] !== sa[io + 3]) continue;
      if (da[jo] !== da[io] || da[jo + 1] !== da[io + 1] || da[jo + 2] !== da[io + 2] || da[jo + 3] !== da[io + 3]) continue;
      return !syn || rx.seq[i] === ((rx.seq[j] - 1) >>> 0);
    }
    return false;
  }

  /** With 'on': the cache refused or evicted for a new SYN, or paused, within a cookie's life (two rotations). */
  private cookiesRecentlyNeeded(): boolean {
    return this.now < this.pausedUntil || this.now - this.lastOverflow <= 2 * this.config.cookieRotateMs;
  }

  /** RFC 7323 for the final ACK of an entry that negotiated timestamps (see the header). */
  private entryTimestampsOk(e: number, rx: BatchView, i: number): boolean {
    if ((rx.optFlags[i] & OPT.timestamps) === 0) return false;
    const cache = this.cache as SynCache;
    const tsecr = rx.tsecr[i];
    if (tsecr !== 0) {
      const since = this.tsAt(cache.arrival[e]);
      if (((tsecr - since) >>> 0) > ((this.tsAt(this.now) - since) >>> 0)) return false;
    }
    return ((rx.tsval[i] - cache.tsRecent[e]) | 0) >= 0;
  }

  /**
   * A cookie ACK's TSecr, if any: one of ours from no longer ago than a
   * cookie lives (in a fleet, another host's, whose clock may be up to
   * EPOCH_SKEW_MS ahead of ours).
   */
  private cookieTimestampsOk(rx: BatchView, i: number): boolean {
    if ((rx.optFlags[i] & OPT.timestamps) === 0 || rx.tsecr[i] === 0) return true;
    return ((this.tsAt(this.now) + this.tsSkew - rx.tsecr[i]) >>> 0) <= 2 * this.config.cookieRotateMs + this.tsSkew;
  }

  /**
   * Ends a hold: the kernel socket exists (or will never be made). `iss`
   * guards against an entry that went stale and was reused meanwhile.
   */
  release(e: number, iss: number): boolean {
    if (!this.holds(e, iss)) return false;
    this.held.forget(e);
    return (this.cache as SynCache).remove(e);
  }

  /**
   * Ends a hold whose socket could not be made this time (a full map, a
   * 4-tuple still taken): the entry stays, no longer held, until it would
   * have gone stale, so the peer's retransmit completes it again - as a
   * refused handshake's does. Its collected data goes (the peer resends it).
   * Without the entry that retransmit would meet a cookie check that, with
   * syncookies 'on' and no recent need for cookies, drops it. An entry taken
   * only to hold a cookie's flow (entryFromCookie) knows nothing of the
   * handshake but its key: it goes, and the retransmit completes through
   * its cookie again, as the first time (cookies were needed moments ago).
   */
  retry(e: number, iss: number): boolean {
    if (!this.holds(e, iss)) return false;
    this.held.forget(e);
    const cache = this.cache as SynCache;
    if ((cache.flags[e] & EntryFlag.holdOnly) !== 0) cache.remove(e);
    else cache.unhold(e);
    return true;
  }

  /**
   * The data of a held flow collected since the last take (at first: from
   * the final ACK on), in order, with the sequence number of its first byte;
   * what arrives later is collected from where this ends. Undefined when
   * entry e no longer holds that flow (it went stale, and the entry may hold
   * another flow's data now).
   */
  takeHeldData(e: number, iss: number): { data: Uint8Array[]; seq: number } | undefined {
    if (!this.holds(e, iss)) return undefined;
    return this.held.take(e, ((this.cache as SynCache).irs[e] + 1) >>> 0);
  }

  /** True if entry e is held for the flow whose ISS is `iss`. */
  private holds(e: number, iss: number): boolean {
    const cache = this.cache;
    if (cache === null || e < 0 || e >= cache.cacheLimit) return false;
    return (cache.flags[e] & EntryFlag.held) !== 0 && cache.iss[e] === iss >>> 0;
  }

  private holdEntry(e: number, rx: BatchView, i: number): void {
    (this.cache as SynCache).hold(e, this.now, HOLD_MS);
    this.held.forget(e);
    this.collect(e, rx, i);
  }

  /** A held entry for a flow that completed through its cookie. */
  private entryFromCookie(rx: BatchView, i: number): number {
    const cache = this.cache as SynCache;
    // Under a flood its own bucket may have nothing to give: then another's
    // oldest SYN goes, or the data behind this ACK would be lost.
    const e = cache.allocate(rx.hash[i], true);
    if (e === NONE) return NONE;
    cache.setKey(e, rx.family[i], rx.saddr, i * 4, rx.daddr, i * 4, rx.sport[i], rx.dport[i]);
    // Only what the hold needs: the handshake itself comes from the row.
    cache.setSyn(e, 0, rx.cookie[i], (rx.seq[i] - 1) >>> 0, 0, NO_WSCALE, EntryFlag.cookie | EntryFlag.holdOnly, 0);
    cache.link(e, this.now);
    this.holdEntry(e, rx, i);
    return e;
  }

  /** Bytes held for the socket of a flow whose handshake completed (all flows). */
  get heldBytes(): number {
    return this.held.bytes;
  }

  /** The segment's data, for held entry e (see HeldData.collect). */
  private collect(e: number, rx: BatchView, i: number): void {
    const length = rx.payloadLength[i];
    const at = rx.payloadOffset[i];
    if (length === 0 || at === BatchView.noPayload) return;
    this.held.collect(e, ((this.cache as SynCache).irs[e] + 1) >>> 0, rx.seq[i], rx.payload.subarray(at, at + length));
  }

  private rst(rx: BatchView, i: number): void {
    const e = this.lookup(rx, i);
    const cache = this.cache;
    if (e === NONE || cache === null) { this.stats[C.rstignored]++; return; }
    // syncache_chkrst: in window means IRS+1 <= seq <= IRS+1+our window;
    // only exactly IRS+1 resets (RFC 5961 3.2), the rest of the window
    // gets a challenge ACK, which a real peer answers with that RST.
    const offset = (rx.seq[i] - ((cache.irs[e] + 1) >>> 0)) >>> 0;
    if (offset === 0) {
      this.stats[C.reset]++;
      cache.remove(e);
    } else if (offset > this.config.window) {
      this.stats[C.rstignored]++;
    } else if (cache.takeChallenge(e, this.now, CHALLENGE_ACK_LIMIT, CHALLENGE_ACK_WINDOW_MS)) {
      this.challengeAck(e);
    } else {
      this.stats[C.challengeacklimited]++;
    }
  }

  private unreach(rx: BatchView, i: number): void {
    const e = this.lookup(rx, i);
    const cache = this.cache;
    if (e === NONE || cache === null || rx.seq[i] !== cache.iss[e]) { this.stats[C.unreachignored]++; return; }
    // syncache_unreach: the first one only marks; a later one drops the
    // entry once it has been retransmitted enough that the path looks dead.
    if ((cache.flags[e] & EntryFlag.unreach) === 0 || cache.rexmits[e] < 3) {
      cache.markUnreach(e);
      this.stats[C.unreachmarked]++;
      return;
    }
    this.stats[C.unreach]++;
    cache.remove(e);
  }

  private randomIss(): number {
    if (this.randomAt === RANDOM_POOL) {
      randomFillSync(this.random);
      this.randomAt = 0;
    }
    return this.random[this.randomAt++];
  }

  private nextRow(): number {
    if (this.txCount === this.capacity) this.flush();
    return this.txCount++;
  }

  private ourMss(family: number): number {
    return family === 6 ? this.config.mss6 : this.config.mss;
  }

  /** The peer's MSS when its SYN had no MSS option (RFC 9293: 536, IPv6 1220), as the cookie decodes it. */
  private defaultMss(family: number): number {
    return family === 6 ? addon.cookie.defaultMss6 : addon.cookie.defaultMss;
  }

  /** SYN-ACK for a cache entry (first send, dupsyn and retransmits). */
  private resendSynAck(e: number): void {
    const cache = this.cache as SynCache;
    const r = this.rowToEntryPeer(e);
    const flags = cache.flags[e];
    const ts = this.synAckBody(r, cache.family[e], cache.iss[e], cache.irs[e], (flags & EntryFlag.sackPermitted) !== 0,
      cache.peerWscale[e] !== NO_WSCALE, (flags & EntryFlag.timestamps) !== 0, cache.tsRecent[e]);
    if (ts !== NONE) cache.setTsval(e, ts);
  }

  /** RFC 5961's challenge ACK from entry e: <SEQ=ISS+1><ACK=IRS+1><CTL=ACK>. */
  private challengeAck(e: number): void {
    const cache = this.cache as SynCache;
    const tx = this.tx;
    const r = this.rowToEntryPeer(e);
    tx.kind[r] = K.sendAck;
    tx.seq[r] = (cache.iss[e] + 1) >>> 0;
    tx.ack[r] = (cache.irs[e] + 1) >>> 0;
    tx.window[r] = this.config.window;
    if ((cache.flags[e] & EntryFlag.timestamps) !== 0) {
      tx.optFlags[r] = OPT.timestamps;
      tx.tsval[r] = this.tsAt(this.now);
      tx.tsecr[r] = cache.tsRecent[e];
    } else {
      tx.optFlags[r] = 0;
    }
    this.stats[C.challengeack]++;
  }

  /** A send row addressed from entry e's local end to its stored peer (MAC and 802.1Q tag too). */
  private rowToEntryPeer(e: number): number {
    const cache = this.cache as SynCache;
    return this.addressedRow(cache.family[e], cache.localAddr, cache.peerAddr, e * 4, cache.localPort[e], cache.peerPort[e],
      cache.peerMac, e * 6, cache.vlan[e]);
  }

  /** A send row answering received row i: its addresses and ports turned around, back to its MAC and 802.1Q tag. */
  private rowBackTo(rx: BatchView, i: number): number {
    return this.addressedRow(rx.family[i], rx.daddr, rx.saddr, i * 4, rx.dport[i], rx.sport[i], rx.mac, i * 6, rx.vlan[i]);
  }

  /** The next send row, from `local` to `remote` (address words at `at`) and to the MAC at mac[macAt..macAt+6). */
  private addressedRow(family: number, local: Uint32Array, remote: Uint32Array, at: number, localPort: number, remotePort: number,
    mac: Uint8Array, macAt: number, vlan: number): number {
    const tx = this.tx;
    const r = this.nextRow();
    writeFlowKey(this.txKey, r, family, local, at, remote, at, localPort, remotePort);
    for (let k = 0; k < 6; k++) tx.mac[r * 6 + k] = mac[macAt + k];
    tx.vlan[r] = vlan;
    return r;
  }

  /** SYN-ACK straight from a SYN row (cookie, no state). */
  private synAckFromRow(rx: BatchView, i: number, iss: number): void {
    const r = this.rowBackTo(rx, i);
    const peer = rx.optFlags[i];
    this.synAckBody(r, rx.family[i], iss, rx.seq[i], (peer & OPT.sackPermitted) !== 0,
      (peer & OPT.wscale) !== 0, (peer & OPT.timestamps) !== 0, rx.tsval[i]);
  }

  /**
   * The SYN-ACK itself in send row r (addresses already there): seq ISS,
   * ack IRS+1, our window and MSS, and the options the peer offered. Returns
   * the TSval sent, or -1 without timestamps.
   */
  private synAckBody(r: number, family: number, iss: number, irs: number, sack: boolean, wscale: boolean,
    timestamps: boolean, tsecr: number): number {
    const tx = this.tx;
    tx.kind[r] = K.synAck;
    tx.seq[r] = iss;
    tx.ack[r] = (irs + 1) >>> 0;
    tx.window[r] = this.config.window;
    tx.mss[r] = this.ourMss(family);
    let opt = OPT.mss;
    if (sack) opt |= OPT.sackPermitted;
    if (wscale) {
      opt |= OPT.wscale;
      tx.wscale[r] = this.config.windowScale;
    }
    let ts = NONE;
    if (timestamps) {
      opt |= OPT.timestamps;
      ts = this.tsAt(this.now);
      tx.tsval[r] = ts;
      tx.tsecr[r] = tsecr;
    }
    tx.optFlags[r] = opt;
    this.stats[C.synackssent]++;
    return ts;
  }

  /** RST answering a row (seq = its ACK field, RFC 793). */
  private rstForRow(rx: BatchView, i: number): void {
    const tx = this.tx;
    const r = this.rowBackTo(rx, i);
    tx.kind[r] = K.sendRst;
    tx.seq[r] = rx.ack[i];
    tx.ack[r] = 0;
    tx.window[r] = 0;
    tx.optFlags[r] = 0;
    this.stats[C.rstssent]++;
  }

  /**
   * The handshake completed by row i's ACK: what was agreed comes from cache
   * entry e, or with e = -1 from the row itself (a cookie ACK: its fields
   * and the cookie's MSS). `hold`: the entry held for it, or -1.
   */
  private handshake(rx: BatchView, i: number, e: number, hold: number): Handshake {
    const cache = this.cache as SynCache;
    const fromEntry = e !== NONE;
    const opt = rx.optFlags[i];
    const flags = fromEntry ? cache.flags[e] : 0;
    const family = (fromEntry ? cache.family[e] : rx.family[i]) === 6 ? 6 : 4;
    const ts = fromEntry ? (flags & EntryFlag.timestamps) !== 0 : (opt & OPT.timestamps) !== 0;
    const peerWscale = fromEntry ? cache.peerWscale[e] : (opt & OPT.wscale) !== 0 ? rx.wscale[i] : NO_WSCALE;
    const wscale = peerWscale === NO_WSCALE ? -1 : peerWscale;
    const ackTime = rx.time[i] || Date.now();
    const tsNow = this.tsAt(this.now);
    // A cookie's SYN is dated by our TSval echoed back; without timestamps it is unknown.
    const ageMs = fromEntry ? ((Math.floor(this.now) >>> 0) - cache.arrival[e]) >>> 0 : ts ? (tsNow - rx.tsecr[i]) >>> 0 : 0;
    return {
      family,
      localAddress: formatAddress(fromEntry ? cache.localAddr : rx.daddr, (fromEntry ? e : i) * 4, family),
      localPort: fromEntry ? cache.localPort[e] : rx.dport[i],
      remoteAddress: formatAddress(fromEntry ? cache.peerAddr : rx.saddr, (fromEntry ? e : i) * 4, family),
      remotePort: fromEntry ? cache.peerPort[e] : rx.sport[i],
      iss: fromEntry ? cache.iss[e] : rx.cookie[i],
      irs: fromEntry ? cache.irs[e] : (rx.seq[i] - 1) >>> 0,
      mss: fromEntry ? cache.peerMss[e] : (opt & OPT.mss) !== 0 ? rx.mss[i] : this.defaultMss(family),
      wscale,
      ourWscale: wscale < 0 ? -1 : this.config.windowScale,
      sackPermitted: fromEntry ? (flags & EntryFlag.sackPermitted) !== 0 : (opt & OPT.sackPermitted) !== 0,
      timestamps: !ts ? null : fromEntry ? { peerTsval: cache.tsRecent[e], ourTsval: cache.tsval[e] } : { peerTsval: rx.tsval[i], ourTsval: rx.tsecr[i] },
      tsNow,
      window: rx.window[i],
      viaCookie: !fromEntry,
      retransmits: fromEntry ? cache.rexmits[e] : 0,
      synTime: ackTime - ageMs,
      ackTime,
      payloadLength: rx.payloadLength[i],
      peerMac: fromEntry ? macText(cache.peerMac, e * 6) : macText(rx.mac, i * 6),
      vlan: fromEntry ? cache.vlan[e] : rx.vlan[i],
      payload: payloadOf(rx, i),
      hold,
    };
  }
}

function payloadOf(rx: BatchView, i: number): Uint8Array | null {
  const at = rx.payloadOffset[i];
  if (rx.payloadLength[i] === 0 || at === BatchView.noPayload) return null;
  return rx.payload.slice(at, at + rx.payloadLength[i]);
}

function macText(bytes: Uint8Array, at: number): string {
  let out = '';
  for (let k = 0; k < 6; k++) {
    if (k > 0) out += ':';
    out += bytes[at + k].toString(16).padStart(2, '0');
  }
  return out;
}
