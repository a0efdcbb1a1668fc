// Ring and generator figures, in a lab of their own:
//   generator   SYN/s of labAddon.flood flat out, per wall second and per CPU
//               second of its thread, TX ring vs sendmmsg, with the frames
//               dropped on arrival (addressed to another MAC) so the figure
//               is the sender's alone, and against the kernel's listener
//               (syncookies=2), whose work runs on the same CPU over veth;
//   ring drain  frames/s receive() takes out of a full ring (parse + cookie
//               pass into the batch), timed on the JS thread;
//   ring live   a started ring reading a flat-out flood: frames taken and
//               kernel drops; AF_PACKET (the responder's kernel sees each
//               SYN too and resets it: no listener) and AF_XDP behind the
//               lab's redirect program (copy mode on veth; the kernel never
//               sees the SYNs);
//   ring send   send() of a full batch of SYN-ACKs, ns per frame, with the
//               row's MAC as written (nextHop 'source') and with the routed
//               next hop (nextHop 'route': route scan + neighbour lookup per
//               frame, one non-blocking netlink drain per call), to distinct
//               off-link addresses through a resolved gateway (the same
//               MAC both ways, so the receiver's work is the same); and to
//               on-link addresses nobody has (every reply unresolved: a
//               probe per new address, then dropped at a lookup's cost:
//               the lookup alone, without the TX path).
// The table is printed and its record appended to bench/results/ring.jsonl.
// Run: npm run bench:ring [-- --seconds N]
import { spawn } from 'node:child_process';
import { addon } from '../lib/native/addon.js';
import { labAddon, type FloodOptions } from '../lib/lab/lab-addon.js';
import { CookieSecrets } from '../lib/engine/cookie-secrets.js';
import { BatchView } from '../lib/native/batch.js';
import { createPairLab } from '../lib/lab/netns.js';
import { machine, median, requireLab } from './common.js';
import { saveResult } from './results.js';

requireLab('bench:ring');
const secondsArg = process.argv.indexOf('--seconds');
const seconds = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 2;
const PORT = 8080;
const pair = createPairLab('bring', 7);
pair.responder.ip(['route', 'add', '198.19.0.0/16', 'via', pair.peerV4]);
pair.responder.sysctl('net.ipv4.tcp_syncookies', 2);
const responderMac = pair.responder.macOf(pair.responderIface);
const peerMac = pair.peer.macOf(pair.peerIface);
const count = (c: BigUint64Array, name: string) => Number(c[addon.counterNames.indexOf(name)]);

function flood(extra: Partial<FloodOptions>) {
  return labAddon.flood({
    iface: pair.peerIface, netns: pair.peer.path, dstMac: responderMac, dstAddr: pair.responderV4,
    dstPort: PORT, srcNet: '198.19.0.0/16', rate: 0, seconds, ...extra,
  });
}

function ring(extra = {}) {
  const rx = new BatchView();
  const r = new addon.Ring({
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT],
    cookies: 'on', secrets: CookieSecrets.create(Date.now()).view, rxBatch: rx.buffer,
    txBatch: new ArrayBuffer(addon.batchLayout.byteLength), ...extra,
  });
  return { r, rx };
}

// Median ns per frame of send(count) over `rounds` calls.
function timeSend(r: ReturnType<typeof ring>['r'], count: number, rounds: number): number {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    r.send(count);
    samples.push(Number(process.hrtime.bigint() - t0) / count);
  }
  return median(samples);
}

// Addresses as the batch holds them: network order in a little-endian word.
const v4Word = (a: number, b: number, c: number, d: number) => (a | (b << 8) | (c << 16) | (d << 24)) >>> 0;

function fillSynAcks(tx: BatchView, count: number, to: (i: number) => number): void {
  const { kinds, optFlags } = addon.constants;
  const [a, b, c, d] = pair.responderV4.split('.').map(Number);
  for (let i = 0; i < count; i++) {
    tx.kind[i] = kinds.synAck;
    tx.family[i] = 4;
    tx.saddr[i * 4] = v4Word(a, b, c, d);
    tx.daddr[i * 4] = to(i);
    tx.sport[i] = PORT;
    tx.dport[i] = 1024 + i;
    tx.seq[i] = i;
    tx.ack[i] = i + 1;
    tx.window[i] = 65535;
    tx.mss[i] = 1460;
    tx.optFlags[i] = optFlags.mss;
    tx.mac.set(peerMac, i * 6);  // what the route gives too: the receiver's work is the same
  }
}

