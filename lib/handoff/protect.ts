// protect(server, options): syncache answers the handshakes, and each
// completed one reaches server's 'connection' as an ordinary net.Socket -
// any net.Server, http.Server or https.Server serves it as usual, without
// ever calling listen().
//
//   final ACK ─> engine: entry held (never evicted), data that follows is collected
//            ─> on the thread that owns the flow's ring (this one, or the
//               shard's worker), right after the batch: a TCP_REPAIR socket
//               with ISS/IRS/MSS/wscale/SACK/timestamps, the flow's data into
//               its receive queue, SO_MARK (the gate lets it through), repair
//               off (see SocketMaker, Handover)
//            ─> 'handed' { fd } -> new net.Socket({ fd }) -> server.emit('connection', socket)
//
// With syncookies 'only' a SYN leaves no state, but a valid cookie ACK takes
// an entry that is held the same way.
//
// Calm (behind the door): while SYNs arrive below options.calm a second
// (on each CPU that receives them), the door passes them to the kernel's
// own listener, which protect() holds on every address and port
// (calm-listener.ts), and the kernel makes the connection as it would
// without syncache: no handoff, nothing in userspace. Above the rate the
// door takes every SYN again, as above.
import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { Socket, type Server, type SocketConstructorOpts } from 'node:net';
import { Server as HttpServer } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import { Responder, type ResponderOptions } from '../responder/responder.js';
import type { Handshake } from '../engine/engine.js';
import { DEFAULT_MARK } from './repair.js';
import type { Handed } from './sockets.js';
import { CalmListener } from './calm-listener.js';
import { adoptSocket, dropsConnection, socketEnds, type OwnServer } from './server-accept.js';


/** SYNs a second per receiving CPU that the kernel's listener takes behind the door, by default. */
export const DEFAULT_CALM_RATE = 10_000;

/** A Responder's options but those the handoff sets itself (its ring always looks ahead: lowLatency), and calm. */
export type ProtectOptions = Omit<ResponderOptions, 'accept' | 'handoff' | 'clock' | 'lowLatency'> & {
  /**
   * Behind the door (io 'xdp', or 'auto' where it attaches): while SYNs
   * arrive below this many a second on each CPU that receives them (judged
   * over 100 ms windows), the kernel's own listener takes the handshakes -
   * protect() then listens on every address and port, with the handoffs'
   * SO_MARK - and above it, and while cookies are all there is, syncache
   * answers every one. 0: syncache answers every handshake (no listener).
   * Default DEFAULT_CALM_RATE behind the door; with io 'packet' only 0.
   */
  calm?: number;
};

export interface HandoffStats {
  /** Connections handed to the server. */
  handoffs: number;
  /** Handshakes whose socket could not be made (the peer's next segment retries). */
  handoffFailed: number;
  /** handoffFailed by reason: the error's code (EADDRINUSE, ENOMEM, ...), or its name without one. */
  handoffFailedBy: Record<string, number>;
  /** Sockets handed over and still open. */
  open: number;
  /** Handshakes of a flow already handed over (ignored). */
  handoffDuplicate: number;
  /** protectFor(): connections closed because RELAY_BACKLOG sockets were on their way to the child already. */
  relayQueueFull: number;
  /** The calm rate in force (SYNs a second per CPU; 0: no calm listener). */
  calm: number;
  /** Connections the calm listener accepted (the kernel made their handshake, not syncache). */
  calmConnections: number;
  /**
   * The handoff: from the final ACK's arrival to its kernel socket done
   * (established, its data queued, the gate open), over the last 4096 (ms).
   * The kernel's own listener is at this point when the connection enters its
   * accept queue.
   */
  handoffP50Ms: number | null;
  handoffP99Ms: number | null;
  /** From the final ACK's arrival to the server's 'connection' (with the wait for this thread's turn), over the last 4096 (ms). */
  connectionP50Ms: number | null;
  connectionP99Ms: number | null;
}

const LATENCY_WINDOW = 4096;

