// protect(server, options): syncache answers the handshakes, and each
// completed one reaches server's 'connection' as an ordinary net.Socket -
// any net.Server, http.Server or https.Server serves it as usual, without
// ever calling listen().
//
//   final ACK ─> engine: entry held (never evicted), data that follows is collected
//            ─> (after the batch, on the thread that owns the ring, in one
//               synchronous step, see Shard.completeHandoffs) a TCP_REPAIR
//               socket with ISS/IRS/MSS/wscale/SACK/timestamps; a look into
//               the ring for the flow's data still waiting there; all of it
//               into the receive queue; SO_MARK (the gate lets it through);
//               repair off; data that landed meanwhile injected after all;
//               release the entry; the ring skips the flow from now on
//            ─> new net.Socket({ fd }) -> server.emit('connection', socket)
//
// Making the socket takes ~30-50 µs of syscalls; doing it right there costs
// less than a thread-pool round trip (two thread wake-ups, ~200 µs on a VM).
// With the SYN path on this thread, at most HANDOFFS_PER_TURN sockets are
// made between two reads of the ring. With syncookies 'only' there is no entry to hold:
// data after the final ACK's own is dropped by the gate until the socket
// exists, and the peer resends it as after any loss.
import { EventEmitter } from 'node:events';
import { Socket, type Server } from 'node:net';
import { Responder, type ResponderOptions } from '../responder/responder.js';
import type { Handshake } from '../engine/engine.js';
import { repairParams, DEFAULT_MARK, type RepairParams } from './repair.js';
import { flowKey } from '../responder/shard.js';


export type ProtectOptions = Omit<ResponderOptions, 'accept' | 'hold' | 'clock'>;

export interface HandoffStats {
  /** Connections handed to the server. */
  handoffs: number;
  /** Handshakes whose socket could not be made (the peer's next segment retries). */
  handoffFailed: number;
  /** Sockets handed over and still open. */
  open: number;
  /** Handshakes of a flow already handed over (ignored). */
  handoffDuplicate: number;
  /** Handoff time, ACK to 'connection', over the last 4096 handoffs (ms). */
  handoffP50Ms: number | null;
  handoffP99Ms: number | null;
}

const LATENCY_WINDOW = 4096;
const HANDOFFS_PER_TURN = 32;

export interface ProtectionEvents {
  handoff: [Socket, Handshake];
  error: [Error];
}

export class Protection extends EventEmitter<ProtectionEvents> {
  private handoffs = 0;
  private failed = 0;
  private open = 0;
  private readonly latency = new Float64Array(LATENCY_WINDOW);
  private latencyCount = 0;
  private closed = false;
  /** Flows being handed over, with the peer's ISN: the same ISN again is a duplicate. */
  private readonly flows = new Map<string, number>();
  private duplicates = 0;

