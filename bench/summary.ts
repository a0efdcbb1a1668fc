// npm run bench:summary - the README's benchmark summary, made from the
// latest record of each results file (bench/results/*.jsonl) that the bench
// scripts write, so that every figure in the README is one a script wrote.
// Prints the markdown; --write puts it into README.md between its markers
// (a test checks that the README holds exactly what this prints).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RESULTS_DIR } from './results.js';

export const BEGIN = '<!-- bench:summary begin: made by `npm run bench:summary -- --write` from bench/results/ -->';
export const END = '<!-- bench:summary end -->';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The newest record of bench/results/<name>.jsonl, or undefined. */
export function latest(name: string, dir = RESULTS_DIR): Json | undefined {
  const path = `${dir}${name}.jsonl`;
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  return lines.length === 0 ? undefined : JSON.parse(lines[lines.length - 1]) as Json;
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const fixed = (x: number | null | undefined, digits = 2): string => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const when = (r: Json): string => `${String(r.date).slice(0, 16).replace('T', ' ')} UTC on ${r.machine}`;
/** The results file a bench appends every run to, as a link from the README. */
const history = (name: string): string => `every run: [bench/results/${name}.jsonl](bench/results/${name}.jsonl)`;

function flood(r: Json): string[] {
  const offers = r.offeredBy === undefined ? `${int(r.offered)} SYN/s`
    : Object.entries(r.offeredBy as Record<string, number>).map(([p, o]) => `${int(o)} SYN/s in the ${p} lab`).join(', ');
  const out = [
    `**Flood** (\`npm run bench:flood\`, ${when(r)}; ${history('flood')}): the built-in generator on one core; in each lab profile (pair: the generator's veth straight into the responder's; switch: through a bridge) first the kernel's own listener (\`tcp_syncookies=2\`) flat out, then every syncache run at the rate the generator managed against it (${offers}), last syncache flat out. Legit: kernel-stack connects from the client namespace during the flood.`,
    '',
    '| lab | target | offered SYN/s | answered SYN/s | ours / kernel | legit connects | p99 connect |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...r.rows.map((x: Json) => `| ${x.profile ?? 'switch'} | ${x.target} | ${int(x.offered)} | ${int(x.answered)} | ${fixed(x.ratioToKernel)} | ${x.legitCompleted}/${x.legitAttempted} | ${typeof x.connectP99 === 'number' ? `${x.connectP99.toFixed(1)} ms` : 'n/a'} |`),
  ];
  const table: Json[] = (r.costs ?? []).filter((c: Json) => c.us !== undefined);
  if (table.length > 0) {
    const labels: Record<string, string> = {
      protect: 'packet backend', 'protect-cache': 'packet, cache path', door: 'door, in the driver', 'door-only': 'door, in the driver', 'door-cache': 'door, cache path',
    };
    const targets = Object.keys(table[0].us).filter((m) => m !== 'plain');
    out.push('', `CPU per answered SYN, the whole machine less the lab's floor (the same flood dropped as it reaches the responder), pair lab readied for XDP, median of ${table[0].runs.length} interleaved runs; in brackets, over the kernel's${r.chart ? ' ([chart](bench/results/flood-cost.svg))' : ''}:`, '',
      `| rate | offered SYN/s | kernel µs | ${targets.map((m) => labels[m] ?? m).join(' | ')} |`,
      `|---|---:|---:|${targets.map(() => '---:').join('|')}|`,
      ...table.map((c) => `| ${c.rate === 0 ? 'full speed' : int(c.rate)} | ${int(c.offered)} | ${fixed(c.us.plain)} | ${targets.map((m) => `${fixed(c.us[m])} (${fixed(c.us[m] / c.us.plain)})`).join(' | ')} |`));
    if (table.some((c) => targets.some((m) => c.us[m] === 0) || c.us.plain === 0)) {
      out.push('', "A 0.00 is a median of runs that cost the machine no more than the floor's run beside them: below what the floor itself varies from run to run, not free.");
    }
    if (table[0].processUs !== undefined) {
      const rates = table.map((c) => (c.rate === 0 ? 'full speed' : int(c.rate))).join(' / ');
      const spread = (c: Json, m: string): string => (typeof c.processSpread?.[m] === 'number' ? c.processSpread[m].toFixed(2) : '-');
      const each = targets.map((m) => `${labels[m] ?? m} ${table.map((c) => c.processUs[m].toFixed(3)).join(' / ')}`
        + (table[0].processSpread !== undefined ? ` (dearest run ${table.map((c) => spread(c, m)).join(' / ')} of it)` : ''));
      out.push('', `The server process's own CPU (every thread, user and system) per SYN offered, µs, at ${rates} (median): ${each.join('; ')}.`);
    }
  }
  const costs: Json[] = (r.costs ?? []).filter((c: Json) => typeof c.kernelUs === 'number');
  if (costs.length > 0) {
    const runs = costs[0].runs?.length;
    const at = (c: Json): string => (c.rate === 0 ? 'full speed' : `${int(c.rate ?? c.offered)} SYN/s`);
    const points = costs.map((c) => `${fixed(c.syncacheUs / c.kernelUs)} at ${at(c)} (${int(c.offered)} offered; ${fixed(c.syncacheUs)} µs against ${fixed(c.kernelUs)})`);
    const chart = r.chart ? ' ([chart](bench/results/flood-cost.svg))' : '';
    out.push('', `CPU per answered SYN, syncache's over the kernel's (the whole machine less the lab's floor, the same flood dropped as it reaches the responder; ${runs === undefined ? 'switch lab, one run' : `pair lab, median of ${runs} interleaved runs`}): ${points.join(', ')}${chart}.`);
  }
  return out;
}

function micro(r: Json): string[] {
  const target = (t: string): string => (t === '' ? '' : t.startsWith('(') ? ` ${t}` : ` (target ${t})`);
  return [
    `**Microbenchmarks** (\`npm run bench\`, ${when(r)}; ${history('micro')}): ${r.rows.map((x: Json) => `${x.what}: ${x.value}${target(x.target)}`).join('; ')}.`,
  ];
}

function serve(r: Json): string[] {
  // (Under a flood the share counts the calm warm-up's connections too: not shown there.)
  const calm = (x: Json): string => (typeof x.calmShare === 'number' && !x.flood ? ` (kernel made ${(100 * x.calmShare).toFixed(0)}%: calm)` : '');
  const label = (x: Json): string => (x.mode === 'plain' ? (x.floor ? 'kernel listener, flood dropped on arrival' : 'kernel listener') : x.mode === 'door' ? `protect(), XDP door${calm(x)}` : 'protect()');
  const flood = (x: Json): string => (x.flood ? (x.fullSpeed ? `full speed (${int(x.floodOffered)})` : int(x.floodOffered)) : '-');
  return [
    `**Serving** (\`npm run bench:serve\`, ${when(r)}; ${history('serve')}): an http.Server behind \`protect()\` against the same server on a kernel listener, wrk with a new connection per request (median of ${r.rounds} round(s) of ${r.seconds} s); under a flood from the generator at the rate shown (SYN/s).`,
    '',
    '| server | wrk -c | flood | requests/s | ratio to kernel | p99 | handoff p99 |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map((x: Json) => `| ${label(x)} | ${x.connections} | ${flood(x)} | ${int(x.requestsPerSecond)} | ${fixed(x.ratio)} | ${fixed(x.p99Ms, 1)} ms | ${typeof x.handoffP99Ms === 'number' ? `${x.handoffP99Ms.toFixed(2)} ms` : '-'} |`),
  ];
}

function soak(r: Json): string[] {
  const s: Json[] = r.samples;
  const mid = s[Math.floor(s.length / 2)];
  const end = s[s.length - 1];
  const mib = (k: number): string => (k / 1024).toFixed(1);
  return [
    `**Soak** (\`npm run soak\`, ${when(r)}; ${history('soak')}): ${r.seconds} s of a ${int(r.flood?.sent / r.flood?.seconds || r.floodRate)} SYN/s flood, every crafted attack and wrk's clients against \`protect()\`: ${int(r.wrk.requests)} requests, ${r.wrk.errors} errors; RSS ${mib(s[0].rssKiB)} MiB at start, ${mib(mid.rssKiB)} mid-run, ${mib(end.rssKiB)} at end; open fds ${s[0].fds}, ${mid.fds}, ${end.fds}; ${r.ok ? 'passed' : 'FAILED'}.`,
  ];
}

/** The summary's markdown, between its markers. */
export function summaryMarkdown(dir = RESULTS_DIR): string {
  const parts: string[][] = [];
  const f = latest('flood', dir);
  if (f) parts.push(flood(f));
  const s = latest('serve', dir);
  if (s) parts.push(serve(s));
  const m = latest('micro', dir);
  if (m) parts.push(micro(m));
  const k = latest('soak', dir);
  if (k) parts.push(soak(k));
  if (parts.length === 0) parts.push(['No results yet: run the benches (npm run bench:flood, bench:serve, bench, soak).']);
  return [BEGIN, '', ...parts.flatMap((p) => [...p, '']), END].join('\n');
}

/** README text with its summary block replaced. */
export function withSummary(readme: string, summary: string): string {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error('README.md has no bench:summary markers');
  return readme.slice(0, a) + summary + readme.slice(b + END.length);
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const summary = summaryMarkdown();
  if (process.argv.includes('--write')) {
    const path = fileURLToPath(new URL('../../README.md', import.meta.url));
    writeFileSync(path, withSummary(readFileSync(path, 'utf8'), summary));
    process.stderr.write(`README.md: summary written from ${RESULTS_DIR}\n`);
  } else {
    process.stdout.write(`${summary}\n`);
  }
}
