// One coarse timer for a whole SYN cache (undici's FastTimer, FreeBSD's one
// deadline per bucket): a single unref'd setTimeout armed at the earliest
// deadline the owner reports, never sooner than a granularity, re-armed after
// every run. The shard runs the cache's expire() on it.
import { clearTimeout, setTimeout } from 'node:timers';
import { systemClock, type Clock } from './clock.js';

/** What next() returns when nothing is due (SynCache.nextDeadline's -1). */
const NO_DEADLINE = -1;

export interface CoarseTimerOptions {
  clock?: Clock;
  /** Never fire sooner than this after arming (default 10 ms). */
  granularityMs?: number;
  /** Also fire at least this often even with no deadline (e.g. secret rotation). */
  periodMs?: number;
}

export type TimerState = 'idle' | 'armed' | 'stopped';

/**
 * One unref'd setTimeout for a whole SYN cache (undici FastTimer style):
 * armed at the earliest deadline `next()` reports, but never sooner than
 * granularityMs from now, and re-armed after every run. tick() is the run
 * (tests call it with a ManualClock instead of waiting). Call notify() after
 * something may have set an earlier deadline (a link()); it costs one
 * comparison while the timer is armed early enough.
 */
export class CoarseTimer {
  private handle: NodeJS.Timeout | undefined;
  private current: TimerState = 'idle';
  /** When the armed timeout fires (uint32 ms), valid while armed. */
  armedFor = 0;
  /** The delay of the last arming, ms. */
  armedDelay = 0;
  private readonly clock: Clock;
  private readonly granularityMs: number;
  private readonly periodMs: number | undefined;
  private readonly onTimeout = (): void => {
    this.handle = undefined;
    this.tick();
  };

  constructor(private readonly task: (now: number) => void, private readonly next: () => number, options: CoarseTimerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.granularityMs = options.granularityMs ?? 10;
    this.periodMs = options.periodMs;
    if (!(this.granularityMs >= 1)) throw new RangeError(`granularityMs must be >= 1, got ${this.granularityMs}`);
    if (this.periodMs !== undefined && !(this.periodMs >= this.granularityMs)) {
      throw new RangeError(`periodMs must be >= granularityMs (${this.granularityMs}), got ${this.periodMs}`);
    }
  }

  get state(): TimerState {
    return this.current;
  }

  /** Starts (or keeps) the timer for the current earliest deadline. */
  notify(): void {
    if (this.current === 'stopped') return;
    const d = this.next();
    if (this.current === 'armed') {
      if (d === NO_DEADLINE || ((d - this.armedFor) | 0) >= -this.granularityMs) return;
    } else if (d === NO_DEADLINE && this.periodMs === undefined) {
      return;
    }
    this.arm(d);
  }

  /** Runs the task now and re-arms. */
  tick(): void {
    if (this.current === 'stopped') return;
    this.disarm();
    try {
      this.task(this.clock.now());
    } finally {
      if ((this.current as TimerState) !== 'stopped') {
        const d = this.next();
        if (d !== NO_DEADLINE || this.periodMs !== undefined) this.arm(d);
      }
    }
  }

  /** Cancels the timer for good; idempotent. */
  stop(): void {
    this.disarm();
    this.current = 'stopped';
  }

  private arm(deadline: number): void {
    const now = this.clock.now();
    let delay = deadline === NO_DEADLINE ? Infinity : (deadline - (now >>> 0)) | 0;
    if (this.periodMs !== undefined && delay > this.periodMs) delay = this.periodMs;
    if (delay < this.granularityMs) delay = this.granularityMs;
    this.disarm();
    this.armedDelay = delay;
    this.armedFor = (now + delay) >>> 0;
    this.handle = setTimeout(this.onTimeout, delay);
    this.handle.unref();
    this.current = 'armed';
  }

  private disarm(): void {
    if (this.handle !== undefined) {
      clearTimeout(this.handle);
      this.handle = undefined;
    }
    if (this.current === 'armed') this.current = 'idle';
  }
}
