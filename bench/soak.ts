// npm run soak - a protect()ed http.Server in the lab under everything at
// once, for --seconds (60): a SYN flood from the built-in generator at
// --flood-rate, the crafted attacks of soak-attacker.py from the attacker's
// host, and wrk's legitimate clients (a new connection per request) from the
// client's. Every --every seconds it samples the server's RSS, open fds and
// SYN cache size; at the end it prints the samples, wrk's figures, what the
// attacker sent and saw, and every counter, and appends one JSON line to
// bench/results/soak.jsonl.
// It passes (exit 0) when every legitimate request was answered, the server
// survived, and nothing grew without bound: from the middle sample to the
// last, RSS grew by at most 10% + 8 MiB and fds by at most 16, and the cache
// stayed within its limit.
//   node dist/bench/soak.js [--seconds N] [--flood-rate N] [--connections N] [--every N] [--workers N] [--json]
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildLab, type Lab } from '../lib/lab/topology.js';
import { labAddon } from '../lib/lab/lab-addon.js';
import { resolveConfig } from '../lib/engine/config.js';
import { benchFlags, machine, requireLab } from './common.js';
import { runWrk } from './wrk.js';
import { saveResult } from './results.js';
import { PORT, startTarget } from './target.js';

const values = benchFlags('soak', `
usage: npm run soak -- [flags]   (root: it builds network namespaces)
A protect()ed http.Server under a SYN flood, crafted attacks and wrk at once;
exit 0 if every request was answered and nothing grew without bound.
Appends to bench/results/soak.jsonl.
  --seconds N        how long (default 60)
  --flood-rate N     the flood's SYN/s (default 40000)
  --connections N    wrk connections (default 8)
  --every N          seconds between samples (default 5)
  --workers N        syncache's worker threads (default 0)
  --json             the report as JSON on stdout
`, {
  seconds: { type: 'string', default: '60' },
  'flood-rate': { type: 'string', default: '40000' },
  connections: { type: 'string', default: '8' },
  every: { type: 'string', default: '5' },
  workers: { type: 'string', default: '0' },
  json: { type: 'boolean', default: false },
});

function integer(name: string, min: number, max: number): number {
  const text = values[name as keyof typeof values] as string;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`soak: --${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}
const seconds = integer('seconds', 10, 86_400);
const floodRate = integer('flood-rate', 0, 10_000_000);
const connections = integer('connections', 1, 1000);
const every = integer('every', 1, 3600);
const workers = integer('workers', 0, 64);
const json = values.json === true;
requireLab('soak');

const PYTHON = '/usr/bin/python3';
if (spawnSync(PYTHON, ['-c', 'import scapy.all'], { stdio: 'ignore' }).status !== 0) {
  console.error('soak: cannot run: Debian\'s python3-scapy is not installed (apt-get install python3-scapy tcpdump)');
  process.exit(1);
}
const ATTACKER = fileURLToPath(new URL('../../bench/soak-attacker.py', import.meta.url));
const CACHE_LIMIT = resolveConfig().cacheLimit; // serve-target runs protect() with the defaults

interface Sample { second: number; rssKiB: number; fds: number; cacheSize: number }

const log = (line: string): void => { if (!json) process.stderr.write(`${line}\n`); };

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function soak(lab: Lab) {
  const r = lab.responder;
  // The attacker's handshakes come from ports no socket of its own has: its
  // kernel would reset every answer. Only those ports' RSTs stay home.
  lab.attacker.ns.exec('nft', ['-f', '-'], [
    'table inet sc_soak {',
    '  chain out { type filter hook output priority 0; tcp sport 40000-40999 tcp flags rst drop; }',
    '}',
    '',
  ].join('\n'));
  lab.client.ns.sysctl('net.ipv4.tcp_tw_reuse', 1);
  const server = await startTarget(lab, 'protect', { workers });
  const pid = server.pid;
  const samples: Sample[] = [];
  const sample = async (second: number): Promise<void> => {
    if (server.died) return;
    const s = await server.stats();
    samples.push({ second, rssKiB: rssKiB(pid), fds: readdirSync(`/proc/${pid}/fd`).length, cacheSize: Number(s.cacheSize ?? 0) });
    const x = samples.at(-1)!;
    log(`  ${String(second).padStart(5)} s  RSS ${(x.rssKiB / 1024).toFixed(1)} MiB  fds ${x.fds}  cache ${x.cacheSize}`);
  };
  // A short warm-up so that the first sample is a process that has compiled its hot paths.
  await runWrk({ ns: lab.client.ns, url: `http://${r.v4}:${PORT}/`, connections, seconds: 2 });
  await sample(0);
  const started = Date.now();
  const flood = floodRate > 0 ? labAddon.flood({
    iface: lab.attacker.iface, netns: lab.attacker.ns.path, dstMac: r.mac,
    dstAddr: r.v4, dstPort: PORT, srcNet: lab.spoofV4, rate: floodRate, seconds,
  }) : Promise.resolve(undefined);
  const [acmd, aargs] = lab.attacker.ns.wrap(PYTHON, [ATTACKER, JSON.stringify({ iface: lab.attacker.iface, src: lab.attacker.v4, dst: r.v4, dport: PORT, client: lab.client.v4, seconds })]);
  const attacker = spawn(acmd, aargs, { stdio: ['ignore', 'pipe', 'inherit'] });
  let attackerOut = '';
  attacker.stdout!.on('data', (d) => (attackerOut += d));
  const attacked = new Promise<Record<string, unknown>>((resolve) => attacker.once('exit', (code) => {
    try { resolve(JSON.parse(attackerOut)); } catch { resolve({ error: `attacker exited with ${code}: ${attackerOut}` }); }
  }));
  const clients = runWrk({ ns: lab.client.ns, url: `http://${r.v4}:${PORT}/`, connections, seconds });
  const timer = setInterval(() => { void sample(Math.round((Date.now() - started) / 1000)); }, every * 1000);
  const [wrk, floodResult, attacks] = await Promise.all([clients, flood, attacked]);
  clearInterval(timer);
  await sample(Math.round((Date.now() - started) / 1000));
  const died = server.died;
  const counters = died ? {} : await server.stop();
  return { samples, wrk, flood: floodResult ? { sent: floodResult.sent, seconds: floodResult.seconds } : null, attacks, counters, serverExit: died ?? null };
}

