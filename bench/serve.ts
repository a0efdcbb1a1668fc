// bench:serve - new connections per second through syncache vs the same
// http.Server on a plain kernel listener, from one run in one lab: wrk in the
// client namespace with Connection: close (every request a new connection),
// the server in the responder namespace; then the same under a SYN flood from
// the built-in generator at one core's full speed, where the plain listener
// relies on the kernel's SYN cookies (net.ipv4.tcp_syncookies=2), both at the
// offered load the generator manages against the plain listener. Every
// comparison takes turns for --rounds rounds (this machine's speed drifts by
// 15% or more over minutes) and reports medians.
// syncache's SYN path runs on the server's thread (--workers 0, the default:
// fastest with the server on one CPU, where a worker's thread switches cost
// more than they save) or in --workers N worker threads, which make the
// sockets themselves. Last, with the CPUs split, what answering an
// 80k SYN/s flood costs the responder's core per SYN, for both.
// Without a flood each row also gives the server's core's busy time per
// request (user, system, interrupts; its own core when the CPUs are split).
// Before the full-speed flood, both servers also take a flood at a fixed
// --flood-rate (40k SYN/s; 0 skips it): at full speed the generator fills
// the core that wrk and the switch share with it, and the kernel's own
// listener's p99 grows far past 2x from that alone (no packet is lost); the
// fixed rate shows each server's own growth below that point. The floor row
// measures that lab cost alone: the plain listener at full speed while the
// flood's SYNs are dropped as they reach the server's interface.
// The server and its host's receive path get CPU 1, the switch, wrk and the
// generator CPU 0 (--cpus; see LabOptions.cpus), as if they were machines of
// their own.
// wrk's namespace reuses TIME_WAIT ports (net.ipv4.tcp_tw_reuse=1; see
// measure()). Each server is warmed up first with --warmup seconds of the same wrk load,
// not measured (V8 compiles the hot paths in the first seconds; without it
// a 5 s run measures the compiler as much as the server, more so for the
// one that runs more JavaScript).
//   node dist/bench/serve.js [--seconds N] [--warmup N] [--connections N] [--rounds N] [--workers N] [--cpus R,N|none] [--flood-rate N] [--door auto|off] [--json]
import os from 'node:os';
import { buildLab, type Lab } from '../lib/lab/topology.js';
import { labAddon } from '../lib/lab/lab-addon.js';
import { benchFlags, machine as hostLine, median, requireLab } from './common.js';
import { runWrk, type WrkResult } from './wrk.js';
import { saveResult } from './results.js';
import { PORT, TICKS_PER_SECOND, cpuTimes, dropFloodOnArrival, startTarget } from './target.js';
import { doorUnavailableReason } from '../lib/door/door.js';
import { synCost, type CostRow } from './syn-cost.js';

