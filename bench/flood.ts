// The flood benchmark: in the lab, the same built-in generator against the
// kernel's own listener (net.ipv4.tcp_syncookies=2) and against syncache
// (syncookies on and only, 1 and 2 workers), one fresh lab per run, all in
// one process so every ratio compares figures of the same run.
//   node dist/bench/flood.js [--seconds N] [--rate PPS] [--clients CPS] [--json]
// Offered = SYNs the generator sent; answered = SYN-ACKs that reached the
// attacker; legitimate = kernel-stack connects from the client namespace
// that completed within 3 s.
import { parseArgs } from 'node:util';
import os from 'node:os';
import { runLabScenario, type LabReport, type ScenarioOptions } from '../lib/lab/scenario.js';
import { labUnavailableReason } from '../lib/lab/netns.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rate: { type: 'string', default: '0' },
    clients: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const clientRate = Number(values.clients);
const json = values.json === true;

const why = labUnavailableReason();
if (why) {
  console.error(`bench:flood: cannot run: ${why}`);
  process.exit(1);
}

const runs: Array<Pick<ScenarioOptions, 'target' | 'syncookies' | 'workers'>> = [
  { target: 'kernel' },
  { target: 'syncache', syncookies: 'on', workers: 1 },
  { target: 'syncache', syncookies: 'only', workers: 1 },
  { target: 'syncache', syncookies: 'on', workers: 2 },
  { target: 'syncache', syncookies: 'only', workers: 2 },
];

const reports: LabReport[] = [];
for (const run of runs) {
  if (!json) process.stderr.write(`  running ${run.target}${run.syncookies ? ` syncookies=${run.syncookies} workers=${run.workers}` : ' (tcp_syncookies=2)'} for ${seconds} s...\n`);
  reports.push(await runLabScenario({ ...run, seconds, rate, clientRate, tag: 'bench' }));
}

const kernel = reports[0];
const rows = reports.map((r) => ({
  target: r.target === 'kernel' ? 'kernel (tcp_syncookies=2)' : `syncache ${r.syncookies}, ${r.workers} worker${r.workers > 1 ? 's' : ''}`,
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
const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Linux ${os.release()}, node ${process.version}`;
if (json) {
  console.log(JSON.stringify({ type: 'flood', date: new Date().toISOString(), machine, seconds, rate, clientRate, rows, reports }));
} else {
  const pct = (x: number | null) => (x === null ? '  n/a' : `${(100 * x).toFixed(1)}%`);
  console.log(`\nflood benchmark ${new Date().toISOString()} on ${machine}`);
  console.log(`generator: one core, ${rate === 0 ? 'flat out' : `${rate} SYN/s`}, ${seconds} s per run; ${clientRate} legitimate connects/s\n`);
  console.log('| target | offered SYN/s | answered SYN-ACK/s | answered | ours / kernel | legit connects | p99 connect |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.target} | ${r.offered.toLocaleString('en-US')} | ${r.answered.toLocaleString('en-US')} | ${pct(r.answeredShare)} | ${r.ratioToKernel === null ? 'n/a' : r.ratioToKernel.toFixed(2)} | ${r.legitCompleted}/${r.legitAttempted} (${pct(r.legitShare)}) | ${r.connectP99 === null ? 'n/a' : `${r.connectP99.toFixed(1)} ms`} |`);
  }
}
