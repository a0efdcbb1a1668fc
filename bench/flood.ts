// The flood benchmark: in the lab, the same built-in generator against the
// kernel's own listener (net.ipv4.tcp_syncookies=2) and against syncache
// (syncookies on and only, on the main thread and in 2 worker threads), one
// fresh lab per run, all in one process so every ratio compares figures of
// the same run; in both lab profiles (--profile both|pair|switch): 'pair',
// the generator's veth straight into the responder's, and 'switch', through
// a bridge as behind a switch.
//
// In each profile the kernel is flooded flat out first: the rate the one-core
// generator then manages is the offered load for every other run there
// (unless --rate is given), so ours / kernel compares answers to the same
// offered load. Last, each syncache mode is flooded flat out too, to show
// its own ceiling.
//   node dist/bench/flood.js [--seconds N] [--rate PPS] [--clients CPS] [--profile P]
//                            [--cost-seconds N] [--cost-runs N] [--json]
// Offered = SYNs the generator sent; answered = SYN-ACKs that reached the
// attacker; legitimate = kernel-stack connects from the client namespace
// that completed within 3 s.
// Then, in the pair lab, what each answered SYN costs the whole machine at
// 50k, 100k, 200k SYN/s and at full speed, for the kernel's listener and for
// syncache (protect(), AF_PACKET), net of the lab's floor (the same flood
// dropped as it arrives at the responder's interface), median of
// --cost-runs interleaved rounds: the chart bench/results/flood-cost.svg
// beside the results file (--cost-seconds 0 skips it). CPUs split as in
// bench:serve (responder host on one, the rest on the other). The table's
// runs send everything towards the responder from CPU 0 (scenario.ts).
import { runLabScenario, type LabReport, type ScenarioOptions } from '../lib/lab/scenario.js';
import type { LabProfile } from '../lib/lab/topology.js';
import { threads } from '../lib/cli/lab.js';
import { benchFlags, machine as hostLine, median, requireLab } from './common.js';
import { saveResult, RESULTS_DIR } from './results.js';
import { machineCost, type MachineCostMode, type MachineCostRow } from './syn-cost.js';
import { doorUnavailableReason } from '../lib/door/door.js';
import { lineChartSvg } from './svg-chart.js';
import { availableParallelism } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';

const values = benchFlags('bench:flood', `
usage: npm run bench:flood -- [flags]   (root: it builds network namespaces)
The kernel's listener and syncache under the built-in generator's SYN flood,
ratios from one run; appends to bench/results/flood.jsonl.
  --seconds N        each table run's flood (default 8)
  --rate PPS         offered SYN/s for every run (default 0: what the
                     generator manages against the kernel flat out)
  --clients CPS      legitimate kernel connects a second (default 50)
  --profile P        both | pair | switch (default both)
  --cost-seconds N   each cost sweep run (default 3; 0 skips the sweep)
  --cost-runs N      interleaved cost sweep rounds, 1-20 (default 5)
  --json             the results as JSON on stdout
`, {
  seconds: { type: 'string', default: '8' },
  rate: { type: 'string', default: '0' },
  clients: { type: 'string', default: '50' },
  'cost-seconds': { type: 'string', default: '3' },
  'cost-runs': { type: 'string', default: '5' },
  profile: { type: 'string', default: 'both' },
  json: { type: 'boolean', default: false },
});
if (!['both', 'switch', 'pair'].includes(values.profile)) {
  console.error(`bench:flood: --profile must be switch, pair or both, got ${JSON.stringify(values.profile)}`);
  process.exit(2);
}
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const clientRate = Number(values.clients);
const costSeconds = Number(values['cost-seconds']);
if (!Number.isFinite(costSeconds) || costSeconds < 0 || costSeconds > 60) {
  console.error(`bench:flood: --cost-seconds must be a number of seconds from 0 (no cost sweep) to 60, got ${JSON.stringify(values['cost-seconds'])}`);
  process.exit(2);
}
const costRuns = Number(values['cost-runs']);
if (!Number.isInteger(costRuns) || costRuns < 1 || costRuns > 20) {
  console.error(`bench:flood: --cost-runs must be an integer from 1 to 20, got ${JSON.stringify(values['cost-runs'])}`);
  process.exit(2);
}
const json = values.json === true;

