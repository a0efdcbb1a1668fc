// Time for the engine: a monotonic millisecond clock behind an interface so
// that timers (SYN-ACK retransmits, secret rotation) can be driven by a
// ManualClock in tests instead of sleeps.
//
// systemClock reads performance.now() (monotonic, unaffected by wall-clock
// steps) offset by performance.timeOrigin, so values are comparable across
// worker threads of one process. The SYN cache keeps times as uint32 ms
// (value >>> 0) and compares them wrap-safely; the clock itself never wraps.
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Milliseconds, monotonic (may be fractional). */
  now(): number;
}

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
};

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  private t: number;

  constructor(start = 0) {
    if (!Number.isFinite(start)) throw new RangeError(`start must be a finite number of ms, got ${start}`);
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  /** Moves time forward by `ms` (>= 0). */
  advance(ms: number): number {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`advance() needs a finite ms >= 0, got ${ms}`);
    this.t += ms;
    return this.t;
  }

  /** Sets the time; it may not go backwards (the clock is monotonic). */
  set(ms: number): void {
    if (!(ms >= this.t) || !Number.isFinite(ms)) throw new RangeError(`set() needs a finite time >= ${this.t}, got ${ms}`);
    this.t = ms;
  }
}
