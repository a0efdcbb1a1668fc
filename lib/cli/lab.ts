// syncache lab: the main job on an embedded default. Builds a lab (attacker,
// client and responder namespaces), runs the responder, floods it with
// spoofed SYNs from the built-in generator, connects legitimate clients with
// the kernel's TCP stack, and reports what got through. The lab is removed
// on exit and on Ctrl-C.
import type { Command } from './command.js';
import { choice, integer, ioFlag, metricsAddress, workersWarning } from './args.js';
import { effectiveCapabilities, requireCapabilities } from './capabilities.js';
import { autoWarning, decideIo, doorNeeds, DOOR_RING_SIZE } from './io-needs.js';
import { doorRefusal } from '../responder/io-choice.js';
import { MetricsServer } from './metrics-server.js';
import { runLabScenario, type LabReport } from '../lab/scenario.js';
import { syncacheMetrics } from '../metrics/prometheus.js';
import { LIMITS } from '../engine/config.js';
import { jsonLine } from './view.js';

const HELP = `Usage: syncache lab [--seconds N] [--rate PPS] [options]

Builds a throwaway lab of network namespaces: attacker, client and responder
on a switch (addresses from 198.18.0.0/15 and 2001:db8::/32), runs
syncache in the responder, floods it with spoofed SYNs from the built-in
generator while real clients (the kernel's TCP stack) connect over IPv4 and
IPv6, and prints a summary. Everything it creates is removed on exit.

  --config FILE        JSON object of these flags without the dashes, e.g.
                       {"seconds":30,"rate":200000}; a flag given here
                       replaces the file's value
  --seconds N          flood duration (default 10)
  --rate PPS           SYNs per second offered by the generator (default 100000;
                       0 = as fast as one core can)
  --clients CPS        legitimate connects per second (default 50)
  --syncookies MODE    off | on | only (default on)
  --io PATH            packet | xdp | auto (default packet): syncache's AF_PACKET
                       ring and gate, the XDP door and an AF_XDP ring (the
                       lab readies its veths for XDP), or the door where it
                       can be had
  --pause-ms N         with 'on': how long new flows get cookies without
                       entries once the cache ran out (default 15000; 0: never)
  --workers N          responder worker threads, one ring and cache shard each
                       (default 0: one shard on the main thread; more than
                       the cores warns); with --io xdp the responder's veth
                       gets a queue a shard
  --metrics HOST:PORT  serve the responder's Prometheus metrics at
                       http://HOST:PORT/metrics while the lab runs (in the
                       namespace syncache lab itself runs in)
  --json               JSON lines: {"type":"progress",...} each second and one
                       {"type":"summary",...}, each with "io" (as asked) and
                       "backend" (the path taken: packet or xdp)

Needs root: CAP_SYS_ADMIN (namespaces), CAP_NET_ADMIN (links, the gate) and
CAP_NET_RAW (the ring, the generator); --io xdp also CAP_IPC_LOCK where
RLIMIT_MEMLOCK is below the AF_XDP ring's ${DOOR_RING_SIZE}.
`;