const values = benchFlags('bench:serve', `
usage: npm run bench:serve -- [flags]   (root: it builds network namespaces)
New connections a second through protect() against the same http.Server on a
plain listener, calm and under a SYN flood; appends to
bench/results/serve.jsonl.
  --seconds N        each measured wrk run (default 5)
  --warmup N         unmeasured wrk seconds before each, 0-60 (default 2)
  --connections N    wrk connections (default 16)
  --rounds N         interleaved rounds, 1-20 (default 3)
  --workers N        syncache's worker threads (default 0)
  --cpus R,N|none    the responder's CPU and the network's (default 1,0)
  --flood-rate N     the fixed-rate flood row's SYN/s (default 40000; 0: none)
  --door auto|off    also run protect() behind the XDP door (default auto)
  --json             the results as JSON on stdout
`, {
  seconds: { type: 'string', default: '5' },
  warmup: { type: 'string', default: '2' },
  connections: { type: 'string', default: '16' },
  rounds: { type: 'string', default: '3' },
  workers: { type: 'string', default: '0' },
  cpus: { type: 'string', default: '1,0' },
  'flood-rate': { type: 'string', default: '40000' },
  door: { type: 'string', default: 'auto' },
  json: { type: 'boolean', default: false },
});
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
if (!Number.isInteger(warmup) || warmup < 0 || warmup > 60) {
  console.error(`bench:serve: --warmup must be an integer from 0 to 60 (seconds), got ${JSON.stringify(values.warmup)}`);
  process.exit(2);
}
const connections = Number(values.connections);
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
  console.error(`bench:serve: --rounds must be an integer from 1 to 20, got ${JSON.stringify(values.rounds)}`);
  process.exit(2);
}
const fixedRate = Number(values['flood-rate']);
if (!Number.isInteger(fixedRate) || fixedRate < 0 || fixedRate > 10_000_000) {
  console.error(`bench:serve: --flood-rate must be a rate in SYN/s from 1 to 10000000, or 0 for none, got ${JSON.stringify(values['flood-rate'])}`);
  process.exit(2);
}
const workers = Number(values.workers);
// One CPU for the responder host (the server, its receive path), one for the
// rest of the lab (switch, wrk, generator): see LabOptions.cpus. 'none'
// leaves everything to the scheduler.
const cpus = parseCpus(values.cpus as string);

