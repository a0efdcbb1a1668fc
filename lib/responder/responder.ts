// The product's front door: a Responder answers TCP handshakes for some
// addresses and ports on one interface and emits each completed handshake.
//
//   const r = await Responder.open({ iface: 'eth0', addrs: ['198.18.0.1'], ports: [80] });
//   r.on('handshake', (h) => ...);
//   r.stats();  await r.close();
//
// With handoff: true (what protect() uses) each completed handshake becomes
// a kernel socket on the shard's own thread instead, emitted as 'handed'
// with its fd.
//
// It owns the cookie secrets (rotating them), the nftables gate that keeps
// this host's kernel out of those handshakes (or, with io 'xdp', the XDP
// door in front of the shards' AF_XDP rings, told what its shards say; see
// DESIGN.md "The door (XDP)"), and one shard per worker (or one on this
// thread). Stats from every shard add up.
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { randomInt } from 'node:crypto';
import { closeSync } from 'node:fs';
import { systemClock, type Clock } from '../engine/clock.js';
import { resolveConfig, type SyncacheConfig, type SyncacheConfigInput } from '../engine/config.js';
import { CookieSecrets } from '../engine/cookie-secrets.js';
import { EPOCH_MS, FleetKey } from '../engine/fleet-key.js';
import { timestampAt, type Handshake } from '../engine/engine.js';
import { C, COUNTER_NAMES, DOOR_COUNTERS, Stats } from '../engine/stats.js';
import { installGate, DEFAULT_MARK, type Gate } from '../gate/nftables.js';
import { Shard, type XdpOptions } from './shard.js';
import { flowKey, flowOf, type FlowOf } from '../handoff/flow.js';
import { checkBindAddresses, requireOnInterface } from './bind-addresses.js';
import { namedNetnsPath, netnsName } from '../native/netns.js';
import { SocketMaker, type Handed, type SocketMakerOptions } from '../handoff/sockets.js';
import { Handover } from '../handoff/handover.js';
import type { MainMessage, SentError, WorkerInit, WorkerMessage } from './messages.js';
import { InFlight } from './in-flight.js';
import { chooseIo, doorQueues, type IoChoice, type IoPath } from './io-choice.js';
import { allShardsCookieState, Door, type CookieState } from '../door/door.js';

export interface ResponderOptions extends SyncacheConfigInput {
  /** Interface to answer on. */
  iface: string;
  /** Local addresses to answer for (IPv4 and/or IPv6). */
  addrs: string[];
  /** Local ports to answer for. */
  ports: number[];
  /** Work inside this network namespace: a name as `ip netns` lists it, or /run/netns/NAME. */
  netns?: string;
  /** Worker threads, each with its own ring and cache shard (default 0: one shard on this thread). */
  workers?: number;
  /** Install the nftables gate for addrs/ports (default true). */
  gate?: boolean;
  /** SO_MARK that lets handed-off sockets through the gate (default 0x5ca). */
  mark?: number;
  /**
   * A TPACKET_V2 ring: frames readable at once rather than in blocks that
   * retire every few ms. Always on with handoff, which looks into the ring
   * for a flow's data (false is refused there).
   */
  lowLatency?: boolean;
  /** PACKET_QDISC_BYPASS for our frames (faster; hides them from local captures). */
  qdiscBypass?: boolean;
  /**
   * Read and answer through an AF_XDP socket instead of AF_PACKET rings:
   * `xskMap` is the fd of the XSKMAP that the XDP program on iface redirects
   * through (key: the RX queue), `queue` the RX queue to bind (default 0).
   * What reaches the socket is that program's choice. One queue: workers
   * must be 0 (io 'xdp', the door, takes workers).
   */
  xdp?: XdpOptions;
  /**
   * The I/O path. 'packet' (default): AF_PACKET rings, with the nftables
   * gate. 'xdp': the XDP door (lib/door/) in front of an AF_XDP ring: it
   * answers cookie SYNs in the driver while cookies are all there is and
   * hands the rest of ours to the ring; no gate (the kernel never sees a
   * protected handshake). Needs the door built (clang, libbpf-dev), CAP_BPF,
   * CAP_PERFMON, CAP_NET_ADMIN and CAP_NET_RAW (or root; lib/cli/io-needs.ts
   * says why each), and no more workers than the interface has receive
   * queues: each shard reads its share of them (workers 0: all; worker i of
   * N: queues i, i + N, ...), a socket a queue. 'auto': the
   * door where it can be had, else 'packet'. See Responder.backend.
   */
  io?: IoChoice;
  /** Clock for timers (tests inject a ManualClock; only with workers: 0). With a fleet key it stands for the wall clock too. */
  clock?: Clock;
  /**
   * Cookie secrets shared by a fleet: with keyFile (a file of 32 or more
   * random bytes, mode 0600, the same on every host) each 15 s epoch's secret
   * is derived from the key and the wall clock, so every host validates every
   * other's cookies (clocks within 5 s). Default: random secrets per host.
   */
  secrets?: { keyFile: string };
  /** Return false to refuse a handshake: its entry stays and it is retried (workers: 0 only). */
  accept?: (handshake: Handshake) => boolean;
  /**
   * Hand each completed handshake to a kernel socket, made with TCP_REPAIR on
   * the thread that owns its ring right after the batch that completed it
   * (see lib/handoff/sockets.ts), and emit 'handed' instead of 'handshake'.
   * Close a handed socket's flow with socketClosed(). (protect() sets it.)
   */
  handoff?: boolean;
}

