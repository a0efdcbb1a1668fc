// The data that follows a final ACK while its kernel socket is being made
// (protect()): per held cache entry, the in-order bytes from IRS+1 on, at
// most the window our SYN-ACK advertised (the kernel drops what lies past its
// receive window too, and the peer may not send it), and at most `limit`
// bytes over all entries. What is not kept the peer resends to the socket.
import { C } from './stats.js';

interface Held {
  chunks: Uint8Array[];
  /** Sequence number of the first byte not yet taken. */
  seq: number;
  /** Sequence number of the byte after the last one kept. */
  next: number;
}

export class HeldData {
  private readonly flows = new Map<number, Held>();
  private total = 0;

  /**
   * @param window the window our SYN-ACK advertised (bytes a flow may hold)
   * @param limit bytes held over every flow
   * @param stats the shard's counters (holdoverwindow, holdfull)
   */
  constructor(private readonly window: number, private readonly limit: number, private readonly stats: Float64Array) {}

  /** Bytes held over every flow. */
  get bytes(): number {
    return this.total;
  }

  /**
   * Keeps `data` (a segment's payload starting at sequence `seq`) for entry
   * e, whose flow's data starts at `start` (IRS+1), if it is the next
   * in-order piece; cut at the advertised window, refused past the limit.
   */
  collect(e: number, start: number, seq: number, data: Uint8Array): void {
    let length = data.length;
    if (length === 0) return;
    let held = this.flows.get(e);
    const expected = held?.next ?? start;
    if (seq !== expected) return; // out of order or repeated: the peer resends it
    const room = this.window - ((expected - start) >>> 0);
    if (length > room) {
      this.stats[C.holdoverwindow]++;
      if (room <= 0) return;
      length = room;
    }
    if (this.total + length > this.limit) {
      this.stats[C.holdfull]++;
      return;
    }
    if (held === undefined) {
      held = { chunks: [], seq: expected, next: expected };
      this.flows.set(e, held);
    }
    held.chunks.push(data.slice(0, length));
    held.next = (held.next + length) >>> 0;
    this.total += length;
  }

  /**
   * What entry e collected since the last take, in order, with the sequence
   * number of its first byte (`start` if nothing was ever kept); later data
   * is collected from where this ends.
   */
  take(e: number, start: number): { data: Uint8Array[]; seq: number } {
    const held = this.flows.get(e);
    if (held === undefined) return { data: [], seq: start };
    const taken = { data: held.chunks, seq: held.seq };
    for (const c of held.chunks) this.total -= c.length;
    held.chunks = [];
    held.seq = held.next;
    return taken;
  }

  /** Drops what entry e held. */
  forget(e: number): void {
    const held = this.flows.get(e);
    if (held === undefined) return;
    for (const c of held.chunks) this.total -= c.length;
    this.flows.delete(e);
  }
}