requireLab('bench:flood');

type Run = Pick<ScenarioOptions, 'target' | 'syncookies' | 'workers' | 'io'> & { rate?: number; profile: LabProfile };

async function run(r: Run): Promise<LabReport> {
  const label = `${r.profile} lab: ${r.target}${r.syncookies ? ` syncookies=${r.syncookies} workers=${r.workers}${r.io === 'xdp' ? ' door' : ''}` : ' (tcp_syncookies=2)'} at ${r.rate ? `${r.rate} SYN/s` : 'full speed'}`;
  if (!json) process.stderr.write(`  running ${label} for ${seconds} s...\n`);
  return runLabScenario({ ...r, rate: r.rate ?? 0, seconds, clientRate, tag: 'bench' });
}

// Each profile (see LabOptions.profile) gets its own kernel flat-out run, and
// so its own offered rate: 'switch' floods through a bridge, 'pair' from a
// veth straight into the responder's, where full speed measures the responder.
const profiles: LabProfile[] = values.profile === 'both' ? ['pair', 'switch'] : [values.profile as LabProfile];
const reports: LabReport[] = [];
const ceilings: LabReport[] = [];
const offeredBy: Partial<Record<LabProfile, number>> = {};
for (const profile of profiles) {
  const kernelFlat = await run({ target: 'kernel', profile });
  const offered = rate > 0 ? rate : Math.round(kernelFlat.offeredPerSecond / 1000) * 1000;
  offeredBy[profile] = offered;
  reports.push(rate > 0 ? await run({ target: 'kernel', rate: offered, profile }) : kernelFlat);
  for (const workers of [0, 2]) {
    for (const syncookies of ['on', 'only'] as const) reports.push(await run({ target: 'syncache', syncookies, workers, rate: offered, profile }));
  }
  // The door: one AF_XDP ring, so workers 0.
  if (doorUnavailableReason() === undefined) {
    for (const syncookies of ['on', 'only'] as const) reports.push(await run({ target: 'syncache', syncookies, workers: 0, io: 'xdp', rate: offered, profile }));
  }
  for (const syncookies of ['on', 'only'] as const) ceilings.push(await run({ target: 'syncache', syncookies, workers: 2, profile }));
  if (doorUnavailableReason() === undefined) {
    for (const syncookies of ['on', 'only'] as const) ceilings.push(await run({ target: 'syncache', syncookies, workers: 0, io: 'xdp', profile }));
  }
}
const kernelOf = (profile: LabProfile): LabReport => reports.find((r) => r.target === 'kernel' && r.profile === profile)!;
const offered = offeredBy[profiles[0]]!;

