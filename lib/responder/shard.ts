// One shard: a ring, the engine over its own slice of the SYN cache, and the
// cache's coarse timer. Runs on the main thread (workers: 0) or inside a
// worker thread (one shard per worker, rings in one PACKET_FANOUT group
// steered by a hash of the flow, so a flow's SYN and ACK, and an ICMP error
// quoting its SYN-ACK, always reach the same shard and no lock is ever taken
// on the packet path; see native/io/bpf_filter.h).
import { addon, type NativeRing } from '../native/addon.js';
import { BatchView } from '../native/batch.js';
import type { Clock } from '../engine/clock.js';
import type { SyncacheConfig } from '../engine/config.js';
import { SynEngine, type HandshakeSink } from '../engine/engine.js';
import type { FlowOf, HandoffFlow } from '../handoff/flow.js';
import type { RepairParams } from '../native/addon.js';
import { closeSync } from 'node:fs';
import { CoarseTimer } from '../engine/coarse-timer.js';
import { C, Stats } from '../engine/stats.js';
import { LingerQueue } from './linger.js';
import type { HandoffHost } from '../handoff/sockets.js';
import { FLOW_WORDS, writeFlowWords } from '../native/flow-words.js';
import { packRepairParams, REPAIR_WORDS } from '../native/repair-words.js';

const { finishRepair } = addon;

/** A data segment found in the ring by a look (peek). */
interface Segment { seq: number; data: Uint8Array }