function parseCpus(text: string): { responder: number; network: number } | undefined {
  if (text === 'none' || os.availableParallelism() < 2) return undefined;
  const m = /^(\d+),(\d+)$/.exec(text);
  const n = os.availableParallelism();
  if (!m || Number(m[1]) === Number(m[2]) || Number(m[1]) >= n || Number(m[2]) >= n) {
    console.error(`bench:serve: --cpus must be RESPONDER,NETWORK (two different CPUs below ${n}) or none, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return { responder: Number(m[1]), network: Number(m[2]) };
}

const json = values.json === true;
requireLab('bench:serve');
// protect() behind the XDP door too (--door auto: where it is built; off:
// the packet backend alone, in a lab without XDP on its veths, as before
// the door existed). Every row runs in the same kind of lab.
if (!['auto', 'off'].includes(values.door as string)) {
  console.error(`bench:serve: --door must be auto or off, got ${JSON.stringify(values.door)}`);
  process.exit(2);
}
const doorMissing = values.door === 'off' ? 'asked off (--door off)' : doorUnavailableReason();
const door = doorMissing === undefined;
if (!door && !json) process.stderr.write(`  no door rows: ${doorMissing}\n`);
type Mode = 'plain' | 'protect' | 'door';
const servers: Mode[] = door ? ['protect', 'door'] : ['protect'];
const COST_RATE = 80_000;

function wrk(lab: Lab, conns: number, duration = seconds): Promise<WrkResult> {
  return runWrk({ ns: lab.client.ns, url: `http://${lab.responder.v4}:${PORT}/`, connections: conns, seconds: duration, cpu: cpus?.network });
}

/**
 * The handoff times a protect() target reported (null for the plain
 * listener), and the share of its connections the kernel's calm listener
 * made (behind the door; null where there is none).
 */
function handoffTimes(stats: Record<string, number>) {
  const t = (k: string): number | null => (typeof stats[k] === 'number' ? stats[k] : null);
  const made = (stats.calmConnections ?? 0) + (stats.handoffs ?? 0);
  const calmShare = stats.calm > 0 && made > 0 ? stats.calmConnections / made : null;
  return { handoffP50Ms: t('handoffP50Ms'), handoffP99Ms: t('handoffP99Ms'), connectionP50Ms: t('connectionP50Ms'), connectionP99Ms: t('connectionP99Ms'), calmShare };
}

async function measure(mode: Mode, flood: boolean, floodRate = 0, conns = connections, floor = false) {
  const lab = buildLab({ tag: 'serve', cpus, xdp: door });
  try {
    if (mode === 'plain') lab.responder.ns.sysctl('net.ipv4.tcp_syncookies', 2);
    if (floor) dropFloodOnArrival(lab);
    // wrk's host reuses its TIME_WAIT ports, as a load generator is set up
    // to: with Connection: close whichever side sends its FIN first keeps
    // the TIME_WAIT, and once wrk holds ~14,000 of its 28,000 ports, its
    // connect() crawls looking for a free one. (It came to that behind
    // protect(): on a saturated server thread its FIN left ~0.7 ms after the
    // response instead of ~0.05 ms, so wrk closed first, and the rate fell
    // to a seventh for the rest of the run.) Real clients come from many
    // hosts and ports.
    lab.client.ns.sysctl('net.ipv4.tcp_tw_reuse', 1);
    const target = await startTarget(lab, mode, { cpu: cpus?.responder, workers });
    if (warmup > 0) await wrk(lab, conns, warmup);
    const floodRun = flood ? labAddon.flood({
      iface: lab.attacker.iface, netns: lab.attacker.ns.path, dstMac: lab.responder.mac,
      dstAddr: lab.responder.v4, dstPort: PORT, srcNet: lab.spoofV4, rate: floodRate, seconds: seconds + 1, cpu: cpus?.network,
    }) : undefined;
    if (floodRun) await new Promise((r) => setTimeout(r, 500));
    // The server's core's busy time per request (without a flood: with one
    // it answers SYNs as well). Its own core when the CPUs are split.
    const before = cpus && !flood ? cpuTimes(cpus.responder) : undefined;
    const w = await wrk(lab, conns);
    const after = before ? cpuTimes(cpus!.responder) : undefined;
    const coreUsPerRequest = before && after ? ((after.busy - before.busy) * 1e6) / TICKS_PER_SECOND / w.requests : null;
    const f = await floodRun;
    const stats = await target.stop();
    return { mode, flood, floor, connections: conns, ...w, successShare: w.requests / (w.requests + w.errors), floodOffered: f ? Math.round(f.sent / f.seconds) : 0, coreUsPerRequest, ...handoffTimes(stats) };
  } finally {
    lab.destroy();
  }
}

type Row = Awaited<ReturnType<typeof measure>> & { ratio?: number; ratios?: number[]; fullSpeed?: boolean };


/** One row from several rounds: the median of each figure, the sums of the counts. */
function combine(runs: Row[]): Row {
  const out: Row = { ...runs[0] };
  for (const k of ['requestsPerSecond', 'p50Ms', 'p99Ms', 'successShare', 'floodOffered'] as const) out[k] = median(runs.map((r) => r[k]));
  for (const k of ['handoffP50Ms', 'handoffP99Ms', 'connectionP50Ms', 'connectionP99Ms', 'coreUsPerRequest', 'calmShare'] as const) {
    const values = runs.map((r) => r[k]).filter((v): v is number => typeof v === 'number');
    out[k] = values.length > 0 ? median(values) : null;
  }
  out.requests = runs.reduce((a, r) => a + r.requests, 0);
  out.errors = runs.reduce((a, r) => a + r.errors, 0);
  return out;
}

/** protect()'s row from its rounds, its ratio to the plain listener's rounds taken round by round. */
function ratioRow(runs: Row[], plain: Row[], fullSpeed = false): Row {
  const ratios = runs.map((r, i) => r.requestsPerSecond / plain[i].requestsPerSecond);
  return { ...combine(runs), ...(fullSpeed ? { fullSpeed } : {}), ratio: median(ratios), ratios };
}

const rows: Row[] = [];
// Without a flood, plain and protect take turns for --rounds rounds (this
// machine's speed drifts by 15% over minutes); each figure is the median,
// and the ratio the median of the rounds' ratios. One connection at a time
// gives the handoff's own time, without the queueing of a saturated server thread.
for (const conns of [1, connections]) {
  const plain: Row[] = [];
  const prot: Record<string, Row[]> = { protect: [], door: [] };
  for (let round = 1; round <= rounds; round++) {
    if (!json) process.stderr.write(`  wrk -c${conns}, round ${round} of ${rounds}: plain, ${servers.join(', ')}...\n`);
    plain.push(await measure('plain', false, 0, conns));
    for (const m of servers) prot[m].push(await measure(m, false, 0, conns));
  }
  rows.push({ ...combine(plain), ratio: 1 }, ...servers.map((m) => ratioRow(prot[m], plain)));
}
// Under flood, --rounds rounds too: first the plain listener at the
// generator's full speed; the rate the generator then manages is offered to
// syncache (same load), and last syncache at full speed, to show where it
// gives. Each row's ratio is to the same round's plain listener.
const floodRows = { fixedPlain: [] as Row[], plain: [] as Row[], floor: [] as Row[], fixed: { protect: [] as Row[], door: [] as Row[] }, same: { protect: [] as Row[], door: [] as Row[] }, full: { protect: [] as Row[], door: [] as Row[] } };
for (let round = 1; round <= rounds; round++) {
  if (fixedRate > 0) {
    if (!json) process.stderr.write(`  under a flood, round ${round} of ${rounds}: plain and ${servers.join(', ')} at ${fixedRate} SYN/s...\n`);
    floodRows.fixedPlain.push(await measure('plain', true, fixedRate));
    for (const m of servers) floodRows.fixed[m as 'protect' | 'door'].push(await measure(m, true, fixedRate));
  }
  if (!json) process.stderr.write(`  under a flood, round ${round} of ${rounds}: plain at full speed...\n`);
  const plainFlood: Row = await measure('plain', true);
  const offered = Math.round(plainFlood.floodOffered / 1000) * 1000;
  floodRows.plain.push(plainFlood);
  if (!json) process.stderr.write(`  the lab's floor: plain with the flood dropped on arrival, at full speed...\n`);
  floodRows.floor.push(await measure('plain', true, 0, connections, true));
  for (const m of servers) {
    if (!json) process.stderr.write(`  ${m} at ${offered} SYN/s, ${m} at full speed...\n`);
    floodRows.same[m as 'protect' | 'door'].push(await measure(m, true, offered));
    floodRows.full[m as 'protect' | 'door'].push(await measure(m, true));
  }
}
if (fixedRate > 0) rows.push({ ...combine(floodRows.fixedPlain), ratio: 1 }, ...servers.map((m) => ratioRow(floodRows.fixed[m as 'protect' | 'door'], floodRows.fixedPlain)));
rows.push({ ...combine(floodRows.plain), fullSpeed: true, ratio: 1 });
rows.push({ ...ratioRow(floodRows.floor, floodRows.plain), fullSpeed: true });
for (const m of servers) rows.push(ratioRow(floodRows.same[m as 'protect' | 'door'], floodRows.plain), ratioRow(floodRows.full[m as 'protect' | 'door'], floodRows.plain, true));
// The responder core's cost per SYN, both at one rate, when the CPUs are split.
const costs: CostRow[] = [];
if (cpus !== undefined) {
  for (const mode of ['plain', 'protect'] as const) {
    if (!json) process.stderr.write(`  ${mode}: CPU per SYN at ${COST_RATE} SYN/s, no clients...\n`);
    costs.push(await synCost({ mode, rate: COST_RATE, seconds, cpus }));
  }
}
const machine = hostLine();
const record = { type: 'serve', date: new Date().toISOString(), machine, seconds, warmup, connections, rounds, workers, cpus: cpus ?? null, floodRate: fixedRate, door: door ? 'on' : doorMissing, rows, costs };
const saved = saveResult('serve', record);
if (json) {
  console.log(JSON.stringify(record));
} else {
  process.stderr.write(`  (appended to ${saved})\n`);
  console.log(`\nbench:serve ${new Date().toISOString()} on ${machine}; wrk -t1 -d${seconds}s after a ${warmup} s warm-up of each server, Connection: close; each row the median of ${rounds} rounds (ratio: median, and range); p99 x: the p99 over the same server's without a flood at -c${connections}; ${cpus ? `server on CPU ${cpus.responder}, network, wrk and generator on CPU ${cpus.network}` : 'CPUs left to the scheduler'}; syncache's SYN path ${workers === 0 ? 'on the server thread' : `in ${workers} worker thread(s)`}\n`);
  console.log('handoff: from the final ACK to its kernel socket done (where the kernel queues a connection for accept); to \'connection\': on to the server\'s event, after the wait for its thread\'s turn.\n');
  console.log('server core per request: the server\'s CPU busy (user, system, interrupts) over the requests served, without a flood.\n');
  console.log('calm: behind the door, the share of connections the kernel\'s own listener made (SYNs below protect()\'s calm rate), the rest handed over by syncache; over the target\'s life, so under a flood it counts the calm warm-up too.\n');
  console.log('floor: the plain listener while the flood\'s SYNs are dropped as they arrive at the server (netdev ingress): what carrying the flood alone costs the lab, the least any responder can show.\n');
  console.log('| server | wrk -c | flood | requests/s | ratio to plain | p50 | p99 | p99 x | requests ok | calm | handoff p50 / p99 | to \'connection\' p50 / p99 | server core per request |');
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const pair = (p50: number | null, p99: number | null): string => (p50 === null || p99 === null ? '-' : `${p50.toFixed(2)} / ${p99.toFixed(2)} ms`);
  const calm = (mode: string): Row | undefined => rows.find((x) => x.mode === mode && !x.flood && x.connections === connections);
  for (const r of rows) {
    const base = r.flood ? calm(r.mode) : undefined;
    const times = base ? `${(r.p99Ms / base.p99Ms).toFixed(1)}x` : '-';
    const full = r.fullSpeed === true ? ' (full speed)' : '';
    const spread = r.ratios ? ` (${Math.min(...r.ratios).toFixed(2)}-${Math.max(...r.ratios).toFixed(2)})` : '';
    const server = r.floor ? 'floor: plain, flood dropped on arrival' : r.mode === 'plain' ? 'plain listener' : r.mode === 'door' ? 'syncache protect(), door' : 'syncache protect()';
    console.log(`| ${server} | ${r.connections} | ${r.flood ? `${r.floodOffered.toLocaleString('en-US')} SYN/s${full}` : 'none'} | ${Math.round(r.requestsPerSecond).toLocaleString('en-US')} | ${(r.ratio ?? 1).toFixed(2)}${spread} | ${r.p50Ms.toFixed(2)} ms | ${r.p99Ms.toFixed(2)} ms | ${times} | ${(100 * r.successShare).toFixed(2)}% | ${r.calmShare === null ? '-' : `${(100 * r.calmShare).toFixed(0)}%`} | ${pair(r.handoffP50Ms, r.handoffP99Ms)} | ${pair(r.connectionP50Ms, r.connectionP99Ms)} | ${r.coreUsPerRequest === null ? '-' : `${Math.round(r.coreUsPerRequest)} µs`} |`);
  }
  if (costs.length > 0) {
    const total = (c: (typeof costs)[number]): number => c.userUs + c.systemUs + c.softirqUs;
    console.log(`\nThe responder core's time per SYN at ${COST_RATE.toLocaleString('en-US')} SYN/s, no clients:\n`);
    console.log('| server | offered SYN/s | answered | user µs | system µs | softirq µs | total µs | ratio to plain | core busy |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of costs) {
      console.log(`| ${c.mode === 'plain' ? 'plain listener' : 'syncache protect()'} | ${c.offered.toLocaleString('en-US')} | ${(100 * c.answered).toFixed(1)}% | ${c.userUs.toFixed(2)} | ${c.systemUs.toFixed(2)} | ${c.softirqUs.toFixed(2)} | ${total(c).toFixed(2)} | ${(total(c) / total(costs[0])).toFixed(2)} | ${(100 * c.busy).toFixed(0)}% |`);
    }
  }
}