export interface ProtectionEvents {
  handoff: [Socket, Handshake];
  /** A connection the calm listener accepted (the kernel made its handshake); the server gets it as 'connection' next. */
  calmConnection: [Socket];
  /**
   * One connection's socket could not be made (its error carries the
   * handshake). Counted in stats(); nothing else happens to the server, so
   * listening is optional: what one peer can cause never reaches 'error'.
   */
  handoffError: [Error & { handshake: Handshake }];
  /** The instance itself failed (the ring, the gate, a worker): it no longer answers. */
  error: [Error];
}

/** The last LATENCY_WINDOW samples, and their quantiles. */
class Window {
  private readonly samples = new Float64Array(LATENCY_WINDOW);
  private count = 0;

  add(ms: number): void {
    this.samples[this.count++ % LATENCY_WINDOW] = ms;
  }

  quantiles(...ps: number[]): Array<number | null> {
    const n = Math.min(this.count, LATENCY_WINDOW);
    const sorted = this.samples.slice(0, n).sort();
    return ps.map((p) => (n === 0 ? null : Number(sorted[Math.min(n - 1, Math.floor(p * n))].toFixed(3))));
  }
}

export class Protection extends EventEmitter<ProtectionEvents> {
  private handoffs = 0;
  private failed = 0;
  private readonly failedBy: Record<string, number> = {};
  private open = 0;
  private relayQueueFull = 0;
  private readonly handoffTime = new Window();
  private readonly connectionTime = new Window();
  private closed = false;
  /** Each open handed socket's end of life: its flow is freed when it runs. */
  private readonly closers = new WeakMap<Socket, () => void>();

  private calmListener: CalmListener | undefined;
  private calmRate = 0;

  constructor(readonly server: Server, readonly responder: Responder) {
    super();
    responder.on('handed', (handed) => {
      if (handed.error === undefined) this.serve(handed);
      else this.fail(handed.handshake, handed.error);
    });
    responder.on('error', (e) => this.emit('error', e));
    // An HTTP server's thread is busy with requests: the ring is looked at
    // after each one as well (a memory read when nothing waits; at most one
    // drain per 0.5 ms, none while the cache is paused: see Shard.poll), so
    // on a saturated thread a final ACK waits for one request's work, not
    // for the rest of the event loop's poll phase (at 16 connections, 5-16
    // requests).
    if (server instanceof HttpServer || server instanceof HttpsServer) server.on('request', this.pollRing);
  }

  private readonly pollRing = (): void => {
    try {
      this.responder.poll();
    } catch (error) {
      this.emit('error', error as Error);
    }
  };

  private fail(h: Handshake, error: Error): void {
    this.failed++;
    const reason = (error as NodeJS.ErrnoException).code ?? error.name;
    this.failedBy[reason] = (this.failedBy[reason] ?? 0) + 1;
    if (!this.closed) this.emit('handoffError', Object.assign(error, { handshake: h }));
  }

  /** The socket to the server, as its own listener would have made it. */
  private serve({ handshake: h, fd, madeAt }: Handed & { error?: undefined }): void {
    if (this.closed) {
      new Socket({ fd }).destroy();
      return;
    }
    // As net.Server's own accept makes it: turned away at maxConnections;
    // its allowHalfOpen, pauseOnConnect (passed as pauseOnCreate) and
    // highWaterMark here, the rest in adoptSocket().
    const own = this.server as OwnServer;
    if (dropsConnection(this.server, h)) {
      closeSync(fd);
      this.responder.socketClosed(h);
      return;
    }
    let socket: Socket;
    try {
      // (pauseOnCreate and the high-water marks are options net.Socket takes
      // that its typings leave out.)
      socket = new Socket({
        fd, readable: true, writable: true, allowHalfOpen: own.allowHalfOpen === true,
        pauseOnCreate: own.pauseOnConnect === true,
        readableHighWaterMark: own.highWaterMark, writableHighWaterMark: own.highWaterMark,
      } as SocketConstructorOpts);
      adoptSocket(this.server, socket);
    } catch (error) {
      closeSync(fd);
      this.responder.socketClosed(h);
      this.fail(h, error as Error);
      return;
    }
    this.open++;
    const closed = (): void => {
      this.open--;
      this.responder.socketClosed(h);
    };
    this.closers.set(socket, closed);
    socket.once('close', closed);
    this.handoffs++;
    this.handoffTime.add(madeAt - h.ackTime);
    this.connectionTime.add(performance.timeOrigin + performance.now() - h.ackTime);
    this.emit('handoff', socket, h);
    this.server.emit('connection', socket);
  }