export interface ResponderEvents {
  handshake: [Handshake];
  /** With options.handoff: a socket made (or why not); its fd is the receiver's to close. */
  handed: [Handed];
  error: [Error];
}

export const WORKERS_MAX = 64;

function validate(options: ResponderOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  if (typeof options.iface !== 'string' || options.iface.length === 0 || options.iface.length > 15) {
    throw new TypeError(`iface must be an interface name (1 to 15 characters), got ${JSON.stringify(options.iface)}`);
  }
  if (!Array.isArray(options.addrs) || options.addrs.length === 0) {
    throw new TypeError('addrs must be a non-empty array of IPv4/IPv6 addresses');
  }
  checkBindAddresses(options.addrs);
  if (!Array.isArray(options.ports) || options.ports.length === 0) {
    throw new TypeError('ports must be a non-empty array of port numbers');
  }
  for (const p of options.ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`ports: ${JSON.stringify(p)} is not a port from 1 to 65535`);
  }
  const workers = options.workers ?? 0;
  if (!Number.isInteger(workers) || workers < 0 || workers > WORKERS_MAX) {
    throw new RangeError(`workers must be an integer from 0 (this thread) to ${WORKERS_MAX}, got ${JSON.stringify(options.workers)}`);
  }
  if (options.xdp !== undefined) {
    if (options.xdp === null || typeof options.xdp !== 'object' || !Number.isInteger(options.xdp.xskMap) || options.xdp.xskMap < 0) {
      throw new TypeError('xdp must be { xskMap: FD, queue?: N }: the fd of the XSKMAP the interface\'s XDP program redirects through');
    }
    if (workers > 0) throw new TypeError('xdp reads one queue: workers must be 0');
    if (options.io !== undefined && options.io !== 'packet') throw new TypeError(`xdp (your own XDP program) cannot be used with io: ${JSON.stringify(options.io)} (the door is one); leave io out`);
  }
  if (options.io !== undefined && options.io !== 'packet' && options.io !== 'xdp' && options.io !== 'auto') {
    throw new TypeError(`io must be 'packet', 'xdp' or 'auto', got ${JSON.stringify(options.io)}`);
  }
  if (workers > 0 && options.clock !== undefined) throw new TypeError('clock can only be injected with workers: 0 (the shard on this thread)');
  if (workers > 0 && options.accept !== undefined) throw new TypeError('accept can only be used with workers: 0 (workers report handshakes asynchronously)');
  if (options.handoff === true && options.accept !== undefined) throw new TypeError('accept cannot be used with handoff: every completed handshake becomes a socket');
  if (options.handoff === true && options.lowLatency === false) {
    throw new TypeError('lowLatency: false cannot be used with handoff (protect() and syncache serve hand off): a handoff looks into a TPACKET_V2 ring for each flow\'s data; leave lowLatency out');
  }
  if (options.secrets !== undefined && (options.secrets === null || typeof options.secrets !== 'object' || typeof options.secrets.keyFile !== 'string' || options.secrets.keyFile === '')) {
    throw new TypeError('secrets must be { keyFile: PATH } (a fleet\'s shared key file), or left out for random secrets');
  }
}

