// On the thread that owns a shard's ring (the main thread, or the shard's
// worker): each completed handshake becomes a kernel socket right after the
// batch that completed it, without a round trip to another thread. Only the
// finished fd travels on (as a number: fds belong to the process).
//
//   final ACK ─> engine: entry held (never evicted), data that follows is collected
//            ─> (after the batch, Handover.completeHandoffs) a TCP_REPAIR socket,
//               the data into its receive queue, SO_MARK, repair off
//            ─> deliver({ handshake, fd, madeAt })
//
// Making a socket takes tens of microseconds of syscalls; at most
// HANDOFFS_PER_TURN are made between two reads of the ring, so a burst of
// completions holds up SYN processing only briefly.
import type { Handshake } from '../engine/engine.js';
import { C, type Stats } from '../engine/stats.js';
import { flowKey, type FlowOf, type HandoffFlow } from './flow.js';
import { repairParams, type RepairParams } from './repair.js';

/** A handshake handed over: its socket's fd and when the socket was done (ms since the epoch), or why there is none. */
export type Handed =
  | { handshake: Handshake; fd: number; madeAt: number; error?: undefined }
  | { handshake: Handshake; error: Error; fd?: undefined; madeAt?: undefined };

export interface SocketMakerOptions {
  /** SO_MARK that lets the sockets through the gate. */
  mark: number;
  /** The raw window of our SYN-ACKs (config.window). */
  ourWindow: number;
  /** The namespace the sockets live in (a path under /run/netns). */
  netns?: string;
  /** The most handshakes waiting for or being made into sockets (default HANDOFF_BACKLOG). */
  backlog?: number;
}

/** Where the socket maker's sockets come from: the handover of the shard whose ring the handshakes completed on (lib/handoff/handover.ts). */
export interface SocketSource {
  /** Makes each flow's socket; each result is its fd or the error that stopped it (see Handover.completeHandoffs). */
  completeHandoffs(items: ReadonlyArray<{ flow: HandoffFlow; params: RepairParams }>, doneAt?: number[]): Promise<Array<number | Error>>;
  /** A held entry whose handshake is not made into a socket goes back to the cache (see SynEngine.release). */
  release(hold: number, iss: number): void;
  /** A held entry whose socket could not be made this time waits for the peer's retransmit (see SynEngine.retry). */
  retry(hold: number, iss: number): void;
  /** The flow's socket closed: skip its stragglers for a TIME_WAIT. */
  linger(flow: FlowOf): void;
}

const HANDOFFS_PER_TURN = 32;
/**
 * The default backlog: Linux's somaxconn. Past it a completed handshake is
 * refused, as a full accept queue drops the final ACK: the engine counts it
 * aborted (its entry stays, or its cookie does) and the peer's next segment
 * completes it again once there is room.
 */
export const HANDOFF_BACKLOG = 4096;

export class SocketMaker {
  private readonly queue: Handshake[] = [];
  /** Handshakes taken from the queue whose sockets are not reported yet. */
  private making = 0;
  private readonly backlog: number;
  private scheduled = false;
  /**
   * Flows being handed over, with the peer's ISN: the same ISN again
   * meanwhile is a duplicate. Once a flow's socket is done its segments are
   * skipped natively (the ring's flow set) until its TIME_WAIT is over, so
   * it is forgotten here then.
   */
  private readonly flows = new Map<string, number>();

  constructor(
    private readonly source: SocketSource,
    private readonly stats: Stats,
    private readonly options: SocketMakerOptions,
    private readonly deliver: (handed: Handed[]) => void,
  ) {
    this.backlog = options.backlog ?? HANDOFF_BACKLOG;
  }

  /**
   * A completed (held) handshake: its socket is made after the batch, so the
   * segments right behind the final ACK come along. False (counted
   * handoffqueuefull): the backlog is full, the handshake is refused and the
   * engine keeps it for the peer's retry.
   */
  push(h: Handshake): boolean {
    if (this.queue.length + this.making >= this.backlog) {
      this.stats.values[C.handoffqueuefull]++;
      return false;
    }
    this.queue.push(h);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.run);
    }
    return true;
  }

  private readonly run = (): void => {
    const batch = this.queue.splice(0, HANDOFFS_PER_TURN);
    this.making += batch.length;
    void this.make(batch).finally(() => { this.making -= batch.length; });
    if (this.queue.length > 0) setImmediate(this.run);
    else this.scheduled = false;
  };

  private async make(batch: Handshake[]): Promise<void> {
    // A handshake is its own HandoffFlow: the handover reads its fields as they are.
    const items: Array<{ flow: Handshake; params: RepairParams }> = [];
    const keys: string[] = [];
    const failed: Handed[] = [];
    for (const h of batch) {
      // The same connection completing twice (completed through its cookie
      // with no entry free to hold it - every one in reach held - so its
      // next segment validates as a cookie too, in the same ring read or
      // while its socket is being made) is not a new one. A new connection
      // on a 4-tuple handed over before has a new ISN. (A flow already
      // served is skipped natively until its TIME_WAIT is over.)
      const key = flowKey(h);
      if (this.flows.get(key) === h.irs) {
        this.stats.values[C.handoffduplicate]++;
        this.release(h);
        continue;
      }
      this.flows.set(key, h.irs);
      try {
        // (Its tsNow is read again where the socket is made: the engine's clock.)
        items.push({ flow: h, params: repairParams(h, this.options) });
        keys.push(key);
      } catch (error) {
        this.release(h);
        this.flows.delete(key);
        failed.push({ handshake: h, error: error as Error });
      }
    }
    const handed: Handed[] = failed;
    if (items.length > 0) {
      let results: Array<number | Error>;
      const doneAt: number[] = [];
      try {
        results = await this.source.completeHandoffs(items, doneAt);
      } catch (error) {
        // Not one of a socket's own errors (those are results): the batch
        // fails as a whole, and each peer's next segment retries.
        for (const { flow } of items) if (flow.hold >= 0) this.source.retry(flow.hold, flow.iss);
        results = items.map(() => error as Error);
      }
      results.forEach((result, i) => {
        const h = items[i].flow;
        this.flows.delete(keys[i]);
        if (typeof result === 'number') handed.push({ handshake: h, fd: result, madeAt: doneAt[i] });
        else handed.push({ handshake: h, error: result });
      });
    }
    if (handed.length > 0) this.deliver(handed);
  }

  /** The flow's socket closed: its stragglers stay skipped for a TIME_WAIT (a new handshake on it, with a new ISN, is a new connection). */
  socketClosed(flow: FlowOf): void {
    this.source.linger(flow);
  }

  private release(h: Handshake): void {
    if (h.hold >= 0) this.source.release(h.hold, h.iss);
  }
}
