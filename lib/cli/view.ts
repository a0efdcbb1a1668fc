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

/** Counters the final text line shows even at zero, so it always says something. */
const FINAL_ALWAYS = ['parsedSyn', 'synackssent', 'completed'];

/** The last line of a text-mode run: the headline counters (zero or not), then every other value that is not zero. */
export function finalStatsLine(counters: Counters, extra: Record<string, string | number | null>): string {
  const all: Record<string, string | number | null> = { ...extra, ...counters };
  const headline = FINAL_ALWAYS.map((k) => `${k}=${counters[k] ?? 0}`);
  const rest = Object.entries(all)
    .filter(([k, n]) => !FINAL_ALWAYS.includes(k) && n !== 0 && n !== null && n !== '')
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
  snapshot(): { counters: Counters; extra: Record<string, string | number | null> };
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
      out.write(`${finalStatsLine(counters, extra)}\n`);
    }
    prev = counters;
    prevAt = now;
  };
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
