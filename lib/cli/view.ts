// What the CLI prints: a one-screen live view on a terminal, JSON lines for
// scripts. Both read the same counter snapshots.

export type Counters = Record<string, number>;

/** The counters a person watches first, in the order shown. */
const HEADLINE = [
  'parsedSyn', 'synackssent', 'completed', 'added', 'dupsyn', 'retransmitted', 'stale',
  'sendcookie', 'recvcookie', 'failcookie', 'bucketoverflow', 'cacheoverflow', 'zonefail',
  'dropped', 'reset', 'badack', 'unreach', 'aborted', 'kernelDrops', 'txdropped',
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
