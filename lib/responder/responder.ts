// The product's front door: a Responder answers TCP handshakes for some
// addresses and ports on one interface and emits each completed handshake.
//
//   const r = await Responder.open({ iface: 'eth0', addrs: ['198.18.0.1'], ports: [80] });
//   r.on('handshake', (h) => ...);
//   r.stats();  await r.close();
//
// It owns the cookie secrets (rotating them), the nftables gate that keeps
// this host's kernel out of those handshakes, and one shard per worker (or
// one on this thread). Stats from every shard add up.
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { Worker } from 'node:worker_threads';
import { randomInt } from 'node:crypto';
import { systemClock, type Clock } from '../engine/clock.js';
import { resolveConfig, type SyncacheConfig, type SyncacheConfigInput } from '../engine/config.js';
import { CookieSecrets } from '../engine/cookie-secrets.js';
import type { Handshake } from '../engine/engine.js';
import { COUNTER_NAMES, Stats } from '../engine/stats.js';
import { installGate, DEFAULT_MARK, type Gate } from '../gate/nftables.js';
import { Shard } from './shard.js';
import { namedNetnsPath, netnsName } from '../native/netns.js';
import type { RepairParams } from '../native/addon.js';
import type { FlowOf, HandoffFlow, MainMessage, WorkerInit, WorkerMessage } from './worker.js';

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
   * retire every few ms; for handing connections over (protect() sets it).
   */
  lowLatency?: boolean;
  /** PACKET_QDISC_BYPASS for our frames (faster; hides them from local captures). */
  qdiscBypass?: boolean;
  /** Clock for timers (tests inject a ManualClock; only with workers: 0). */
  clock?: Clock;
  /** Return false to refuse a handshake: its entry stays and it is retried (workers: 0 only). */
  accept?: (handshake: Handshake) => boolean;
  /**
   * Keep each completed handshake's entry until release(), collecting the data
   * that follows the final ACK (completeHandoffs()): for handing connections to
   * kernel sockets (protect() sets it).
   */
  hold?: boolean;
}

export interface ResponderEvents {
  handshake: [Handshake];
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
  for (const a of options.addrs) {
    if (typeof a !== 'string' || isIP(a) === 0) throw new TypeError(`addrs: not an IPv4 or IPv6 address: ${JSON.stringify(a)}`);
  }
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
  if (workers > 0 && options.clock !== undefined) throw new TypeError('clock can only be injected with workers: 0 (the shard on this thread)');
  if (workers > 0 && options.accept !== undefined) throw new TypeError('accept can only be used with workers: 0 (workers report handshakes asynchronously)');
}

/** The path the ring opens for options.netns (a name: the gate needs one). */
function nsPath(netns: string | undefined): string | undefined {
  return netns === undefined ? undefined : namedNetnsPath(netns);
}

function flowOf(h: Handshake): FlowOf {
  return { family: h.family, remoteAddress: h.remoteAddress, remotePort: h.remotePort, localAddress: h.localAddress, localPort: h.localPort, irs: h.irs };
}

function splitOptions(options: ResponderOptions): SyncacheConfigInput {
  const { iface, addrs, ports, netns, workers, gate, mark, qdiscBypass, clock, accept, hold, lowLatency, ...config } = options;
  return config;
}

export class Responder extends EventEmitter<ResponderEvents> {
  readonly config: SyncacheConfig;
  readonly secrets: CookieSecrets;
  readonly options: Readonly<ResponderOptions>;
  private readonly clock: Clock;
  private readonly shardStats: Stats[] = [];
  private shard: Shard | undefined;
  private workers: Worker[] = [];
  /** Which worker reported a handshake (for hold, release, handOver). */
  private readonly origin = new WeakMap<Handshake, Worker>();
  /** Handoffs a worker is finishing, by id. */
  private readonly handoffs = new Map<number, { count: number; done: (results: Array<number | Error>) => void }>();
  private handoffId = 0;
  private gate: Gate | undefined;
  private rotation: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(options: ResponderOptions) {
    super();
    validate(options);
    this.options = { ...options };
    this.config = resolveConfig(splitOptions(options));
    this.clock = options.clock ?? systemClock;
    this.secrets = CookieSecrets.create(this.clock.now(), this.config.cookieRotateMs);
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
    if (workers === 0) {
      const stats = new Stats();
      this.shardStats.push(stats);
      this.shard = new Shard({
        iface: o.iface, netns: netnsPath, addrs: o.addrs, ports: o.ports, config: this.config,
        secrets: this.secrets.view, clock: this.clock, stats, qdiscBypass: o.qdiscBypass, hold: o.hold, lowLatency: o.lowLatency,
        onHandshake: (h) => {
          if (o.accept !== undefined && o.accept(h) === false) return false;
          this.emit('handshake', h);
          return true;
        },
      });
    } else {
      const fanoutGroup = randomInt(1, 65536);
      await Promise.all(Array.from({ length: workers }, () => this.startWorker(fanoutGroup)));
    }
    // The ring is open (so the interface exists and we may use it): only now
    // take the handshakes away from this host's kernel.
    if (o.gate !== false) {
      this.gate = installGate({ netns: netnsPath === undefined ? undefined : netnsName(netnsPath), addrs: o.addrs, ports: o.ports, mark: o.mark ?? DEFAULT_MARK });
    }
    this.shard?.start();
    this.rotation = setInterval(() => this.rotateIfDue(), Math.min(1000, this.config.cookieRotateMs));
    this.rotation.unref();
  }

