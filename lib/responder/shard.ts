// One shard: a ring, the engine over its own slice of the SYN cache, and the
// cache's coarse timer. Runs on the main thread (workers: 0) or inside a
// worker thread (one shard per worker, rings in one PACKET_FANOUT group
// steered by a hash of the flow, so a flow's SYN and ACK, and an ICMP error
// quoting its SYN-ACK, always reach the same shard and no lock is ever taken
// on the packet path; see native/io/bpf_filter.h; behind the XDP door, an
// AF_XDP ring on receive queues of its own, the queues' hash doing that). With hold it is the host
// of a handoff (lib/handoff/handover.ts): the ring looked into, the engine's
// held data and entries, flows marked handed over.
import { addon, type NativeRing } from '../native/addon.js';
import { BatchView } from '../native/batch.js';
import type { Clock } from '../engine/clock.js';
import type { SyncacheConfig } from '../engine/config.js';
import { SynEngine, type HandshakeSink } from '../engine/engine.js';
import type { FlowOf } from '../handoff/flow.js';
import type { HandoverHost } from '../handoff/handover.js';
import type { CookieState } from '../door/door.js';
import { CoarseTimer } from '../engine/coarse-timer.js';
import { C, Stats } from '../engine/stats.js';
import { LingerQueue } from './linger.js';
import { FLOW_WORDS, writeFlowWords } from '../native/flow-words.js';

/** An AF_XDP ring instead of AF_PACKET (see RingOptions.io). */
export interface XdpOptions {
  /** The fd of the XSKMAP the interface's XDP program redirects through. */
  xskMap: number;
  /** The RX queue (default 0). */
  queue?: number;
  /** Instead of queue: several RX queues, read as one ring (the door gives a shard every shards-th queue). */
  queues?: number[];
}

/**
 * What a shard tells the XDP door in front of its AF_XDP ring: the Door
 * itself on its owner's thread; in a worker, a stand-in (worker-door.ts)
 * that writes flows through a DoorFlows and sends the rest to the owner.
 */
export interface ShardDoor {
  setCookieState(state: CookieState): void;
  setReplyMacs(macs: Uint8Array): void;
  handOver(flow: Uint32Array, peerIsn: number): void;
  /** seen: what the door saw the peer send (see Door.flowClosed). */
  flowClosed(flow: Uint32Array, seen: Uint32Array): boolean;
  takeBack(flow: Uint32Array): boolean;
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
  /**
   * See EngineOptions.hold: for a handoff (lib/handoff/handover.ts), which
   * looks into the ring for a flow's data, so the ring is a TPACKET_V2 one
   * (lowLatency) whatever lowLatency says.
   */
  hold?: boolean;
  /** See EngineOptions.fleetTimestamps. */
  fleetTimestamps?: boolean;
  /** See EngineOptions.tsOffset. */
  tsOffset?: number;
  /** See RingOptions.lowLatency. */
  lowLatency?: boolean;
  /** Read through AF_XDP (see RingOptions.io). */
  xdp?: XdpOptions;
  /**
   * The XDP door in front of this shard's AF_XDP ring (options.xdp is its
   * xskMap): told the cookie state after every drain and tick, and which
   * flows kernel sockets own. Its TSval clock is the owner's to set (from
   * tsOffset).
   */
  door?: ShardDoor;
  onHandshake: HandshakeSink;
}

const RING_BLOCK_BYTES = 256 * 1024;
/** How long a closed or reported flow's stragglers stay skipped (a TIME_WAIT). */
export const LINGER_MS = 60_000;
const RING_BLOCKS = 256;

/**
 * Batches of at most ROWS_PER_BATCH rows handled per readiness callback
 * before yielding to the event loop: under a flood a callback then lasts a
 * few milliseconds at most, so the server's own sockets are not held up
 * behind thousands of SYNs (what is left is read after the poll phase, or
 * in the next turn).
 */
const BATCHES_PER_WAKEUP = 2;
/**
 * poll() drains at most once per POLL_GAP_MS (any drain counts): a look
 * after every request of a saturated HTTP server costs much of its request
 * rate (each drain a few frames, each SYN-ACK its own kick, each handoff its
 * own batch); a gap bounds that cost while keeping the handoff's latency
 * low (bench:serve measures both).
 */
