// The flood benchmark: in the lab, the same built-in generator against the
// kernel's own listener (net.ipv4.tcp_syncookies=2) and against syncache
// (syncookies on and only, on the main thread and in 2 worker threads), one fresh lab per run, all in
// one process so every ratio compares figures of the same run.
//
// First the kernel is flooded flat out: the rate the one-core generator then
// manages is the offered load for every other run (unless --rate is given),
// so ours / kernel compares answers to the same offered load. Last, each
// syncache mode is flooded flat out too, to show its own ceiling.
//   node dist/bench/flood.js [--seconds N] [--rate PPS] [--clients CPS] [--json]
// Offered = SYNs the generator sent; answered = SYN-ACKs that reached the
// attacker; legitimate = kernel-stack connects from the client namespace
// that completed within 3 s.
// Then what each answered SYN costs the whole machine at a quarter, half,
// three quarters and all of that offered rate, for the kernel's listener
// and for syncache (protect(), AF_PACKET), net of the lab's floor (the same
// flood dropped as it arrives at the responder's interface): the chart
// bench/results/flood-cost.svg beside the results file (--cost-seconds 0
// skips it). CPUs split as in bench:serve (responder host on one, the rest
// on the other).
import { parseArgs } from 'node:util';
import { runLabScenario, type LabReport, type ScenarioOptions } from '../lib/lab/scenario.js';
import { threads } from '../lib/cli/lab.js';
import { machine as hostLine, requireLab } from './common.js';
import { saveResult, RESULTS_DIR } from './results.js';
import { machineCost, type MachineCostRow } from './syn-cost.js';
import { lineChartSvg } from './svg-chart.js';
import { availableParallelism } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rate: { type: 'string', default: '0' },
    clients: { type: 'string', default: '50' },
    'cost-seconds': { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const clientRate = Number(values.clients);
const costSeconds = Number(values['cost-seconds']);
if (!Number.isFinite(costSeconds) || costSeconds < 0 || costSeconds > 60) {
  console.error(`bench:flood: --cost-seconds must be a number of seconds from 0 (no cost sweep) to 60, got ${JSON.stringify(values['cost-seconds'])}`);
  process.exit(2);
}
const json = values.json === true;

requireLab('bench:flood');

type Run = Pick<ScenarioOptions, 'target' | 'syncookies' | 'workers'> & { rate?: number };

async function run(r: Run): Promise<LabReport> {
  const label = `${r.target}${r.syncookies ? ` syncookies=${r.syncookies} workers=${r.workers}` : ' (tcp_syncookies=2)'} at ${r.rate ? `${r.rate} SYN/s` : 'full speed'}`;
  if (!json) process.stderr.write(`  running ${label} for ${seconds} s...\n`);
  return runLabScenario({ ...r, rate: r.rate ?? 0, seconds, clientRate, tag: 'bench' });
}

const reports: LabReport[] = [];
const kernelFlat = await run({ target: 'kernel' });
const offered = rate > 0 ? rate : Math.round(kernelFlat.offeredPerSecond / 1000) * 1000;
const kernel = rate > 0 ? await run({ target: 'kernel', rate: offered }) : kernelFlat;
reports.push(kernel);
for (const workers of [0, 2]) {
  for (const syncookies of ['on', 'only'] as const) reports.push(await run({ target: 'syncache', syncookies, workers, rate: offered }));
}
const ceilings: LabReport[] = [];
for (const syncookies of ['on', 'only'] as const) ceilings.push(await run({ target: 'syncache', syncookies, workers: 2 }));

const rows = [...reports, ...ceilings].map((r, i) => ({
  target: `${r.target === 'kernel' ? 'kernel (tcp_syncookies=2)' : `syncache ${r.syncookies}, ${threads(r.workers)}`}${i >= reports.length ? ', full speed' : ''}`,
  offered: Math.round(r.offeredPerSecond),
  answered: Math.round(r.answeredPerSecond),
  answeredShare: r.answeredShare,
  ratioToKernel: kernel.answeredPerSecond > 0 ? r.answeredPerSecond / kernel.answeredPerSecond : null,
  legitCompleted: r.clients.completed,
  legitAttempted: r.clients.attempted,
  legitShare: r.clients.attempted > 0 ? r.clients.completed / r.clients.attempted : null,
  connectP50: r.clients.p50,
  connectP99: r.clients.p99,
  kernelRingDrops: r.counters.kernelDrops ?? null,
}));
// The cost sweep: the machine's CPU per answered SYN against the offered rate, net of the floor.
interface CostPoint { offered: number; kernelUs: number; syncacheUs: number; floor: MachineCostRow; kernel: MachineCostRow; syncache: MachineCostRow }
const costs: CostPoint[] = [];
let chart: string | null = null;
if (costSeconds > 0 && availableParallelism() >= 2) {
  const cpus = { responder: 1, network: 0 };
  for (const share of [0.25, 0.5, 0.75, 1]) {
    const rate = Math.max(1000, Math.round((offered * share) / 1000) * 1000);
    const run = (mode: MachineCostRow['mode']): Promise<MachineCostRow> => {
      if (!json) process.stderr.write(`  cost: ${mode === 'plain' ? 'kernel' : mode === 'protect' ? 'syncache' : 'floor'} at ${rate} SYN/s for ${costSeconds} s...\n`);
      return machineCost({ mode, rate, seconds: costSeconds, cpus });
    };
    const floor = await run('floor');
    const kernel = await run('plain');
    const syncache = await run('protect');
    const net = (r: MachineCostRow): number => (r.answered > 0 ? Math.max(0, r.busyUs - floor.busyUs) / r.answered : NaN);
    costs.push({ offered: kernel.offered, kernelUs: net(kernel), syncacheUs: net(syncache), floor, kernel, syncache });
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  chart = `${RESULTS_DIR}flood-cost.svg`;
  writeFileSync(chart, lineChartSvg({
    title: `CPU per answered SYN, whole machine less the lab's floor (${new Date().toISOString().slice(0, 10)}, ${hostLine().split(',')[0]})`,
    xLabel: 'offered SYN/s (one generator core)',
    yLabel: 'µs of CPU per answered SYN',
    series: [
      { name: 'kernel (syncookies=2)', points: costs.map((c) => [c.offered, c.kernelUs]) },
      { name: 'syncache (AF_PACKET)', points: costs.map((c) => [c.offered, c.syncacheUs]) },
    ],
  }));
} else if (costSeconds > 0 && !json) {
  process.stderr.write('  cost sweep skipped: it needs two CPUs (one for the responder host)\n');
}

const machine = hostLine();
const record = { type: 'flood', date: new Date().toISOString(), machine, seconds, offered, clientRate, rows, reports: [...reports, ...ceilings], costs, chart };
const saved = saveResult('flood', record);
if (json) {
  console.log(JSON.stringify(record));
} else {
  process.stderr.write(`  (appended to ${saved})\n`);
  const pct = (x: number | null) => (x === null ? '  n/a' : `${(100 * x).toFixed(1)}%`);
  console.log(`\nflood benchmark ${new Date().toISOString()} on ${machine}`);
  console.log(`generator: one core; offered ${offered.toLocaleString('en-US')} SYN/s (${rate > 0 ? 'as asked' : 'what it managed against the kernel flat out'}), then full speed; ${seconds} s per run; ${clientRate} legitimate connects/s\n`);
  console.log('| target | offered SYN/s | answered SYN/s | answered | ours / kernel | legit connects | p99 connect |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.target} | ${r.offered.toLocaleString('en-US')} | ${r.answered.toLocaleString('en-US')} | ${pct(r.answeredShare)} | ${r.ratioToKernel === null ? 'n/a' : r.ratioToKernel.toFixed(2)} | ${r.legitCompleted}/${r.legitAttempted} (${pct(r.legitShare)}) | ${r.connectP99 === null ? 'n/a' : `${r.connectP99.toFixed(1)} ms`} |`);
  }
  if (costs.length > 0) {
    console.log('\nCPU per answered SYN, whole machine less the lab\'s floor (the same flood dropped on arrival); chart: ' + chart + '\n');
    console.log('| offered SYN/s | kernel µs | syncache µs | syncache / kernel |');
    console.log('|---:|---:|---:|---:|');
    for (const c of costs) console.log(`| ${c.offered.toLocaleString('en-US')} | ${c.kernelUs.toFixed(2)} | ${c.syncacheUs.toFixed(2)} | ${(c.syncacheUs / c.kernelUs).toFixed(2)} |`);
  }
}