  private startWorker(fanoutGroup: number): Promise<void> {
    const o = this.options;
    const stats = new Stats();
    this.shardStats.push(stats);
    const init: WorkerInit = {
      iface: o.iface, netns: nsPath(o.netns), addrs: o.addrs, ports: o.ports, config: this.config,
      secrets: this.secrets.buffer, stats: stats.buffer as SharedArrayBuffer, fanoutGroup, qdiscBypass: o.qdiscBypass,
      hold: o.hold,
      lowLatency: o.lowLatency,
    };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    this.workers.push(worker);
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') { ready = true; resolve(); }
        else if (m.type === 'error') {
          const error = Object.assign(new Error(m.message), { code: m.code });
          if (ready) this.emit('error', error); else reject(error);
        } else if (m.type === 'handshake') {
          this.origin.set(m.handshake, worker);
          this.emit('handshake', m.handshake);
        } else if (m.type === 'handoffsDone') {
          const pending = this.handoffs.get(m.id);
          this.handoffs.delete(m.id);
          pending?.done(m.results.map((r) => (typeof r === 'number' ? r : Object.assign(new Error(r.message), r))));
        }
      });
      worker.on('error', (error) => { if (ready) this.emit('error', error); else reject(error); });
      worker.on('exit', (code) => { if (!ready) reject(new Error(`shard worker exited with code ${code} before it was ready`)); });
    });
  }

  /** Every counter by its name, summed over the shards. */
  stats(): Record<string, number> {
    this.shard?.syncStats();
    return Stats.sum(this.shardStats);
  }

  /** Counter names in the order stats() reports them. */
  static readonly counterNames: readonly string[] = COUNTER_NAMES;

  /** Entries in the SYN cache (this thread's shard; workers report none). */
  get cacheSize(): number {
    return this.shard?.engine.cache?.size ?? 0;
  }

  /**
   * Hands completed handshakes (hold mode) to kernel sockets: on the thread
   * that owns each flow's ring, right after its last read, each socket is
   * made with TCP_REPAIR from its params (see repairParams), the data that
   * came with and after the final ACK goes into its receive queue,
   * params.mark opens the gate for it and repair ends - so nothing slips
   * through unseen. Holds are released, and each handed-over flow's segments
   * are skipped natively from then on. Resolves to one result per item: the
   * socket's fd, or the error that stopped it (its hold released all the same).
   */
  completeHandoffs(items: ReadonlyArray<{ handshake: Handshake; params: RepairParams }>): Promise<Array<number | Error>> {
    const cancelled = (): Error => Object.assign(new Error('the responder is closed'), { code: 'ECANCELED' });
    if (this.closed) return Promise.resolve(items.map(cancelled));
    const asFlow = ({ handshake: h, params }: { handshake: Handshake; params: RepairParams }) => ({
      flow: { ...flowOf(h), hold: h.hold, iss: h.iss, payload: h.payload } satisfies HandoffFlow, params,
    });
    if (this.shard !== undefined) return this.shard.completeHandoffs(items.map(asFlow));
    // One message per worker, with every item whose flow it owns.
    const results: Array<number | Error> = new Array(items.length);
    const byWorker = new Map<Worker, number[]>();
    items.forEach((it, i) => {
      const worker = this.origin.get(it.handshake);
      if (worker === undefined) results[i] = new Error('completeHandoffs: this handshake did not come from this responder');
      else if (byWorker.has(worker)) byWorker.get(worker)!.push(i);
      else byWorker.set(worker, [i]);
    });
    return Promise.all([...byWorker].map(([worker, indexes]) => {
      const id = ++this.handoffId;
      return new Promise<void>((resolve) => {
        this.handoffs.set(id, {
          count: indexes.length,
          done: (done) => {
            done.forEach((r, k) => { results[indexes[k]] = r; });
            resolve();
          },
        });
        worker.postMessage({ type: 'completeHandoffs', id, items: indexes.map((i) => asFlow(items[i])) } satisfies MainMessage);
      });
    })).then(() => results);
  }

  /**
   * Ends a hold (see hold) without a socket: a duplicate, or a handoff that
   * could not start. (completeHandoffs ends the holds it hands over.)
   */
  release(h: Handshake): void {
    if (this.closed || h.hold < 0) return;
    if (this.shard !== undefined) {
      this.shard.engine.release(h.hold, h.iss);
      return;
    }
    this.origin.get(h)?.postMessage({ type: 'release', hold: h.hold, iss: h.iss } satisfies MainMessage);
  }

  /** The flow's kernel socket closed: its segments are ours again once its TIME_WAIT would be over. */
  linger(h: Handshake): void {
    if (this.closed) return;
    if (this.shard !== undefined) {
      this.shard.linger(h);
      return;
    }
    this.origin.get(h)?.postMessage({ type: 'linger', flow: flowOf(h) } satisfies MainMessage);
  }

  /** Runs the timers now: retransmits, stale entries, secret rotation (for tests with a ManualClock). */
  tick(): void {
    this.rotateIfDue();
    this.shard?.tick();
  }

  private rotateIfDue(): void {
    this.secrets.maybeRotate(this.clock.now());
  }

  /** Stops answering, closes the rings, removes the gate. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.rotation) clearInterval(this.rotation);
    for (const { count, done } of this.handoffs.values()) {
      done(Array.from({ length: count }, () => Object.assign(new Error('the responder closed during the handoff'), { code: 'ECANCELED' })));
    }
    this.handoffs.clear();
    this.shard?.close();
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      const done = (): void => resolve();
      w.once('exit', done);
      w.once('message', (m: WorkerMessage) => { if (m.type === 'closed') void w.terminate(); });
      w.postMessage({ type: 'close' });
      setTimeout(() => void w.terminate(), 2000).unref();
    })));
    this.gate?.remove();
  }
}