/** The path the ring opens for options.netns (a name: the gate needs one). */
function nsPath(netns: string | undefined): string | undefined {
  return netns === undefined ? undefined : namedNetnsPath(netns);
}

/**
 * A replacement worker that dies within this long of being ready is not
 * replaced again: the instance fails (a crash loop is not a recovery).
 */
export const WORKER_MIN_LIFE_MS = 10_000;

/** A shard worker died and is not replaced (see Responder.replaceWorker). */
function workerExited(index: number, code: number, why: string): Error {
  return Object.assign(new Error(`shard worker ${index} exited (code ${code}) while the responder was open, ${why}: `
    + 'its share of the handshakes is no longer answered; close the responder and open a new one'), { code: 'ERR_WORKER_EXITED' });
}

/** An error from a worker's message, as the Error it was. */
function revive(e: SentError): Error {
  return Object.assign(new Error(e.message), e);
}

function splitOptions(options: ResponderOptions): SyncacheConfigInput {
  const { iface, addrs, ports, netns, workers, gate, mark, qdiscBypass, clock, accept, handoff, lowLatency, secrets, xdp, io, ...config } = options;
  return config;
}

export class Responder extends EventEmitter<ResponderEvents> {
  readonly config: SyncacheConfig;
  readonly secrets: CookieSecrets;
  readonly options: Readonly<ResponderOptions>;
  private readonly clock: Clock;
  private readonly shardStats: Stats[] = [];
  private shard: Shard | undefined;
  /** With options.handoff and workers: 0, makes this thread's sockets. */
  private sockets: SocketMaker | undefined;
  private workers: Worker[] = [];
  /** Workers whose thread has ended (close() has nothing to wait for there). */
  private readonly exited = new WeakSet<Worker>();
  /** Replacement workers, and when they were ready. */
  private readonly replacedAt = new WeakMap<Worker, number>();
  private fanoutGroup = 0;
  /**
   * With handoff and workers: the flows whose kernel sockets are open, by
   * flowKey. After a worker is replaced the fanout group has reshuffled
   * which shard sees which flow, so they are marked in every shard, and
   * their closes go to every shard from then on (reshuffled).
   */
  private readonly openFlows = new Map<string, FlowOf>();
  private reshuffled = false;
  private adoptPending = false;
  /** Which worker made a handed socket (its flow is that worker's). */
  private readonly origin = new WeakMap<Handshake, Worker>();
  private gate: Gate | undefined;
  /** The XDP door (io 'xdp', or 'auto' where it could be had). */
  private door: Door | undefined;
  private ioPath: IoPath = 'packet';
  /** Behind the door: the interface's receive queues (undefined: unknown, taken as 1), shared out by doorQueues. */
  private doorQueueCount: number | undefined;
  /** Behind the door with workers: each worker's last cookie state (see allShardsCookieState). */
  private readonly doorStates: CookieState[] = [];
  /**
   * Our timestamps' offset, one for every shard and the door (see
   * EngineOptions.tsOffset): behind the door a SYN-ACK it sent is ACKed to
   * a shard, and with workers to any shard's queue.
   */
  private readonly tsOffset = randomInt(0, 2 ** 32);
  /** The door's counters as last read (kept once it is closed). */
  private doorCounts: Record<string, number> | undefined;
  private rotation: NodeJS.Timeout | undefined;
  private closed = false;
  /** The instance failed ('error' was emitted once; the shards say the same thing again). */
  private failed = false;