const rows = [...reports, ...ceilings].map((r) => ({
  profile: r.profile,
  target: `${r.target === 'kernel' ? 'kernel (tcp_syncookies=2)' : `syncache ${r.syncookies}, ${r.io === 'xdp' ? 'door' : threads(r.workers)}`}${ceilings.includes(r) ? ', full speed' : ''}`,
  io: r.io,
  offered: Math.round(r.offeredPerSecond),
  answered: Math.round(r.answeredPerSecond),
  answeredShare: r.answeredShare,
  ratioToKernel: kernelOf(r.profile).answeredPerSecond > 0 ? r.answeredPerSecond / kernelOf(r.profile).answeredPerSecond : null,
  legitCompleted: r.clients.completed,
  legitAttempted: r.clients.attempted,
  legitShare: r.clients.attempted > 0 ? r.clients.completed / r.clients.attempted : null,
  connectP50: r.clients.p50,
  connectP99: r.clients.p99,
  kernelRingDrops: r.counters.kernelDrops ?? null,
}));
// The cost sweep, in the pair lab readied for XDP (every row in the same
// lab): the machine's CPU per answered SYN at fixed offered rates and at the
// generator's full speed (rate 0), net of the floor; --cost-runs rounds,
// each visiting every rate and target in turn (interleaved, so drift hits
// all alike); the median of the rounds is the figure. Targets: the kernel;
// protect() on the packet backend with the default cache (a flood fills it:
// cookies) and with a cache no flood here fills (every SYN an entry: the
// cache path); behind the XDP door with syncookies 'only' (every SYN
// answered in the driver from the first, as tcp_syncookies=2 answers every
// one with a cookie; the default cache would take the flood's first
// second's SYNs to userspace before its pause hands them to the driver) and
// with that big cache (the cache path, AF_XDP). Without the door (no clang
// or libbpf at build time) its rows are left out, and say why.
const COST_RATES = [50_000, 100_000, 200_000, 0];
const doorMissing = doorUnavailableReason();
const COST_MODES: MachineCostMode[] = ['floor', 'plain', 'protect', 'protect-cache', ...(doorMissing === undefined ? ['door-only', 'door-cache'] as const : [])];
const COST_LABELS: Record<string, string> = {
  plain: 'kernel (syncookies=2)', protect: 'packet backend', 'protect-cache': 'packet backend, cache path',
  'door-only': 'door, answered in the driver', 'door-cache': 'door, cache path (AF_XDP)',
};
/**
 * us: each target's CPU per answered SYN, net of the floor; processUs: its
 * server process's own per SYN offered (medians); processSpread: the
 * dearest run's processUs over the median (how steady the process's own
 * cost is, free of the floor's noise).
 */
