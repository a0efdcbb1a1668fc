// Messages on their way from a shard's worker to the main thread. A
// MessagePort queues without limit, so a main thread that falls behind (a
// long GC, a busy server) would let handshakes pile up in it; the worker
// counts what it posts in shared memory, the main thread counts down what
// it receives, and past the limit the worker refuses new handshakes (the
// engine counts them aborted and keeps them for the peer's retry), as a
// full accept queue does.
/** The default limit: Linux's somaxconn, as the socket makers' backlog. */
export const WORKER_BACKLOG = 4096;

export class InFlight {
  private readonly cell: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4), readonly limit = WORKER_BACKLOG) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
    this.cell = new Int32Array(buffer, 0, 1);
  }

  /** Handshakes posted and not yet received. */
  get count(): number {
    return Atomics.load(this.cell, 0);
  }

  /** Whether the worker must refuse new handshakes now. */
  get full(): boolean {
    return this.count >= this.limit;
  }

  /** The worker posted n handshakes. */
  posted(n = 1): void {
    Atomics.add(this.cell, 0, n);
  }

  /** The main thread received n handshakes. */
  received(n = 1): void {
    Atomics.sub(this.cell, 0, n);
  }
}