  private constructor(options: ResponderOptions) {
    super();
    validate(options);
    this.options = { ...options };
    this.config = resolveConfig(splitOptions(options));
    this.clock = options.clock ?? systemClock;
    if (options.secrets !== undefined && this.config.cookieRotateMs !== EPOCH_MS) {
      throw new RangeError(`cookieRotateMs cannot be set with secrets.keyFile: a fleet's secrets change every ${EPOCH_MS} ms on every host`);
    }
    this.secrets = options.secrets === undefined
      ? CookieSecrets.create(this.clock.now(), this.config.cookieRotateMs)
      : CookieSecrets.createFleet(FleetKey.load(options.secrets.keyFile), this.wallNow());
  }

  /** Wall-clock ms for a fleet's epochs (the injected clock, in tests). */
  private wallNow(): number {
    return this.options.clock ? this.options.clock.now() : Date.now();
  }

  /**
   * Rereads the fleet key file (options.secrets.keyFile; the CLI does it on
   * SIGHUP). Secrets installed from now on use the new key: within one epoch
   * (15 s) new cookies use it, and the old key's cookies stay valid for their
   * lifetime. Throws if the file is no longer a valid key (the old key stays).
   */
  reloadKey(): void {
    this.secrets.reloadKey();
  }

  /** Validates, installs the gate, opens the rings; rejects with a clear error. */
  static async open(options: ResponderOptions): Promise<Responder> {
    const r = new Responder(options);
    try {
      await r.start();
    } catch (error) {
      await r.close();
      throw error;
    }
    return r;
  }

  private async start(): Promise<void> {
    const o = this.options;
    const workers = o.workers ?? 0;
    const netnsPath = nsPath(o.netns);
    const name = netnsPath === undefined ? undefined : netnsName(netnsPath);
    const io = chooseIo(o, name);
    this.ioPath = io.path;
    this.doorQueueCount = io.queues;
    if (this.ioPath === 'door') {
      const c = this.config;
      // With handoffs the door also passes on segments of sockets handed over
      // before it was attached (their SO_MARK): another protect() of this
      // process, a restarted service's closing connections.
      const socketMark = o.handoff === true ? o.mark ?? DEFAULT_MARK : 0;
      this.door = new Door({ addrs: o.addrs, ports: o.ports, mss: c.mss, mss6: c.mss6, windowScale: c.windowScale, window: c.window, socketMark });
      this.door.followSecrets(this.secrets);
      this.door.setTimestampClock(timestampAt(this.clock.now(), this.secrets.epoch !== null ? 0 : this.tsOffset));
      this.door.attach(o.iface, netnsPath);
    }
    const xdp = this.door !== undefined ? { xskMap: this.door.xskMap, queues: doorQueues(this.doorQueueCount, 1, 0) } : o.xdp;
    if (workers === 0) {
      const stats = new Stats();
      this.shardStats.push(stats);
      this.shard = new Shard({
        iface: o.iface, netns: netnsPath, addrs: o.addrs, ports: o.ports, config: this.config,
        secrets: this.secrets.view, clock: this.clock, stats, qdiscBypass: o.qdiscBypass, hold: o.handoff, lowLatency: o.lowLatency,
        xdp, door: this.door, fleetTimestamps: this.secrets.epoch !== null, tsOffset: this.tsOffset,
        onHandshake: (h) => {
          if (this.sockets !== undefined) return this.sockets.push(h);
          if (o.accept !== undefined && o.accept(h) === false) return false;
          this.emit('handshake', h);
          return true;
        },
      });
      if (o.handoff === true) {
        this.sockets = new SocketMaker(new Handover(this.shard, stats, this.config.window), stats, this.socketOptions(netnsPath), (handed) => {
          for (const item of handed) this.hand(item);
        });
      }
    } else {
      this.fanoutGroup = randomInt(1, 65536);
      await Promise.all(Array.from({ length: workers }, (_, i) => this.startWorker(i)));
      // Until they say otherwise, every shard is as it started (in 'only', the door answers SYNs from now on).
      this.door?.setCookieState(allShardsCookieState(this.doorStates));
    }
    // The ring is open (so the interface exists and we may use it): only now
    // take the handshakes away from this host's kernel, on that interface
    // only, for addresses it has.
    const netns = netnsPath === undefined ? undefined : netnsName(netnsPath);
    requireOnInterface(o.iface, netns, o.addrs);
    // Behind the door the kernel never sees a protected handshake: no gate.
    if (o.gate !== false && this.door === undefined) {
      this.gate = installGate({ netns, iface: o.iface, addrs: o.addrs, ports: o.ports, mark: o.mark ?? DEFAULT_MARK });
    }
    this.shard?.start((error) => this.fail(error));
    this.rotation = setInterval(() => this.rotateIfDue(), Math.min(1000, this.config.cookieRotateMs));
    this.rotation.unref();
  }