  constructor(readonly server: Server, readonly responder: Responder, private readonly mark: number) {
    super();
    responder.on('handshake', (h) => {
      // After the batch: the segments right behind the final ACK are collected too.
      this.queue.push(h);
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(this.runQueue);
      }
    });
    responder.on('error', (e) => this.emit('error', e));
  }

  /**
   * Handshakes waiting for their socket. Sockets are made synchronously
   * (~30-50 µs of syscalls each, as the kernel makes a child socket in
   * softirq), a batch at a time with one look into the ring between making
   * them and opening the gates; with the SYN path on this thread,
   * HANDOFFS_PER_TURN at most between two reads of the ring, so a burst of
   * completions delays SYN processing by about a millisecond at most.
   */
  private readonly queue: Handshake[] = [];
  private scheduled = false;
  private readonly runQueue = (): void => {
    void this.handOff(this.queue.splice(0, HANDOFFS_PER_TURN));
    if (this.queue.length > 0) setImmediate(this.runQueue);
    else this.scheduled = false;
  };

  private async handOff(batch: Handshake[]): Promise<void> {
    const r = this.responder;
    const items: Array<{ handshake: Handshake; params: RepairParams }> = [];
    for (const h of batch) {
      // The same connection completing twice (completed through its cookie
      // with no entry free to hold it - every one in reach held - so its
      // next segment validates as a cookie too) is not a new one.
      // A new connection on a 4-tuple we handed over before has a new ISN.
      // (A flow already served is skipped natively until its TIME_WAIT is over.)
      const key = flowKey(h);
      if (this.flows.get(key) === h.irs) {
        this.duplicates++;
        r.release(h);
        continue;
      }
      this.flows.set(key, h.irs);
      try {
        // (Its tsNow is read again where the socket is made: the engine's clock.)
        items.push({ handshake: h, params: repairParams(h, { netns: r.options.netns, ourWindow: r.config.window, mark: this.mark }) });
      } catch (error) {
        r.release(h);
        this.fail(h, error as Error);
      }
    }
    if (items.length === 0) return;
    // On the thread that owns the flows' ring (this one, or their worker), in
    // one synchronous step: the sockets, a look into the ring, then for each
    // the data that came meanwhile (the gate dropped it, the ring kept it)
    // into its receive queue, SO_MARK, repair off; holds released, flows
    // skipped natively. Held entries bring everything from the final ACK on;
    // without a cache (syncookies only) the final ACK's own data is all there is.
    const results = await r.completeHandoffs(items);
    results.forEach((result, i) => {
      const h = items[i].handshake;
      if (typeof result === 'number') this.serve(h, result);
      else this.fail(h, result);
    });
  }

  private fail(h: Handshake, error: Error): void {
    this.failed++;
    const key = flowKey(h);
    if (this.flows.get(key) === h.irs) this.flows.delete(key);
    if (!this.closed) this.emit('error', Object.assign(error, { handshake: h }));
  }

  /** The socket to the server, as its own listener would have made it. */
  private serve(h: Handshake, fd: number): void {
    if (this.closed) {
      new Socket({ fd }).destroy();
      return;
    }
    // Its allowHalfOpen and pauseOnConnect (pauseOnCreate is the option
    // net.Server passes for the latter).
    const own = this.server as Server & { allowHalfOpen?: boolean; pauseOnConnect?: boolean };
    const socket = new Socket({
      fd, readable: true, writable: true, allowHalfOpen: own.allowHalfOpen === true,
      ...({ pauseOnCreate: own.pauseOnConnect === true } as object),
    });
    const key = flowKey(h);
    this.open++;
    socket.once('close', () => {
      this.open--;
      if (this.flows.get(key) === h.irs) this.flows.delete(key);
      // Its stragglers stay skipped for the TIME_WAIT's span.
      this.responder.linger(h);
    });
    this.handoffs++;
    this.latency[this.latencyCount++ % LATENCY_WINDOW] = performance.timeOrigin + performance.now() - h.ackTime;
    this.emit('handoff', socket, h);
    this.server.emit('connection', socket);
  }

  stats(): HandoffStats {
    const n = Math.min(this.latencyCount, LATENCY_WINDOW);
    const sorted = Array.from(this.latency.subarray(0, n)).sort((a, b) => a - b);
    const q = (p: number) => (n === 0 ? null : Number(sorted[Math.min(n - 1, Math.floor(p * n))].toFixed(3)));
    return { handoffs: this.handoffs, handoffFailed: this.failed, handoffDuplicate: this.duplicates, open: this.open, handoffP50Ms: q(0.5), handoffP99Ms: q(0.99) };
  }

  /** Stops taking new connections (sockets already handed over stay with the server). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.responder.close();
  }
}


/**
 * Shields `server` from SYN floods: syncache answers handshakes to
 * options.addrs/ports on options.iface and hands each completed one to
 * server as a kernel socket. Do not also call server.listen() on those ports.
 */
export async function protect(server: Server, options: ProtectOptions): Promise<Protection> {
  if (server === null || typeof server !== 'object' || typeof (server as Server).emit !== 'function') {
    throw new TypeError('protect(server, options): server must be a net.Server, http.Server or https.Server');
  }
  const mark = options.mark ?? DEFAULT_MARK;
  const responder = await Responder.open({ lowLatency: true, ...options, mark, hold: true });
  return new Protection(server, responder, mark);
}
