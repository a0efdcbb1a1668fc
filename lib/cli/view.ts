// What the CLI prints: a one-screen live view on a terminal (laid out by
// view-layout.ts, drawn in place by live-screen.ts), JSON lines for scripts.
// Both read the same counter snapshots.

import { renderView, viewNumbers, type Counters, type Facts, type ViewFrame } from './view-layout.js';
import { LiveScreen } from './live-screen.js';
import type { Responder } from '../responder/responder.js';

export type { Counters } from './view-layout.js';

/** The responder's state beside its counters: backend, pause, the fleet key's epoch (null: random secrets), workers. */
export function viewFacts(responder: Responder): Facts {
  return { backend: responder.backend, paused: responder.paused, keyEpoch: responder.secrets.epoch, workers: responder.workerCount };
}

export function jsonLine(type: string, fields: Record<string, unknown>): string {
  return JSON.stringify({ type, time: new Date().toISOString(), ...fields });
}

export interface ReportOptions {
  json: boolean;
  title: string;
  intervalS: number;
  /** Every counter now, plus extra fields for the screen and the JSON lines. */
  snapshot(): { counters: Counters; extra: Facts };
}

/**
 * Reports until SIGINT or SIGTERM: a live screen on a terminal, JSON lines
 * with --json ({"type":"stats",...} every interval and once more at exit,
 * with "final": true), else one line of final stats.
 */
export async function reportUntilSignal(o: ReportOptions): Promise<void> {
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
      const all = { ...extra, ...counters };
      out.write(`final stats: ${Object.entries(all).filter(([, n]) => n !== 0 && n !== null && n !== false).map(([k, n]) => `${k}=${n}`).join(' ')}\n`);
    }
    prev = viewNumbers(counters, extra);
    prevAt = now;
  };
  if (screen) report(false);
  const timer = setInterval(() => report(false), o.intervalS * 1000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  clearInterval(timer);
  report(true);
}
