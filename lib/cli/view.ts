// What the CLI prints: a one-screen live view on a terminal (laid out by
// view-layout.ts, drawn in place by live-screen.ts), JSON lines for scripts.
// Both read the same counter snapshots.

import { renderView, viewNumbers, type Counters, type Facts, type ViewFrame } from './view-layout.js';
import { LiveScreen } from './live-screen.js';
import type { Responder } from '../responder/responder.js';

export type { Counters } from './view-layout.js';

/**
 * The responder's state beside its counters: io (the option it was opened
 * with: packet, xdp or auto) and backend (the path it took: packet or xdp),
 * pause, the fleet key's epoch (null: random secrets), workers.
 */
export function viewFacts(responder: Responder): Facts {
  return {
    io: responder.options.io ?? 'packet', backend: responder.backend,
    paused: responder.paused, keyEpoch: responder.secrets.epoch, workers: responder.workerCount,
  };
}

export function jsonLine(type: string, fields: Record<string, unknown>): string {
  return JSON.stringify({ type, time: new Date().toISOString(), ...fields });
}

/** Counters the final text line shows even at zero, so it always says something. */
const FINAL_ALWAYS = ['parsedSyn', 'synackssent', 'completed'];

/** The last line of a text-mode run: the headline counters (zero or not), then every other value that is not zero. */
export function finalStatsLine(counters: Counters, extra: Facts): string {
  const all: Facts = { ...extra, ...counters };
  const headline = FINAL_ALWAYS.map((k) => `${k}=${counters[k] ?? 0}`);
  const rest = Object.entries(all)
    .filter(([k, n]) => !FINAL_ALWAYS.includes(k) && n !== 0 && n !== null && n !== '' && n !== false && n !== undefined)
    .map(([k, n]) => `${k}=${n}`);
  return `final stats: ${[...headline, ...rest].join(' ')}`;
}

export interface ReportOptions {
  json: boolean;
  /** Ends the report as a signal would, with the final stats (e.g. the responder's 'error'); its value is returned. */
  until?: Promise<Error | undefined>;
  title: string;
  intervalS: number;
  /** Every counter now, plus extra fields for the screen and the JSON lines. */
  snapshot(): { counters: Counters; extra: Facts };
}

/**
 * Reports until SIGINT or SIGTERM (or `until`): a live screen on a terminal,
 * JSON lines with --json ({"type":"stats",...} every interval and once more
 * at exit, with "final": true), else one line of final stats. Resolves with
 * `until`'s error if that ended it.
 */
export async function reportUntilSignal(o: ReportOptions): Promise<Error | undefined> {
  const out = process.stdout;
  const live = !o.json && out.isTTY === true;
  let prev: Counters | undefined;
  let prevAt = performance.now();
  let shown: ViewFrame | undefined;
  const screen = live ? new LiveScreen(out, () => { if (shown) screen?.draw(renderView(shown, screen.size())); }) : undefined;
  const report = (final: boolean): void => {
    const { counters, extra } = o.snapshot();
    const now = performance.now();
    if (o.json) {
      out.write(`${jsonLine('stats', { final, ...extra, ...counters })}\n`);
    } else if (screen && !final) {
      shown = { title: o.title, counters, prev, seconds: (now - prevAt) / 1000, facts: extra };
      screen.draw(renderView(shown, screen.size()));
    } else if (final) {
      screen?.close();
      out.write(`${finalStatsLine(counters, extra)}\n`);
    }
    prev = viewNumbers(counters, extra);
    prevAt = now;
  };
  if (screen) report(false);
  const timer = setInterval(() => report(false), o.intervalS * 1000);
  let stop = (): void => {};
  const signalled = new Promise<undefined>((resolve) => {
    stop = () => resolve(undefined);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const ended = await Promise.race([signalled, ...(o.until ? [o.until] : [])]);
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  clearInterval(timer);
  report(true);
  return ended;
}