log(`soak: ${seconds} s of a ${floodRate} SYN/s flood, crafted attacks and ${connections} wrk connections against protect() (workers ${workers}) on ${machine()}`);
const lab = buildLab({ tag: 'soak' });
let result;
try {
  result = await soak(lab);
} finally {
  lab.destroy();
}
const { samples } = result;
const mid = samples[Math.floor(samples.length / 2)];
const end = samples.at(-1)!;
const checks = {
  everyRequestServed: result.wrk.errors === 0 && result.wrk.requests > 0,
  serverSurvived: result.serverExit === null,
  rssFlat: end.rssKiB - mid.rssKiB <= mid.rssKiB * 0.1 + 8 * 1024,
  fdsFlat: end.fds - mid.fds <= 16,
  cacheBounded: samples.every((s) => s.cacheSize <= CACHE_LIMIT),
};
const ok = Object.values(checks).every(Boolean);
const record = { type: 'soak', date: new Date().toISOString(), machine: machine(), seconds, floodRate, connections, workers, ok, checks, ...result };
const saved = saveResult('soak', record);
log(`(appended to ${saved})`);
if (json) {
  console.log(JSON.stringify(record));
} else {
  const w = result.wrk;
  console.log(`legitimate requests: ${w.requests} answered, ${w.errors} errors (${w.requestsPerSecond.toFixed(0)}/s, p99 ${w.p99Ms.toFixed(1)} ms)`);
  if (result.flood) console.log(`flood: ${Math.round(result.flood.sent / result.flood.seconds)} SYN/s offered`);
  console.log(`RSS: ${(samples[0].rssKiB / 1024).toFixed(1)} MiB at start, ${(mid.rssKiB / 1024).toFixed(1)} MiB mid-run, ${(end.rssKiB / 1024).toFixed(1)} MiB at end`);
  console.log(`open fds: ${samples[0].fds} at start, ${mid.fds} mid-run, ${end.fds} at end`);
  console.log(`attacks: ${JSON.stringify(result.attacks)}`);
  console.log(`counters: ${JSON.stringify(result.counters)}`);
  for (const [k, v] of Object.entries(checks)) console.log(`${v ? 'ok  ' : 'FAIL'} ${k}`);
}
process.exit(ok ? 0 : 1);
