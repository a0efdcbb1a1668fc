// Completed flows become kernel sockets here, in one synchronous step on the
// thread that owns their ring (SocketMaker calls it after the batch that
// completed them; the shard is the host, lib/responder/shard.ts):
//
//   1. One look into the ring for the flows' data among the frames still
//      waiting there (peek, on a TPACKET_V2 ring: nothing is taken, so under
//      a flood the SYNs before it wait for the next drain instead of holding
//      up this turn for as long as answering them takes).
//   2. Per flow, each done before the next is begun (one turn may complete
//      many handshakes, and the first waits for none of the others): a TCP_REPAIR socket from its params; into its receive queue
//      the data that came with and after the final ACK - what the engine
//      held for it (lib/engine/held-data.ts), then what the look found right
//      after that, never past the window our SYN-ACK gave; SO_MARK (the gate
//      lets its packets through); repair off. The flow is marked handed over
//      (the ring skips its segments natively) and its held entry released.
//   3. Late data: a segment of the flow that reached the ring after the look
//      and before SO_MARK opened the gate was dropped by the gate, and the
//      ring skips it once the flow is marked, so the peer would resend it
//      only after ~200 ms. So look again from where the look ended; if data
//      came, close the gate to the socket again, return it to repair, look
//      once more, and inject what the socket lacks (from its rcv_nxt on: what
//      arrived while the gate was open it has already), then open the gate
//      and leave repair with a window probe, whose ACK tells the peer the
//      data arrived (lateinjected). Rare alone; more frequent under a flood,
//      with batches of sockets finished one after another since the look.
import { closeSync } from 'node:fs';
import { addon, type RepairParams } from '../native/addon.js';
import { FLOW_WORDS, writeFlowWords } from '../native/flow-words.js';
import { packRepairParams, REPAIR_WORDS } from '../native/repair-words.js';
import { C, type Stats } from '../engine/stats.js';
import type { FlowOf, HandoffFlow } from './flow.js';

const { finishRepair } = addon;

/** What a handover needs of the shard whose ring the flows completed on (lib/responder/shard.ts). */
export interface HandoverHost {
  /** The shard has closed: its ring is gone. */
  readonly isClosed: boolean;
  /** One look into the ring for these flows' data, taking nothing (see NativeRing.peek). */
  peek(flows: Uint32Array, start: number, out: Uint8Array): number;
  /** The engine's timestamp clock now (see SynEngine.tsNow). */
  tsNow(): number;
  /** What a held entry collected since the last take (see SynEngine.takeHeldData). */
  takeHeldData(hold: number, iss: number): { data: Uint8Array[]; seq: number } | undefined;
  /** A held entry goes back to the cache (see SynEngine.release). */
  release(hold: number, iss: number): void;
  /** A held entry whose socket could not be made waits for the peer's retransmit (see SynEngine.retry). */
  retry(hold: number, iss: number): void;
  /**
   * The socket has left repair: the flow's segments go to it from now on.
   * Behind the nftables gate its SO_MARK did that already; the XDP door
   * passes the flow to the kernel from here (`words`: its writeFlowWords).
   */
  opened(flow: FlowOf, words: Uint32Array): void;
  /** The flow is a kernel socket's now: its segments are skipped natively (`words`: its writeFlowWords). */
  mark(flow: FlowOf, kernelSocket: boolean, words: Uint32Array): void;
  /** The flow's socket closed: skip its stragglers for a TIME_WAIT. */
  linger(flow: FlowOf): void;
}

/** A data segment found in the ring by a look. */
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

/**
 * Closes a socket whose handoff failed without a segment on the wire: back
 * into repair first (it may have left it already, e.g. when the door could
 * not take the flow), where close() sends neither FIN nor RST. The peer
 * resends what it sent, as after a final ACK a full accept queue dropped.
 */
function closeQuietly(fd: number): void {
  try {
    addon.reopenRepair(fd);
  } catch {
    // Still in repair (it failed before leaving), or not a socket any more: close as it is.
  }
  closeSync(fd);
}