async function sendFigures(): Promise<Array<Record<string, string | number>>> {
  const perSend = 2048;
  const rounds = 200;
  const rows: Array<Record<string, string | number>> = [];
  const open = (nextHop: 'source' | 'route') => {
    const tx = new BatchView();
    const { r } = ring({ nextHop, txBatch: tx.buffer });
    return { r, tx };
  };
  const far = (i: number) => v4Word(198, 19, (i >> 8) & 255, i & 255);
  const cases: Array<[string, 'source' | 'route', (i: number) => number]> = [
    ['ring send, nextHop source (SYN source MAC)', 'source', far],
    ['ring send, nextHop route (via gateway)', 'route', far],
    ['ring send, nextHop route, on-link unresolved', 'route', (i) => v4Word(198, 18, 7, 10 + (i % 200))],
  ];
  const results = new Map<string, number[]>();
  for (let round = 0; round < 3; round++) {
    for (const [name, nextHop, to] of cases) {
      const { r, tx } = open(nextHop);
      fillSynAcks(tx, perSend, to);
      // Warm: the gateway resolved (the first send asks the kernel), the
      // unresolved addresses asked once, caches hot.
      for (let i = 0; i < 100 && r.send(1) === 0 && to === far; i++) await new Promise((w) => setTimeout(w, 20));
      r.send(perSend);
      const ns = timeSend(r, perSend, rounds);
      results.set(name, [...(results.get(name) ?? []), ns]);
      if (round === 2) {
        rows.push({
          case: name,
          nsPerFrame: Math.round(Math.min(...results.get(name)!)),
          sent: count(r.counters, 'txFrames'),
          unresolved: count(r.counters, 'replyUnresolved'),
          probes: count(r.counters, 'nextHopProbes'),
          txRingFull: count(r.counters, 'txRingFull'),
        });
      }
      r.close();
    }
  }
  return rows;
}

try {
  const rows: Array<Record<string, string | number>> = [];
  for (const method of ['ring', 'sendmmsg'] as const) {
    const res = await flood({ method, dstMac: Uint8Array.from([2, 0, 0, 0, 0, 1]) });
    rows.push({ case: `generator, ${method}, frames dropped on arrival`, perSecond: Math.round(res.sent / res.seconds), perCpuSecond: Math.round(res.sent / res.cpuSeconds) });
  }
  const [cmd, args] = pair.responder.wrap(process.execPath, ['-e', `require('net').createServer((s) => s.destroy()).listen(${PORT}, () => console.log('ready'))`]);
  const server = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => server.stdout!.once('data', resolve));
  for (const method of ['ring', 'sendmmsg'] as const) {
    const res = await flood({ method });
    rows.push({ case: `generator, ${method}, kernel listener answers`, perSecond: Math.round(res.sent / res.seconds), perCpuSecond: Math.round(res.sent / res.cpuSeconds), replies: res.replies });
  }
  if (server.pid) process.kill(server.pid, 'SIGTERM');

  {
    const { r, rx } = ring({ blockSize: 4 << 20, blockCount: 64, retireMs: 60_000 });
    await flood({ seconds: 1 });
    const t0 = process.hrtime.bigint();
    while (r.receive() > 0);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    rows.push({ case: 'ring drain (receive() from a full ring)', perSecond: Math.round(count(r.counters, 'rxFrames') / dt), frames: count(r.counters, 'rxFrames') });
    void rx;
    r.close();
  }
  {
    const { r, rx } = ring();
    r.start(() => { while (r.receive() === rx.kind.length); });
    const res = await flood({});
    r.updateKernelStats();
    rows.push({ case: 'ring live (started, flood flat out)', perSecond: Math.round(count(r.counters, 'rxFrames') / res.seconds), sent: res.sent, kernelDrops: count(r.counters, 'kernelDrops') });
    r.close();
  }
  {
    const program = new labAddon.XdpRedirect({ iface: pair.responderIface, netns: pair.responder.path });
    try {
      const { r, rx } = ring({ io: 'xdp', xskMap: program.xskMap, rxFrames: 16384 });
      r.start(() => { while (r.receive() === rx.kind.length); });
      const res = await flood({});
      r.updateKernelStats();
      rows.push({
        case: `ring live, AF_XDP ${r.zeroCopy ? 'zero-copy' : 'copy mode'} (started, flood flat out)`,
        perSecond: Math.round(count(r.counters, 'rxFrames') / res.seconds), sent: res.sent, kernelDrops: count(r.counters, 'kernelDrops'),
      });
      r.close();
    } finally {
      program.close();
    }
  }
  rows.push(...(await sendFigures()));
  console.log(machine());
  console.table(rows);
  console.log(`saved to ${saveResult('ring', { type: 'ring', date: new Date().toISOString(), machine: machine(), seconds, rows })}`);
} finally {
  pair.lab.destroy();
}