export const runLab: Command = {
  help: HELP,
  options: {
    seconds: { type: 'string' },
    rate: { type: 'string' },
    clients: { type: 'string' },
    syncookies: { type: 'string' },
    io: { type: 'string' },
    'pause-ms': { type: 'string' },
    workers: { type: 'string' },
    metrics: { type: 'string' },
    json: { type: 'boolean' },
    config: { type: 'string' },
  },
  async run(v) {
    const seconds = integer('seconds', v.seconds, 1, 3600) ?? 10;
    const rate = integer('rate', v.rate, 0, 10_000_000) ?? 100_000;
    const clientRate = integer('clients', v.clients, 1, 10_000) ?? 50;
    const syncookies = choice('syncookies', v.syncookies, ['off', 'on', 'only'] as const) ?? 'on';
    const workers = integer('workers', v.workers, 0, 64) ?? 0;
    const asked = ioFlag(v);
    const pauseMs = integer('pause-ms', v['pause-ms'], 0, LIMITS.pauseMsMax);
    const metricsAt = metricsAddress(v);
    const effective = effectiveCapabilities();
    // The lab's veths do not exist yet (it makes them with a queue a shard): the door's own refusal is its build.
    const decision = decideIo(asked, () => doorRefusal({ iface: '', workers }, undefined), effective);
    requireCapabilities('syncache lab', [
      { capability: 'CAP_SYS_ADMIN', for: 'network namespaces' },
      { capability: 'CAP_NET_ADMIN', for: 'links, addresses and the gate' },
      { capability: 'CAP_NET_RAW', for: 'the packet ring and the generator' },
      ...(decision.path === 'xdp' ? doorNeeds() : []),
    ], effective);
    for (const line of [workersWarning(workers), autoWarning(decision)]) if (line) process.stderr.write(line);
    const io = decision.io;
    const metrics = metricsAt && await MetricsServer.listen(metricsAt.host, metricsAt.port);
    const json = v.json === true;
    const out = process.stdout;
    const tty = !json && out.isTTY === true;
    if (!json) out.write(`syncache lab: building the lab, then ${seconds} s of flood at ${rate === 0 ? 'full speed' : `${rate} SYN/s`} with ${clientRate} client connects/s (syncookies ${syncookies}, ${threads(workers)}, io ${io})\n`);
    let backend: string | undefined;
    const report = await runLabScenario({
      target: 'syncache', seconds, rate, clientRate, syncookies, pauseMs, workers, io,
      onResponder: (responder) => {
        backend = responder.backend;
        metrics?.serve(syncacheMetrics(responder));
      },
      onProgress(p) {
        if (json) out.write(`${jsonLine('progress', { io, backend, ...p })}\n`);
        else {
          const line = `  ${p.elapsed.toFixed(0).padStart(3)} s  SYN in ${fmt(p.synPerSecond)}/s  SYN-ACK out ${fmt(p.synAckPerSecond)}/s  cache ${p.cacheEntries}  handshakes ${p.completed}`;
          out.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
        }
      },
    }).finally(() => metrics?.close());
    if (tty) out.write('\n');
    // The report's io is the path taken; here, as in listen's lines, that is "backend" and "io" is the flag.
    if (json) out.write(`${jsonLine('summary', { ...report, io, backend: report.io })}\n`);
    else out.write(summaryText(report, io));
    return 0;
  },
};

/** How a shard count reads. */
export function threads(workers: number): string {
  return workers === 0 ? 'main thread' : `${workers} worker${workers > 1 ? 's' : ''}`;
}

function fmt(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}

/** The lab's summary; `asked`: the --io given (the report says the path taken). */
export function summaryText(r: LabReport, asked: string = r.io): string {
  const pct = (a: number, b: number) => (b > 0 ? `${((100 * a) / b).toFixed(1)}%` : 'n/a');
  const ms = (n: number | null) => (n === null ? 'n/a' : `${n.toFixed(1)} ms`);
  const io = asked === r.io ? `io ${r.io}` : `io ${asked}: ${r.io}`;
  return [
    '',
    `summary (${r.seconds.toFixed(1)} s, ${r.target}, syncookies ${r.syncookies}, ${threads(r.workers)}, ${io})`,
    `  offered            ${fmt(r.offeredPerSecond)} SYN/s (${r.synsSent} SYNs)`,
    `  answered           ${fmt(r.answeredPerSecond)} SYN/s (${pct(r.synsAnswered, r.synsSent)} of offered; ${r.synAcksSeen} SYN-ACKs with retransmits)`,
    `  legitimate         ${r.clients.completed} of ${r.clients.attempted} connects completed (${pct(r.clients.completed, r.clients.attempted)}), p50 ${ms(r.clients.p50)}, p99 ${ms(r.clients.p99)}`,
    `  cache occupancy    ${r.cacheEntries} entries at the end, peak ${r.cachePeak}${(r.counters.pauses ?? 0) > 0 ? `; paused ${r.counters.pauses} time(s) when it ran out (cookies only for new flows)` : ''}`,
    `  cookies            ${r.counters.sendcookie ?? 0} sent, ${r.counters.recvcookie ?? 0} validated, ${r.counters.failcookie ?? 0} failed`,
    `  kernel ring drops  ${r.counters.kernelDrops ?? 0}`,
    '',
  ].join('\n');
}