/** Chunks as one buffer (undefined: none). */
function join(chunks: Uint8Array[]): Uint8Array | undefined {
  return chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

export class Handover {
  /** One flow's words, reused. */
  private readonly flow = new Uint32Array(FLOW_WORDS);
  /** A handoff's repair params, packed (see packRepairParams). */
  private readonly repairWords = new Uint32Array(REPAIR_WORDS);
  /** Where a look writes what it finds, and the same as words. */
  private readonly peekOut = new Uint8Array(1 << 20);
  private readonly peekWords = new Uint32Array(this.peekOut.buffer);

  /**
   * @param host the shard whose ring the flows completed on
   * @param stats its counters (holdoverwindow, lateinjected)
   * @param window the raw window of our SYN-ACKs (config.window): what a flow may send before its socket exists
   */
  constructor(private readonly host: HandoverHost, private readonly stats: Stats, private readonly window: number) {}

  /**
   * Makes each flow's socket (see the file header). Each result is the
   * socket's fd, or the error that stopped it (its entry kept for the
   * peer's retransmit, SynEngine.retry; its flow
   * not marked); doneAt[i], if given, is when result i was done (ms since the
   * epoch). Each params gets its tsNow (if it has one) and stayInRepair set
   * here. Synchronous throughout; a promise for SocketMaker, which awaits it.
   */
  async completeHandoffs(items: ReadonlyArray<{ flow: HandoffFlow; params: RepairParams }>, doneAt?: number[]): Promise<Array<number | Error>> {
    if (this.host.isClosed) {
      return items.map(() => Object.assign(new Error('the responder closed during the handoff'), { code: 'ECANCELED' }));
    }
    // The flows' words, once (FLOW_WORDS each).
    const flows = new Uint32Array(FLOW_WORDS * items.length);
    items.forEach((it, i) => flows.set(writeFlowWords(it.flow, this.flow), FLOW_WORDS * i));
    const look = this.peekData(flows, -1);
    return items.map(({ flow, params }, i) => {
      const words = flows.subarray(FLOW_WORDS * i, FLOW_WORDS * (i + 1));
      let made = false;
      try {
        let fd: number;
        try {
          // The timestamp clock as it reads now, from the engine that stamped
          // the SYN-ACK: the socket's first TSval continues it exactly.
          if (params.tsNow !== undefined) params.tsNow = this.host.tsNow();
          params.stayInRepair = true;
          fd = addon.repairSocketWords(packRepairParams(params, words, this.repairWords), params.netns);
        } catch (error) {
          return error as Error;
        }
        // A hold that went stale meanwhile has lost what followed the final
        // ACK (the peer resends it); the final ACK's own data is still here.
        const held = flow.hold >= 0 ? this.host.takeHeldData(flow.hold, flow.iss) : undefined;
        const data = held?.data ?? (flow.payload ? [flow.payload.subarray(0, this.window)] : []);
        const last = this.windowEnd(flow);
        let end = 0;
        if (held !== undefined) {
          const extended = extend(data, (held.seq + bytesOf(held.data)) >>> 0, look.segments[i], last);
          end = extended.end;
          this.stats.values[C.holdoverwindow] += extended.cut;
        }
        try {
          finishRepair(fd, join(data), params.mark ?? 0, params.windowProbe === true);
          this.opened(flow, words, params.mark ?? 0);
          if (held !== undefined && params.mark) this.injectLate(fd, words, params.mark, end, last, look.next);
        } catch (error) {
          closeQuietly(fd);
          return error as Error;
        }
        this.host.mark(flow, true, words);
        made = true;
        return fd;
      } finally {
        if (flow.hold >= 0) {
          if (made) this.host.release(flow.hold, flow.iss);
          else this.host.retry(flow.hold, flow.iss);
        }
        if (doneAt !== undefined) doneAt[i] = performance.timeOrigin + performance.now();
      }
    });
  }

  /**
   * The socket is out of repair: behind the door its flow's segments pass to
   * it from now on. A door whose handed-over map is full cannot list the
   * flow; a socket with a mark is live all the same (the door passes a
   * marked socket's segments, doorKernelSocket) and may already have
   * acknowledged data, which closing it would lose: it stays, counted
   * (handedoverfull; its TIME_WAIT stragglers will not reach it). Without a
   * mark nothing has reached it: the handoff fails and the peer resends.
   */
  private opened(flow: HandoffFlow, words: Uint32Array, mark: number): void {
    try {
      this.host.opened(flow, words);
    } catch (error) {
      const code = (error as { code?: string }).code;
      const full = code === 'E2BIG' || code === 'ENOMEM';
      if (mark === 0 || !full) throw error;
      this.stats.values[C.handedoverfull]++;
    }
  }

  /** A held entry whose handshake is not made into a socket goes back to the cache. */
  release(hold: number, iss: number): void {
    this.host.release(hold, iss);
  }

  /** A held entry whose socket could not be made waits for the peer's retransmit. */
  retry(hold: number, iss: number): void {
    this.host.retry(hold, iss);
  }

  /** The flow's socket closed: its stragglers stay skipped for a TIME_WAIT. */
  linger(flow: FlowOf): void {
    this.host.linger(flow);
  }

  /**
   * One look into the ring (see NativeRing.peek) for the data segments of
   * these flows (FLOW_WORDS each, as writeFlowWords gives them), by flow,
   * from slot `start` (-1: the read cursor), and the slot to look from next.
   */
  private peekData(flows: Uint32Array, start: number): { next: number; segments: Segment[][] } {
    const next = this.host.peek(flows, start, this.peekOut);
    // The shard opens a TPACKET_V2 ring whenever it holds flows for a handoff.
    if (next < 0) throw new Error('the handoff needs a ring that can look ahead (TPACKET_V2), and this one cannot');
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
   * Step 3 of the file header for one socket (already out of repair, its
   * gate open): `end` is where its injected stream ends, `since` the slot
   * the first look ended at.
   */
  private injectLate(fd: number, flow: Uint32Array, mark: number, end: number, last: number, since: number): void {
    const late: Uint8Array[] = [];
    extend(late, end, this.peekData(flow, since).segments[0], last);
    if (late.length === 0) return;
    const rcvNxt = addon.reopenRepair(fd);
    const all: Uint8Array[] = [];
    this.stats.values[C.holdoverwindow] += extend(all, end, this.peekData(flow, since).segments[0], last).cut;
    const bytes = join(all) ?? new Uint8Array(0);
    const has = (rcvNxt - end) >>> 0; // bytes of it the socket got (a hole: huge, and nothing goes in)
    const missing = has < bytes.length ? bytes.subarray(has) : undefined;
    finishRepair(fd, missing, mark, missing !== undefined);
    if (missing !== undefined) this.stats.values[C.lateinjected]++;
  }

  /** The sequence number just past the window our SYN-ACK gave the flow: no byte from there on is ever injected. */
  private windowEnd(flow: HandoffFlow): number {
    return (flow.irs + 1 + this.window) >>> 0;
  }
}
