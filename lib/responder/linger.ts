// Flows that were handed over (or reported) and have closed: their
// stragglers stay skipped natively for a while (a TIME_WAIT's span). A busy
// server closes thousands of flows a second, so a minute of them is kept as
// words in typed arrays, not as objects for the GC to walk: a ring of
// (time, the flow's words, the peer's ISN) that grows when full, up to a
// limit. Past it the oldest flow stops lingering early, as Linux closes a
// socket without TIME_WAIT once tcp_max_tw_buckets are taken (whose default,
// 262,144, is ours): a closing flood cannot grow it without bound.
import { FLOW_WORDS } from '../native/flow-words.js';

const ENTRY_WORDS = FLOW_WORDS + 1;
/** The most flows lingering at once (Linux's tcp_max_tw_buckets default). */
export const LINGER_LIMIT = 262_144;

export class LingerQueue {
  private times: Float64Array;
  private words: Uint32Array;
  private head = 0;
  private count = 0;
  private readonly flow = new Uint32Array(FLOW_WORDS);

  /** `limit`: the most flows it holds (see push). */
  constructor(initialCapacity = 1024, readonly limit = LINGER_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
    initialCapacity = Math.min(initialCapacity, limit);
    this.times = new Float64Array(initialCapacity);
    this.words = new Uint32Array(initialCapacity * ENTRY_WORDS);
  }

  get size(): number {
    return this.count;
  }

  /**
   * Adds a flow that closed at `time` (times must not go backwards). At the
   * limit, the oldest flow comes out first, through evicted(flow, peerIsn)
   * (`flow` reused, as in popDue); returns whether one did.
   */
  push(time: number, flow: Uint32Array, peerIsn: number, evicted?: (flow: Uint32Array, peerIsn: number) => void): boolean {
    let full = false;
    if (this.count === this.limit) {
      full = true;
      this.popOldest(evicted);
    }
    if (this.count === this.times.length) this.grow();
    const i = (this.head + this.count) % this.times.length;
    this.times[i] = time;
    const o = i * ENTRY_WORDS;
    for (let k = 0; k < FLOW_WORDS; k++) this.words[o + k] = flow[k];
    this.words[o + FLOW_WORDS] = peerIsn >>> 0;
    this.count++;
    return full;
  }

  private popOldest(due?: (flow: Uint32Array, peerIsn: number) => void): void {
    const flow = this.flow;
    const o = this.head * ENTRY_WORDS;
    for (let k = 0; k < FLOW_WORDS; k++) flow[k] = this.words[o + k];
    const isn = this.words[o + FLOW_WORDS];
    this.head = (this.head + 1) % this.times.length;
    this.count--;
    due?.(flow, isn);
  }

  /**
   * Takes, oldest first, every flow that closed at or before `cutoff`,
   * calling due(flow, peerIsn) for each (`flow` is reused: copy it to keep it).
   */
  popDue(cutoff: number, due: (flow: Uint32Array, peerIsn: number) => void): void {
    while (this.count > 0 && this.times[this.head] <= cutoff) this.popOldest(due);
  }

  /** Doubles the ring (up to the limit), oldest first again. */
  private grow(): void {
    const n = this.times.length;
    const size = Math.min(2 * n, this.limit);
    const times = new Float64Array(size);
    const words = new Uint32Array(size * ENTRY_WORDS);
    for (let k = 0; k < this.count; k++) {
      const from = (this.head + k) % n;
      times[k] = this.times[from];
      words.set(this.words.subarray(from * ENTRY_WORDS, (from + 1) * ENTRY_WORDS), k * ENTRY_WORDS);
    }
    this.times = times;
    this.words = words;
    this.head = 0;
  }
}