const POLL_GAP_MS = 0.5;
/** The most gateway MACs the door takes (addon.door.replyMacsMax). */
const REPLY_MACS_MAX = addon.door.available ? addon.door.replyMacsMax : 0;
const ROWS_PER_BATCH = 512;
/** The ring's count of SYNs refused on closed flows (see refusedInDoor). */
const REFUSED = addon.counterNames.indexOf('synOnTimeWait');
/** A refused flow in takeRefused's words: the flow, then its peer's ISN. */
const REFUSED_WORDS = FLOW_WORDS + 1;

export class Shard implements HandoverHost {
  readonly ring: NativeRing;
  readonly engine: SynEngine;
  readonly timer: CoarseTimer;
  private readonly rx = new BatchView();
  private readonly clock: Clock;
  private readonly lingerTimer: NodeJS.Timeout;
  private readonly stats: Stats;
  private readonly door: ShardDoor | undefined;
  private readonly mode: SyncacheConfig['syncookies'];
  private closed = false;
  /** When drain() last ran (performance.now()). */
  private drainedAt = 0;
  /** Handshakes reported so far. */
  private handshakes = 0;

  constructor(options: ShardOptions) {
    const tx = new BatchView();
    this.stats = options.stats;
    this.mode = options.config.syncookies;
    this.ring = new addon.Ring({
      iface: options.iface,
      netns: options.netns,
      addrs: options.addrs,
      ports: options.ports,
      cookies: options.config.syncookies,
      secrets: options.secrets,
      rxBatch: this.rx.buffer,
      txBatch: tx.buffer,
      ...(options.xdp !== undefined
        ? { io: 'xdp', xskMap: options.xdp.xskMap, ...(options.xdp.queues !== undefined ? { queues: options.xdp.queues } : { queue: options.xdp.queue }) }
        : {
          fanoutGroup: options.fanoutGroup,
          qdiscBypass: options.qdiscBypass,
          // The handoff looks into the ring (peek): only a TPACKET_V2 ring can.
          lowLatency: options.lowLatency === true || options.hold === true,
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
      tsOffset: options.tsOffset,
    });
    this.clock = options.clock;
    this.lingerTimer = setInterval(() => this.expireLingering(), 1000);
    this.lingerTimer.unref();
    this.door = options.door;
    // From here on the ring keeps the flows it refuses a SYN, for refusedInDoor.
    if (this.door !== undefined) ring.takeRefused(this.refusedFlows);
    this.timer = new CoarseTimer(
      () => { this.engine.expire(); this.tellDoor(); },
      // The pause's end too: the door hears of it from this tick.
      () => this.engine.nextDeadline(),
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
    // The door hears this shard's cookie state from the start, not only after
    // its first batch (until then, in 'only', it would hand every SYN and
    // forged ACK to userspace).
    this.tellDoor();
    this.ring.start(() => this.drain(), onError, onLinkUp);
  }

  /**
   * drain(), if the ring holds frames and none ran in the last POLL_GAP_MS:
   * for a caller that looks at the ring between callbacks of its own, where
   * a frame would otherwise wait for the end of the event loop's poll phase.
   * Otherwise a clock read and at most a memory read. Not while the cache is
   * paused (a flood): the ring always holds SYNs then, and reading them in
   * 0.5 ms slices instead of whole turns would take the server's thread
   * from its own requests.
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
      // (A refused SYN makes no row: a read may refuse and return none.)
      if (this.door !== undefined) this.refusedInDoor();
      if (n === 0) break;
      rows += n;
      this.engine.handle(this.rx, n);
      // A handshake completed: yield now, so its handoff (a microtask) does
      // not wait behind the next batch of SYNs.
      if (this.handshakes !== handshakes) break;
    }
    if (rows > 0) {
      this.timer.notify();
      this.tellDoor();
    }
    return rows;
  }

  /**
   * The door answers SYNs itself while no SYN may take an entry, and refuses
   * forged cookie ACKs while no entry can exist (see lib/door/door.ts);
   * a write only when that changes.
   */
  private tellDoor(): void {
    if (this.door === undefined || this.closed) return;
    const cache = this.engine.cache;
    const paused = this.engine.paused;
    const cacheEmpty = cache === null || cache.size === 0;
    // Told only when it changes: this runs after every batch.
    if (paused !== this.toldPaused || cacheEmpty !== this.toldCacheEmpty) {
      this.toldPaused = paused;
      this.toldCacheEmpty = cacheEmpty;
      this.door.setCookieState({ mode: this.mode, paused, cacheEmpty });
    }
    // The gateways replies are routed through: the door answers SYNs that
    // came from them itself (their MAC is the reply's next hop), and hands
    // the others to the ring, whose replies follow routing. Once a second.
    const now = this.clock.now();
    if (now - this.replyMacsAt >= 1000) {
      this.replyMacsAt = now;
      this.door.setReplyMacs(this.ring.gatewayMacs().subarray(0, 6 * REPLY_MACS_MAX));
    }
  }
  private replyMacsAt = -Infinity;
  /** The cookie state last told the door (undefined: nothing yet). */
  private toldPaused: boolean | undefined;
  private toldCacheEmpty: boolean | undefined;

  /**
   * The door lets a SYN on a closed flow up to whichever shard its queue
   * feeds, and forgets the flow: that shard decides the reopen (RFC 6191),
   * and a shard whose ring never knew the flow answers it as new, with no
   * word to the door. Where this shard's ring refused such a SYN, the flow
   * is marked closed in the door again, so the old connection's stragglers
   * (a retransmitted FIN) reach its TIME_WAIT socket once more, not a ring
   * that skips them. A counter read per batch; the ring is asked only when
   * it moved.
   */
  private refusedInDoor(): void {
    const seen = this.ring.counters[REFUSED];
    if (seen === this.refusedSeen) return;
    this.refusedSeen = seen;
    const count = this.ring.takeRefused(this.refusedFlows);
    for (let i = 0; i < count; i++) {
      const flow = this.refusedFlows.subarray(i * REFUSED_WORDS, i * REFUSED_WORDS + FLOW_WORDS);
      this.door!.handOver(flow, this.refusedFlows[i * REFUSED_WORDS + FLOW_WORDS]);
      this.door!.flowClosed(flow, this.peerSeen);
    }
  }
  private refusedSeen = 0n;
  private readonly refusedFlows = new Uint32Array(REFUSED_WORDS * ROWS_PER_BATCH);

  /** Whether close() has run (the ring is gone). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** One look into the ring, taking nothing (see NativeRing.peek): a handoff's search for its flows' data. */
  peek(flows: Uint32Array, start: number, out: Uint8Array): number {
    return this.ring.peek(flows, start, out);
  }

  /** The engine's timestamp clock now (see SynEngine.tsNow). */
  tsNow(): number {
    return this.engine.tsNow();
  }

  /** What a held entry collected since the last take (see SynEngine.takeHeldData). */
  takeHeldData(hold: number, iss: number): { data: Uint8Array[]; seq: number } | undefined {
    return this.engine.takeHeldData(hold, iss);
  }

  /** The socket left repair: behind the door, the flow's segments pass to the kernel from now on. */
  opened(h: FlowOf, words: Uint32Array): void {
    if (!this.closed) this.door?.handOver(words, h.irs);
  }

  /** A held entry whose handshake is not made into a socket goes back to the cache. */
  release(hold: number, iss: number): void {
    this.engine.release(hold, iss);
  }

  /** A held entry whose socket could not be made waits for the peer's retransmit (see SynEngine.retry). */
  retry(hold: number, iss: number): void {
    this.engine.retry(hold, iss);
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
    // Behind the door the ring never saw the peer's segments: what the door
    // saw of them goes into the ring's flow set, for RFC 6191.
    if (this.door?.flowClosed(words, this.peerSeen) === true) this.ring.flowClosed(words, h.irs, this.peerSeen);
    else this.ring.flowClosed(words, h.irs);
    if (this.lingering.push(this.clock.now(), words, h.irs, this.takeBack)) this.stats.values[C.lingerfull]++;
  }

  private expireLingering(): void {
    this.lingering.popDue(this.clock.now() - LINGER_MS, this.takeBack);
  }

  /** A lingering flow's stragglers are no longer skipped. */
  private readonly takeBack = (flow: Uint32Array, peerIsn: number): void => {
    // Only if it is still this connection's (not a new one on the 4-tuple).
    if (this.ring.takeBack(flow, peerIsn)) this.door?.takeBack(flow);
  };

  private readonly flow = new Uint32Array(FLOW_WORDS);
  /** What the door saw a closing flow's peer send (Door.flowClosed). */
  private readonly peerSeen = new Uint32Array(3);
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