function bytesOf(chunks: Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/**
 * Appends to `chunks` (the stream up to `end`) what the segments, in ring
 * order, add right after it, up to (not including) sequence number `last`
 * (the right edge of the window we advertised); returns the new end and how
 * many segments reached past `last` (cut there). Repeats are trimmed, a
 * segment past a gap is left to the peer's retransmit.
 */
function extend(chunks: Uint8Array[], end: number, segments: Segment[], last: number): { end: number; cut: number } {
  let cut = 0;
  for (const s of segments) {
    const have = (end - s.seq) >>> 0; // bytes of s we have (past a gap: huge)
    if (have >= s.data.length) continue;
    const room = (last - end) | 0; // bytes the window still admits
    let take = s.data.length - have;
    if (take > room) {
      cut++;
      if (room <= 0) continue;
      take = room;
    }
    chunks.push(s.data.subarray(have, have + take));
    end = (end + take) >>> 0;
  }
  return { end, cut };
}

/** Chunks as one buffer (undefined: none). */
function join(chunks: Uint8Array[]): Uint8Array | undefined {
  return chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** An AF_XDP ring instead of AF_PACKET (see RingOptions.io). */
export interface XdpOptions {
  /** The fd of the XSKMAP the interface's XDP program redirects through. */
  xskMap: number;
  /** The RX queue (default 0). */
  queue?: number;
}

export interface ShardOptions {
  iface: string;
  netns?: string;
  addrs: string[];
  ports: number[];
  config: SyncacheConfig;
  /** Uint8Array over the shared cookie secrets. */
  secrets: Uint8Array;
  clock: Clock;
  stats: Stats;
  fanoutGroup?: number;
  qdiscBypass?: boolean;
  /** See EngineOptions.hold. */
  hold?: boolean;
  /** See EngineOptions.fleetTimestamps. */
  fleetTimestamps?: boolean;
  /** See RingOptions.lowLatency. */
  lowLatency?: boolean;
  /** Read through AF_XDP (see RingOptions.io). */
  xdp?: XdpOptions;
  onHandshake: HandshakeSink;
}

const RING_BLOCK_BYTES = 256 * 1024;
/** How long a closed or reported flow's stragglers stay skipped (a TIME_WAIT). */
export const LINGER_MS = 60_000;
const RX_BLOCKS = addon.counterNames.indexOf('rxBlocks');
/** The longest completeHandoffs() waits for the ring's open block to retire. */
const PENDING_WAIT_MS = 12;
const RING_BLOCKS = 256;

/** The most rows catchUp() reads: as many frames as the ring holds (2 KiB slots). */
const CATCH_UP_ROWS = (RING_BLOCKS * RING_BLOCK_BYTES) / 2048;

/**
 * Batches of at most ROWS_PER_BATCH rows handled per readiness callback
 * before yielding to the event loop: under a flood a callback then lasts a
 * few milliseconds at most, so the server's own sockets are not held up
 * behind thousands of SYNs (what is left is read after the poll phase, or
 * in the next turn).
 */
const BATCHES_PER_WAKEUP = 2;
/**
 * poll() drains at most once per POLL_GAP_MS (any drain counts): on a
 * saturated HTTP server at 16 connections, a look after every request cost
 * a quarter of the request rate (each drain a few frames, each SYN-ACK its
 * own kick, each handoff its own batch); one in 0.5 ms cost about a tenth
 * and took the handoff p99 from 3-4.5 ms to 1.1-1.6 ms (1 ms: no cost
 * measurable, p99 1.9-2.2 ms).
 */
const POLL_GAP_MS = 0.5;
const ROWS_PER_BATCH = 512;

export class Shard implements HandoffHost {
  readonly ring: NativeRing;
  readonly engine: SynEngine;
  readonly timer: CoarseTimer;
  private readonly rx = new BatchView();
  private readonly clock: Clock;
  private readonly lingerTimer: NodeJS.Timeout;
  private readonly stats: Stats;
  /** The raw window of our SYN-ACKs: what a flow may send before its socket exists. */
  private readonly window: number;
  private closed = false;
  /** When drain() last ran (performance.now()). */
  private drainedAt = 0;
  /** Handshakes reported so far. */
  private handshakes = 0;

  constructor(options: ShardOptions) {
    const tx = new BatchView();
    this.stats = options.stats;
    this.ring = new addon.Ring({
      iface: options.iface,
      netns: options.netns,
      addrs: options.addrs,
      ports: options.ports,
      cookies: options.config.syncookies,
      secrets: options.secrets,
      rxBatch: this.rx.buffer,
      txBatch: tx.buffer,
      lowLatency: options.lowLatency,
      ...(options.xdp !== undefined
        ? { io: 'xdp', xskMap: options.xdp.xskMap, queue: options.xdp.queue }
        : {
          fanoutGroup: options.fanoutGroup,
          qdiscBypass: options.qdiscBypass,
          // Blocks retire every retireMs however full they are, so under load the
          // ring holds blockCount x retireMs of traffic: many small blocks ride
          // out a pause of the event loop (GC, a burst of handshakes).
          blockSize: RING_BLOCK_BYTES,
          blockCount: RING_BLOCKS,
        }),
    });
    const ring = this.ring;
    this.engine = new SynEngine({
      config: options.config,
      clock: options.clock,
      stats: options.stats.values,
      tx,
      send: (count) => ring.send(count),
      onHandshake: (h) => {
        this.handshakes++;
        const accepted = options.onHandshake(h);
        // Reported, and nothing here serves it: its later segments are not
        // handshakes. (Held flows are marked when their socket exists.)
        if (accepted !== false && options.hold !== true) {
          this.mark(h, false);
          this.linger(h);
        }
        return accepted;
      },
      hold: options.hold,
      fleetTimestamps: options.fleetTimestamps,
    });
    this.clock = options.clock;
    this.window = options.config.window;
    this.lingerTimer = setInterval(() => this.expireLingering(), 1000);
    this.lingerTimer.unref();
    const cache = this.engine.cache;
    this.timer = new CoarseTimer(
      () => this.engine.expire(),
      () => (cache === null ? -1 : cache.nextDeadline()),
      { clock: options.clock },
    );
  }

  /**
   * Starts answering: frames are handled as soon as the ring has them, and
   * the ring is looked at again after every poll phase of the event loop
   * (see NativeRing.start), so a SYN that arrives while the thread serves
   * other sockets waits for the rest of that phase, not for the next turn.
   * onError: the ring stopped for good (its interface is gone: code
   * ENODEV); onLinkUp: the interface came back after going down; see
   * NativeRing.start.
   */
  start(onError: (error: NodeJS.ErrnoException) => void, onLinkUp?: () => void): void {
    this.ring.start(() => this.drain(), onError, onLinkUp);
  }

  /**
   * drain(), if the ring holds frames and none ran in the last POLL_GAP_MS:
   * for a caller that looks at the ring between callbacks of its own, where
   * a frame would otherwise wait for the end of the event loop's poll phase.
   * Otherwise a clock read and at most a memory read. Not while the cache is
   * paused (a flood): the ring always holds SYNs then, and reading them in
   * 0.5 ms slices instead of whole turns cost a tenth of an HTTP server's
   * request rate at 40k SYN/s (4 interleaved rounds).
   */
  poll(): number {
    if (this.closed || performance.now() - this.drainedAt < POLL_GAP_MS || this.engine.paused) return 0;
    return this.ring.ready() ? this.drain() : 0;
  }

  /** Handles every waiting batch (bounded, then yields); returns rows handled. */
  drain(): number {
    if (this.closed) return 0;
    this.drainedAt = performance.now();
    let rows = 0;
    const handshakes = this.handshakes;
    // Final ACKs and data first, from anywhere in the ring: under a flood a
    // handshake's completion does not wait behind the SYNs that came before.
    const urgent = this.ring.receiveUrgent();
    if (urgent > 0) {
      rows += urgent;
      this.engine.handle(this.rx, urgent);
    }
    for (let b = 0; b < BATCHES_PER_WAKEUP; b++) {
      const n = this.ring.receive(ROWS_PER_BATCH);
      if (n === 0) break;
      rows += n;
      this.engine.handle(this.rx, n);
      // A handshake completed: yield now, so its handoff (a microtask) does
      // not wait behind the next batch of SYNs.
      if (this.handshakes !== handshakes) break;
    }
    if (rows > 0) this.timer.notify();
    return rows;
  }

  /**
   * Reads the ring until it is empty, so every frame that arrived before the
   * call has been handled. At most a ring's worth of rows: a flood faster
   * than this thread cannot keep it going.
   */
  private catchUp(): void {
    let rows = 0;
    while (!this.closed && rows < CATCH_UP_ROWS) {
      const n = this.ring.receive();
      if (n === 0) break;
      rows += n;
      this.engine.handle(this.rx, n);
    }
    if (rows > 0) this.timer.notify();
  }

  /**
   * Hands completed flows to kernel sockets made here and now, in one
   * synchronous step on the thread that owns the ring: looks once into the
   * ring for their data among the frames still waiting there (peek: nothing
   * is taken, so under a flood the SYNs before it wait for the next drain
   * instead of holding up this turn), then for each in turn makes its socket
   * with TCP_REPAIR from its params, puts the data that came with and after
   * the final ACK into its receive queue, sets params.mark (the gate lets its
   * packets through) and ends repair; data that landed since the look goes
   * in after all (see injectLatePeeked). Each socket is done before the next
   * is begun, so at 16 connections, where one turn completes 5-16
   * handshakes, the first waits for none of the others. Its entry is
   * released and the flow skipped natively. A ring that cannot look ahead
   * (not lowLatency) is read to the end instead. Each result is the socket's
   * fd, or the error that stopped it (its entry released, its flow not
   * marked); doneAt[i], if given, is when result i was done (ms since the
   * epoch). Each params gets its tsNow (if it has one) and stayInRepair set
   * here.
   *
   * A frame is readable once its ring block retires (when full, or 4-8 ms
   * after it opened at HZ=250; a lowLatency ring has no blocks): if the open
   * block holds frames (they may be these flows'), first wait until it has
   * been read, PENDING_WAIT_MS at most.
   */
  async completeHandoffs(items: ReadonlyArray<{ flow: HandoffFlow; params: RepairParams }>, doneAt?: number[]): Promise<Array<number | Error>> {
    const held = items.some((it) => it.flow.hold >= 0);
    if (held && this.ring.pending() > 0) {
      const target = this.ring.counters[RX_BLOCKS] + 1n;
      for (let waited = 0; !this.closed && this.ring.counters[RX_BLOCKS] < target && waited < PENDING_WAIT_MS; waited++) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        this.drain();
      }
    }
    if (this.closed) {
      return items.map(() => Object.assign(new Error('the responder closed during the handoff'), { code: 'ECANCELED' }));
    }
    // From here on, synchronous.
    // A lowLatency ring can be looked into without taking its frames: one
    // look finds these flows' data among whatever waits there (under a flood,
    // thousands of SYNs that the next drain answers), where reading it all
    // first would hold up this turn for as long as answering them takes.
    // The flows' words, once (FLOW_WORDS each).
    const flows = new Uint32Array(FLOW_WORDS * items.length);
    items.forEach((it, i) => flows.set(writeFlowWords(it.flow, this.flow), FLOW_WORDS * i));
    const look = this.peekData(flows, -1);
    return items.map(({ flow, params }, i) => {
      const words = flows.subarray(FLOW_WORDS * i, FLOW_WORDS * (i + 1));
      try {
        let fd: number;
        try {
          // The timestamp clock as it reads now, from the engine that stamped
          // the SYN-ACK: the socket's first TSval continues it exactly.
          if (params.tsNow !== undefined) params.tsNow = this.engine.tsNow();
          params.stayInRepair = true;
          fd = addon.repairSocketWords(packRepairParams(params, words, this.repairWords), params.netns);
        } catch (error) {
          return error as Error;
        }
        if (look === undefined && flow.hold >= 0) this.catchUp();
        // A hold that went stale meanwhile has lost what followed the final
        // ACK (the peer resends it); the final ACK's own data is still here.
        const held = flow.hold >= 0 ? this.engine.takeHeldData(flow.hold, flow.iss) : undefined;
        const data = held?.data ?? (flow.payload ? [flow.payload.subarray(0, this.window)] : []);
        const last = this.windowEnd(flow);
        let end = 0;
        if (held !== undefined) {
          const extended = extend(data, (held.seq + bytesOf(held.data)) >>> 0, look?.segments[i] ?? [], last);
          end = extended.end;
          this.stats.values[C.holdoverwindow] += extended.cut;
        }
        try {
          finishRepair(fd, join(data), params.mark ?? 0, params.windowProbe === true);
          if (held !== undefined && params.mark) {
            if (look === undefined) this.injectLateRead(fd, flow, params.mark);
            else this.injectLatePeeked(fd, words, params.mark, end, last, look.next);
          }
        } catch (error) {
          closeSync(fd); // in repair, or its data incomplete: nothing more goes on the wire
          return error as Error;
        }
        this.mark(flow, true, words);
        return fd;
      } finally {
        if (flow.hold >= 0) this.engine.release(flow.hold, flow.iss);
        if (doneAt !== undefined) doneAt[i] = performance.timeOrigin + performance.now();
      }
    });
  }

  /**
   * One look into the ring (see NativeRing.peek) for the data segments of
   * these flows (FLOW_WORDS each, as writeFlowWords gives them), by flow; undefined
   * if the ring cannot look ahead.
   */
  private peekData(flows: Uint32Array, start: number): { next: number; segments: Segment[][] } | undefined {
    const next = this.ring.peek(flows, start, this.peekOut);
    if (next < 0) return undefined;
    const u32 = this.peekWords;
    const segments: Segment[][] = [];
    for (let k = 0; k < flows.length / FLOW_WORDS; k++) segments.push([]);
    for (let r = 0, w = 1; r < u32[0]; r++) {
      const k = u32[w], seq = u32[w + 1], length = u32[w + 2];
      const at = (w + 3) * 4;
      segments[k].push({ seq, data: this.peekOut.slice(at, at + length) });
      w += 3 + ((length + 3) >> 2);
    }
    return { next, segments };
  }

  /**
   * A frame of the flow that reached the ring after the look and before
   * SO_MARK opened the gate was dropped by the gate, and the ring skips it
   * once the flow is marked: the peer would resend it only after ~200 ms.
   * So look again from where the first look ended; if data came, close the
   * gate to the socket again, return it to repair, look once more, and
   * inject what the socket lacks (from its rcv_nxt on: what arrived while
   * the gate was open it has already), then open the gate and leave repair
   * with a window probe, whose ACK tells the peer the data arrived. One
   * connection at a time, about 1 handoff in 8,000 needs it; under a flood,
   * with batches of sockets finished one after another since the look,
   * 60-170 in 5 s of wrk at 16 connections.
   */
  private injectLatePeeked(fd: number, flow: Uint32Array, mark: number, end: number, last: number, since: number): void {
    const late: Uint8Array[] = [];
    extend(late, end, this.peekData(flow, since)?.segments[0] ?? [], last);
    if (late.length === 0) return;
    const rcvNxt = addon.reopenRepair(fd);
    const all: Uint8Array[] = [];
    this.stats.values[C.holdoverwindow] += extend(all, end, this.peekData(flow, since)?.segments[0] ?? [], last).cut;
    this.injectFrom(fd, mark, rcvNxt, end, all);
  }

  /** The sequence number just past the window our SYN-ACK gave the flow: no byte from there on is ever injected. */
  private windowEnd(flow: HandoffFlow): number {
    return (flow.irs + 1 + this.window) >>> 0;
  }

  /** injectLatePeeked() for a ring that cannot look ahead: reads it instead. */
  private injectLateRead(fd: number, flow: HandoffFlow, mark: number): void {
    this.catchUp();
    const late = this.engine.takeHeldData(flow.hold, flow.iss);
    if (late === undefined || late.data.length === 0) return;
    const rcvNxt = addon.reopenRepair(fd);
    this.catchUp();
    const more = this.engine.takeHeldData(flow.hold, flow.iss);
    this.injectFrom(fd, mark, rcvNxt, late.seq, [...late.data, ...(more?.data ?? [])]);
  }

  /** Ends the second repair: of `chunks` (the stream from seq on), what the socket lacks past rcvNxt. */
  private injectFrom(fd: number, mark: number, rcvNxt: number, seq: number, chunks: Uint8Array[]): void {
    const bytes = join(chunks) ?? new Uint8Array(0);
    const has = (rcvNxt - seq) >>> 0; // bytes of it the socket got (a hole: huge, and nothing goes in)
    const missing = has < bytes.length ? bytes.subarray(has) : undefined;
    finishRepair(fd, missing, mark, missing !== undefined);
    if (missing !== undefined) this.stats.values[C.lateinjected]++;
  }

  /** A held entry whose handshake is not made into a socket goes back to the cache. */
  release(hold: number, iss: number): void {
    this.engine.release(hold, iss);
  }

  /**
   * From now on the flow is not ours: a kernel socket serves it
   * (kernelSocket) or it was completed and reported. Its segments are
   * skipped natively until linger() has run its course. (`words`: its
   * writeFlowWords, if the caller has them already.)
   */
  mark(h: FlowOf, kernelSocket: boolean, words?: Uint32Array): void {
    if (this.closed) return;
    // The set is full (a million flows): the flow's segments reach the engine
    // as if it were not handed over, and its socket may see a second handoff
    // fail; counted, so it is never silent.
    if (!this.ring.handOver(words ?? writeFlowWords(h, this.flow), h.irs, kernelSocket)) this.stats.values[C.handedoverfull]++;
  }

  /**
   * The flow's socket closed (or, for reported flows, right away): skip its
   * stragglers (a last ACK, a retransmitted FIN) for LINGER_MS more - the
   * TIME_WAIT's span - lest they validate as cookies and look like new
   * handshakes. A new connection on the same 4-tuple meanwhile keeps its mark
   * (takeBack only unmarks the flow with this peer ISN).
   */
  linger(h: FlowOf): void {
    if (this.closed) return;
    const words = writeFlowWords(h, this.flow);
    this.ring.flowClosed(words, h.irs);
    if (this.lingering.push(this.clock.now(), words, h.irs, this.takeBack)) this.stats.values[C.lingerfull]++;
  }

  private expireLingering(): void {
    this.lingering.popDue(this.clock.now() - LINGER_MS, this.takeBack);
  }

  /** A lingering flow's stragglers are no longer skipped. */
  private readonly takeBack = (flow: Uint32Array, peerIsn: number): void => {
    this.ring.takeBack(flow, peerIsn);
  };

  private readonly flow = new Uint32Array(FLOW_WORDS);
  /** A handoff's repair params, packed (see packRepairParams). */
  private readonly repairWords = new Uint32Array(REPAIR_WORDS);
  /** Where peek() writes what a look finds, and the same as words. */
  private readonly peekOut = new Uint8Array(1 << 20);
  private readonly peekWords = new Uint32Array(this.peekOut.buffer);
  /** Closed flows, skipped for LINGER_MS more. */
  private readonly lingering = new LingerQueue();

  /** Runs the timer now (retransmits, stale entries). */
  tick(): void {
    this.timer.tick();
  }

  /** Copies native counters (and the kernel's ring statistics) into the stats. */
  syncStats(): void {
    if (this.closed) return;
    this.ring.updateKernelStats();
    this.stats.absorbNative(this.ring.counters);
  }

  close(): void {
    if (this.closed) return;
    this.syncStats();
    this.closed = true;
    this.timer.stop();
    clearInterval(this.lingerTimer);
    this.ring.close();
  }
}
