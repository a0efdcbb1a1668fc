// What the CLI prints: a one-screen live view on a terminal, JSON lines for
// scripts. Both read the same counter snapshots.

export type Counters = Record<string, number>;

/** The counters a person watches first, in the order shown. */
const HEADLINE = [
  'parsedSyn', 'synackssent', 'completed', 'added', 'dupsyn', 'retransmitted', 'stale',
  'sendcookie', 'recvcookie', 'failcookie', 'bucketoverflow', 'cacheoverflow', 'zonefail', 'pauses',
  'dropped', 'reset', 'badack', 'unreach', 'aborted', 'kernelDrops', 'txdropped', 'linkErrors',
];

function rate(cur: Counters, prev: Counters | undefined, name: string, seconds: number): number {
  if (prev === undefined || seconds <= 0) return 0;
  return ((cur[name] ?? 0) - (prev[name] ?? 0)) / seconds;
}

function fmt(n: number): string {
  if (n >= 10_000_000) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 100_000) return `${(n / 1e3).toFixed(0)}k`;
  return String(Math.round(n));
}

/** The live screen: headline rates, then every non-zero counter. */
export function renderScreen(title: string, cur: Counters, prev: Counters | undefined, seconds: number, extra: Record<string, string | number> = {}): string {
  const lines: string[] = [];
  lines.push(`${title}    ${new Date().toISOString().slice(11, 19)}    (Ctrl-C to stop)`);
  lines.push('');
  const r = (name: string) => fmt(rate(cur, prev, name, seconds));
  lines.push(`  SYN in ${r('parsedSyn')}/s   SYN-ACK out ${r('synackssent')}/s   completed ${r('completed')}/s   cookies ${r('sendcookie')}/s`);
  for (const [k, v] of Object.entries(extra)) lines.push(`  ${k}: ${v}`);
  lines.push('');
  const shown = new Set<string>();
  const row = (name: string) => {
    shown.add(name);
    return `  ${name.padEnd(22)} ${fmt(cur[name] ?? 0).padStart(10)}  ${(`+${r(name)}/s`).padStart(10)}`;
  };
  for (const name of HEADLINE) lines.push(row(name));
  const others = Object.keys(cur).filter((n) => !shown.has(n) && (cur[n] ?? 0) !== 0);
  if (others.length > 0) {
    lines.push('');
    for (const name of others) lines.push(row(name));
  }
  return lines.join('\n');
}

/** Clears the terminal and draws `text` at the top. */
export function drawScreen(text: string): void {
  process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
}

export function jsonLine(type: string, fields: Record<string, unknown>): string {
  return JSON.stringify({ type, time: new Date().toISOString(), ...fields });
}

export interface ReportOptions {
  json: boolean;
  title: string;
  intervalS: number;
  /** Every counter now, plus extra fields for the screen and the JSON lines. */
  snapshot(): { counters: Counters; extra: Record<string, string | number | null> };
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
  const report = (final: boolean): void => {
    const { counters, extra } = o.snapshot();
    const now = performance.now();
    if (o.json) {
      out.write(`${jsonLine('stats', { final, ...extra, ...counters })}\n`);
    } else if (live && !final) {
      const shown: Record<string, string | number> = {};
      for (const [k, v] of Object.entries(extra)) shown[k] = v ?? '-';
      drawScreen(renderScreen(o.title, counters, prev, (now - prevAt) / 1000, shown));
    } else if (final) {
      const all = { ...extra, ...counters };
      out.write(`final stats: ${Object.entries(all).filter(([, n]) => n !== 0 && n !== null).map(([k, n]) => `${k}=${n}`).join(' ')}\n`);
    }
    prev = counters;
    prevAt = now;
  };
  const timer = setInterval(() => report(false), o.intervalS * 1000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  clearInterval(timer);
  report(true);
}