  /**
   * The connection of a handed socket lives on elsewhere (protectFor sends
   * it to another process, and this socket closes when it goes): its 'close'
   * here no longer ends the flow. Call the returned function when the
   * connection really is closed; its flow is then freed (a new handshake on
   * the 4-tuple is a new connection). Later calls do nothing.
   */
  detach(socket: Socket): () => void {
    const closed = this.closers.get(socket);
    if (closed === undefined) return () => {};
    this.closers.delete(socket);
    socket.off('close', closed);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      closed();
    };
  }

  /**
   * Listens beside the door and lets it pass SYNs below `rate` to the
   * listener (see ProtectOptions.calm): the listener first, so no SYN is
   * passed before it listens.
   */
  async startCalm(rate: number): Promise<void> {
    const o = this.responder.options;
    this.calmListener = await CalmListener.open(this.server, { addrs: o.addrs, ports: o.ports, mark: o.mark ?? DEFAULT_MARK, netns: o.netns }, (socket) => this.calmConnection(socket));
    this.responder.setCalm(rate);
    this.calmRate = rate;
  }

  /** A connection the kernel made: the server's, as its own accept would have made it. */
  private calmConnection(socket: Socket): void {
    if (this.closed || dropsConnection(this.server, () => socketEnds(socket))) {
      socket.destroy();
      return;
    }
    this.emit('calmConnection', socket);
    this.server.emit('connection', socket);
  }

  /** Whether close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** protectFor(): one connection closed, the child's queue being full. */
  countRelayQueueFull(): void {
    this.relayQueueFull++;
  }

  stats(): HandoffStats {
    const [handoffP50Ms, handoffP99Ms] = this.handoffTime.quantiles(0.5, 0.99);
    const [connectionP50Ms, connectionP99Ms] = this.connectionTime.quantiles(0.5, 0.99);
    return {
      handoffs: this.handoffs, handoffFailed: this.failed, handoffFailedBy: { ...this.failedBy }, handoffDuplicate: this.responder.stats().handoffduplicate, relayQueueFull: this.relayQueueFull, open: this.open,
      calm: this.calmRate, calmConnections: this.calmListener?.connections ?? 0,
      handoffP50Ms, handoffP99Ms, connectionP50Ms, connectionP99Ms,
    };
  }

  /** Stops taking new connections (sockets already handed over stay with the server). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.server.off('request', this.pollRing);
    // The door stops passing SYNs before the listener goes (a SYN passed to
    // no listener would be reset); connections it made stay with the server.
    if (this.calmRate !== 0) this.responder.setCalm(0);
    await this.calmListener?.close();
    await this.responder.close();
  }
}


/**
 * Shields `server` from SYN floods: syncache answers handshakes to
 * options.addrs/ports on options.iface and hands each completed one to
 * server as a kernel socket. Do not also call server.listen() on those ports:
 * behind the door protect() listens there itself while calm (options.calm).
 */
export async function protect(server: Server, options: ProtectOptions): Promise<Protection> {
  if (server === null || typeof server !== 'object' || typeof (server as Server).emit !== 'function') {
    throw new TypeError('protect(server, options): server must be a net.Server, http.Server or https.Server');
  }
  const { calm, ...rest } = options;
  if (calm !== undefined && (!Number.isInteger(calm) || calm < 0 || calm > 100_000_000)) {
    throw new RangeError(`options.calm must be an integer from 0 to 100000000 (SYNs a second; 0: off), got ${calm}`);
  }
  if (calm !== undefined && calm > 0 && (options.io ?? 'packet') === 'packet') {
    throw new RangeError("options.calm needs the XDP door (io 'xdp' or 'auto'): with io 'packet' pass 0 or leave it out");
  }
  const responder = await Responder.open({ ...rest, mark: options.mark ?? DEFAULT_MARK, handoff: true });
  const protection = new Protection(server, responder);
  const rate = responder.behindDoor ? calm ?? DEFAULT_CALM_RATE : 0;
  if (rate > 0) {
    try {
      await protection.startCalm(rate);
    } catch (error) {
      await protection.close();
      throw error;
    }
  }
  return protection;
}