  /** Starts worker `index` (or its replacement) in the fanout group; resolves once its ring is open. */
  private startWorker(index: number): Promise<Stats> {
    const o = this.options;
    const fanoutGroup = this.fanoutGroup;
    const stats = new Stats();
    this.shardStats.push(stats);
    const inFlight = new InFlight();
    const init: WorkerInit = {
      iface: o.iface, netns: nsPath(o.netns), addrs: o.addrs, ports: o.ports, config: this.config,
      secrets: this.secrets.buffer, stats: stats.buffer as SharedArrayBuffer, inFlight: inFlight.buffer, fanoutGroup, qdiscBypass: o.qdiscBypass,
      handoff: o.handoff === true ? this.socketOptions(nsPath(o.netns)) : undefined,
      lowLatency: o.lowLatency,
      fleetTimestamps: this.secrets.epoch !== null,
      tsOffset: this.tsOffset,
      // Behind the door worker i reads rx queues i, i + workers, ... (io-choice: no more workers than queues).
      door: this.door === undefined ? undefined : { xskMap: this.door.xskMap, queues: doorQueues(this.doorQueueCount, o.workers ?? 0, index), flowMaps: this.door.flowMaps },
    };
    this.doorStates[index] = { mode: this.config.syncookies, paused: false, cacheEmpty: true };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    this.workers[index] = worker;
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') { ready = true; resolve(stats); }
        else if (m.type === 'error') {
          const error = Object.assign(new Error(m.message), { code: m.code });
          if (ready) this.fail(error); else reject(error);
        } else if (m.type === 'doorState') {
          this.doorStates[index] = m.state;
          if (!this.closed) this.door?.setCookieState(allShardsCookieState(this.doorStates));
        } else if (m.type === 'replyMacs') {
          if (!this.closed) this.door?.setReplyMacs(m.macs);
        } else if (m.type === 'linkUp') {
          // Every worker says so; the group was re-linked once, when the link came up.
          if (!this.adoptPending && !this.closed) {
            this.adoptPending = true;
            setImmediate(() => { this.adoptPending = false; if (!this.closed) this.adoptOpenFlows(); });
          }
        } else if (m.type === 'handshake') {
          inFlight.received();
          this.origin.set(m.handshake, worker);
          this.emit('handshake', m.handshake);
        } else if (m.type === 'handed') {
          inFlight.received(m.handed.length);
          for (const { handshake, fd, madeAt, error } of m.handed) {
            this.origin.set(handshake, worker);
            if (fd !== undefined && !this.closed) this.openFlows.set(flowKey(handshake), flowOf(handshake));
            this.hand(fd === undefined ? { handshake, error: revive(error!) } : { handshake, fd, madeAt: madeAt! });
          }
        }
      });
      // After ready, an uncaught exception ends the worker: its 'exit' replaces it.
      let crash: Error | undefined;
      worker.on('error', (error) => { if (ready) crash = error; else reject(error); });
      worker.on('exit', (code) => {
        this.exited.add(worker);
        if (!ready) reject(new Error(`shard worker exited with code ${code} before it was ready`));
        else if (!this.closed) void this.replaceWorker(index, worker, code, crash);
      });
    });
  }

  /**
   * A worker died after it was ready (an uncaught exception, an abort, a
   * terminate()): its ring left the fanout group, so the kernel shares the
   * interface's flows out anew among the others, and again when the
   * replacement joins. A replacement is started in the same group; once it
   * is ready every shard marks every open handed-over flow (whichever shard
   * its segments now reach, they stay its socket's), and closes go to every
   * shard. Lost: the dead shard's half-open entries (their peers' SYN
   * retransmits, or ACKs with a cookie, complete them elsewhere). A
   * replacement that dies within WORKER_MIN_LIFE_MS, or one that cannot
   * start, fails the instance.
   */
  private async replaceWorker(index: number, dead: Worker, code: number, crash: Error | undefined): Promise<void> {
    const replacedAt = this.replacedAt.get(dead);
    const cause = crash === undefined ? '' : ` (${crash.message})`;
    if (replacedAt !== undefined && performance.now() - replacedAt < WORKER_MIN_LIFE_MS) {
      this.fail(workerExited(index, code, `${Math.round(performance.now() - replacedAt)} ms after it replaced another${cause}`));
      return;
    }
    this.reshuffled = true;
    let stats: Stats;
    try {
      stats = await this.startWorker(index);
    } catch (error) {
      this.fail(workerExited(index, code, `and its replacement failed to start (${(error as Error).message})${cause}`));
      return;
    }
    const worker = this.workers[index];
    if (this.closed) return; // close() saw it and waits for it
    this.replacedAt.set(worker, performance.now());
    stats.values[C.workerrestarts]++;
    this.adoptOpenFlows();
  }

  /**
   * The fanout group's members changed order (a worker replaced, the link
   * down and up): every shard marks every open handed-over flow, and closes
   * go to every shard from now on.
   */
  private adoptOpenFlows(): void {
    this.reshuffled = true;
    const flows = [...this.openFlows.values()];
    for (const w of this.workers) if (!this.exited.has(w)) w.postMessage({ type: 'adopt', flows } satisfies MainMessage);
  }

  /**
   * The instance cannot answer as configured any more (its interface is
   * gone, a shard worker died): 'error', once; close() it and open another.
   */
  private fail(error: Error): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.emit('error', error);
  }

  /** Every counter by its name, summed over the shards. */
  stats(): Record<string, number> {
    this.shard?.syncStats();
    return this.withDoor(Stats.sum(this.shardStats));
  }

  /** Every counter by its name, per shard (this thread's, or one per worker in start order). */
  statsByShard(): Array<Record<string, number>> {
    this.shard?.syncStats();
    return this.shardStats.map((s, i) => (i === 0 ? this.withDoor(s.snapshot()) : this.withDoor(s.snapshot(), false)));
  }

  /**
   * What the door finished itself, under the names userspace counts the
   * same events by (added to the first shard's), and the door's own
   * counters (DOOR_COUNTERS, 0 without a door), which only its map holds.
   * The other shards (`first` false) get the door's names as 0.
   */
  private withDoor(counts: Record<string, number>, first = true): Record<string, number> {
    for (const name of DOOR_COUNTERS) counts[name] = 0;
    if (this.door === undefined || !first) return counts;
    this.doorCounts = this.closed ? this.doorCounts : this.door.stats();
    for (const [name, n] of Object.entries(this.doorCounts ?? {})) {
      if (name in counts) counts[name] += n;
    }
    return counts;
  }


  /** Counter names in the order stats() reports them. */
  static readonly counterNames: readonly string[] = COUNTER_NAMES;

  /** Entries in the SYN cache (this thread's shard; workers report none). */
  get cacheSize(): number {
    return this.shard?.engine.cache?.size ?? 0;
  }

  /** Whether new flows get cookies without entries now, the cache having run out (this thread's shard). */
  get paused(): boolean {
    return this.shard?.engine.paused ?? false;
  }

  /** The I/O path packets take: 'packet' (AF_PACKET rings and the gate) or 'xdp' (the XDP door, io 'xdp', or options.xdp: an AF_XDP socket). */
  get backend(): 'packet' | 'xdp' {
    return this.ioPath === 'door' || this.options.xdp !== undefined ? 'xdp' : 'packet';
  }

  /** Whether the XDP door stands in front (io 'xdp', or 'auto' where it could be had). */
  get behindDoor(): boolean {
    return this.door !== undefined;
  }

  /**
   * Behind the door with handoffs: up to `synsPerSecond` SYNs a second, per
   * CPU receiving them, pass to a kernel listener the caller holds on every
   * address and port with this responder's mark (protect() does; see its
   * `calm` option). 0 turns it off.
   */
  setCalm(synsPerSecond: number): void {
    if (this.door === undefined) throw new Error("calm needs the XDP door (io 'xdp')");
    this.door.setCalm(synsPerSecond);
  }

  /** Worker threads running a shard each (0: the one shard is on this thread). */
  get workerCount(): number {
    return this.workers.length;
  }

  private socketOptions(netns: string | undefined): SocketMakerOptions {
    return { mark: this.options.mark ?? DEFAULT_MARK, ourWindow: this.config.window, netns };
  }

  /** A handed socket to the listeners (closed here if the responder is). */
  private hand(item: Handed): void {
    if (this.closed) {
      if (item.fd !== undefined) closeSync(item.fd);
      return;
    }
    this.emit('handed', item);
  }

  /**
   * A handed socket closed (options.handoff): a new handshake on its flow is
   * a new connection, and its stragglers (a last ACK, a resent FIN) stay
   * skipped natively for a TIME_WAIT's span.
   */
  socketClosed(h: Handshake): void {
    if (this.closed) return;
    if (this.sockets !== undefined) {
      this.sockets.socketClosed(h);
      return;
    }
    this.openFlows.delete(flowKey(h));
    const message = { type: 'socketClosed', flow: flowOf(h) } satisfies MainMessage;
    if (!this.reshuffled) this.origin.get(h)?.postMessage(message);
    else for (const w of this.workers) if (!this.exited.has(w)) w.postMessage(message);
  }

  /**
   * Handles what waits in the ring now, if this thread owns it (workers: 0;
   * a worker's ring is its own thread's business). The ring is read anyway
   * when it becomes readable and after every poll phase of the event loop;
   * a caller on a busy thread calls this between its own callbacks as well,
   * so a final ACK waits for one callback, not a whole phase. Returns the
   * rows handled; costs a memory read when there are none.
   */
  poll(): number {
    return this.closed || this.shard === undefined ? 0 : this.shard.poll();
  }

  /** Runs the timers now: retransmits, stale entries, secret rotation (for tests with a ManualClock). */
  tick(): void {
    this.rotateIfDue();
    this.shard?.tick();
  }

  private rotateIfDue(): void {
    this.secrets.maybeRotate(this.secrets.epoch === null ? this.clock.now() : this.wallNow());
    this.door?.followSecrets(this.secrets);
  }

  /** Stops answering, closes the rings, removes the gate. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.rotation) clearInterval(this.rotation);
    this.shard?.close();
    await Promise.all(this.workers.filter((w) => !this.exited.has(w)).map((w) => new Promise<void>((resolve) => {
      const done = (): void => resolve();
      w.once('exit', done);
      w.once('message', (m: WorkerMessage) => { if (m.type === 'closed') void w.terminate(); });
      w.postMessage({ type: 'close' });
      setTimeout(() => void w.terminate(), 2000).unref();
    })));
    this.gate?.remove();
    if (this.door !== undefined) this.doorCounts = this.door.stats();
    this.door?.close();
  }
}