interface CostPoint {
  rate: number; offered: number; us: Record<string, number>; processUs: Record<string, number>;
  processSpread: Record<string, number>; runs: Array<Record<string, MachineCostRow>>;
}
const costs: CostPoint[] = [];
let chart: string | null = null;
/** The median of the runs that answered at all (NaN if none did). */
const finiteMedian = (xs: number[]): number => median(xs.filter((x) => Number.isFinite(x)));
if (costSeconds > 0 && availableParallelism() >= 2) {
  if (doorMissing !== undefined && !json) process.stderr.write(`  cost: no door rows: ${doorMissing}\n`);
  const cpus = { responder: 1, network: 0 };
  const runs = new Map<number, CostPoint['runs']>(COST_RATES.map((r) => [r, []]));
  for (let round = 0; round < costRuns; round++) {
    for (const rate of COST_RATES) {
      const row: Record<string, MachineCostRow> = {};
      for (const mode of COST_MODES) {
        if (!json) process.stderr.write(`  cost ${round + 1}/${costRuns}: ${COST_LABELS[mode] ?? 'floor'} at ${rate > 0 ? `${rate} SYN/s` : 'full speed'} for ${costSeconds} s...\n`);
        row[mode] = await machineCost({ mode, rate, seconds: costSeconds, cpus, profile: 'pair', xdp: true });
      }
      runs.get(rate)!.push(row);
    }
  }
  for (const rate of COST_RATES) {
    const rs = runs.get(rate)!;
    const net = (r: Record<string, MachineCostRow>, mode: string): number =>
      (r[mode].answered > 0 ? Math.max(0, r[mode].busyUs - r.floor.busyUs) / r[mode].answered : NaN);
    const us: Record<string, number> = {};
    const processUs: Record<string, number> = {};
    const processSpread: Record<string, number> = {};
    for (const mode of COST_MODES) {
      if (mode === 'floor') continue;
      us[mode] = finiteMedian(rs.map((r) => net(r, mode)));
      processUs[mode] = median(rs.map((r) => r[mode].processUs));
      processSpread[mode] = processUs[mode] > 0 ? Math.max(...rs.map((r) => r[mode].processUs)) / processUs[mode] : NaN;
    }
    costs.push({ rate, offered: finiteMedian(rs.map((r) => r.plain.offered)), us, processUs, processSpread, runs: rs });
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  chart = `${RESULTS_DIR}flood-cost.svg`;
  writeFileSync(chart, lineChartSvg({
    title: `CPU per answered SYN, whole machine less the lab's floor (${new Date().toISOString().slice(0, 10)}, ${hostLine().split(',')[0]})`,
    xLabel: 'offered SYN/s (one generator core, pair lab)',
    yLabel: 'µs of CPU per answered SYN',
    series: COST_MODES.filter((m) => m !== 'floor').map((m) => ({ name: COST_LABELS[m], points: costs.map((c): [number, number] => [c.offered, c.us[m]]) })),
  }));
} else if (costSeconds > 0 && !json) {
  process.stderr.write('  cost sweep skipped: it needs two CPUs (one for the responder host)\n');
}

const machine = hostLine();
const record = { type: 'flood', date: new Date().toISOString(), machine, seconds, offered, offeredBy, clientRate, rows, reports: [...reports, ...ceilings], costs, chart };
const saved = saveResult('flood', record);
if (json) {
  console.log(JSON.stringify(record));
} else {
  process.stderr.write(`  (appended to ${saved})\n`);
  const pct = (x: number | null) => (x === null ? '  n/a' : `${(100 * x).toFixed(1)}%`);
  console.log(`\nflood benchmark ${new Date().toISOString()} on ${machine}`);
  const offers = profiles.map((p) => `${offeredBy[p]!.toLocaleString('en-US')} SYN/s in the ${p} lab`).join(', ');
  console.log(`generator: one core; offered ${offers} (${rate > 0 ? 'as asked' : 'what it managed against the kernel flat out'}), then full speed; ${seconds} s per run; ${clientRate} legitimate connects/s\n`);
  console.log('| lab | target | offered SYN/s | answered SYN/s | answered | ours / kernel | legit connects | p99 connect |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.profile} | ${r.target} | ${r.offered.toLocaleString('en-US')} | ${r.answered.toLocaleString('en-US')} | ${pct(r.answeredShare)} | ${r.ratioToKernel === null ? 'n/a' : r.ratioToKernel.toFixed(2)} | ${r.legitCompleted}/${r.legitAttempted} (${pct(r.legitShare)}) | ${r.connectP99 === null ? 'n/a' : `${r.connectP99.toFixed(1)} ms`} |`);
  }
  if (costs.length > 0) {
    console.log('\nCPU per answered SYN, whole machine less the lab\'s floor (the same flood dropped on arrival); chart: ' + chart + '\n');
    console.log(`median of ${costRuns} interleaved runs, pair lab; ratios to the kernel's\n`);
    const targets = COST_MODES.filter((m) => m !== 'floor' && m !== 'plain');
    console.log(`| rate | offered SYN/s | kernel µs | ${targets.map((m) => `${COST_LABELS[m]} µs (ratio)`).join(' | ')} |`);
    console.log(`|---|---:|---:|${targets.map(() => '---:').join('|')}|`);
    for (const c of costs) console.log(`| ${c.rate > 0 ? c.rate.toLocaleString('en-US') : 'full speed'} | ${Math.round(c.offered).toLocaleString('en-US')} | ${c.us.plain.toFixed(2)} | ${targets.map((m) => `${c.us[m].toFixed(2)} (${(c.us[m] / c.us.plain).toFixed(2)})`).join(' | ')} |`);
    console.log('\nThe server process\'s own CPU per SYN offered, µs (median; in brackets the dearest run over it):\n');
    console.log(`| rate | ${targets.map((m) => COST_LABELS[m]).join(' | ')} |`);
    console.log(`|---|${targets.map(() => '---:').join('|')}|`);
    const spread = (x: number): string => (Number.isFinite(x) ? ` (${x.toFixed(2)})` : '');
    for (const c of costs) console.log(`| ${c.rate > 0 ? c.rate.toLocaleString('en-US') : 'full speed'} | ${targets.map((m) => `${c.processUs[m].toFixed(3)}${spread(c.processSpread[m])}`).join(' | ')} |`);
  }
}
