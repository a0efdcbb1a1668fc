// Ring and generator figures, in a lab of their own:
//   generator   SYN/s of addon.flood flat out, per wall second and per CPU
//               second of its thread, TX ring vs sendmmsg, with the frames
//               dropped on arrival (addressed to another MAC) so the figure
//               is the sender's alone, and against the kernel's listener
//               (syncookies=2), whose work runs on the same CPU over veth;
//   ring drain  frames/s receive() takes out of a full ring (parse + cookie
//               pass into the batch), timed on the JS thread;
//   ring live   a started ring reading a flat-out flood: frames taken and
//               kernel drops.
//   node dist/bench/ring.js [--seconds N]
import { spawn } from 'node:child_process';
import { addon, type FloodOptions } from '../lib/native/addon.js';
import { CookieSecrets } from '../lib/engine/cookie-secrets.js';
import { BatchView } from '../lib/native/batch.js';
import { createPairLab, labUnavailableReason } from '../lib/lab/netns.js';

const why = labUnavailableReason();
if (why) {
  console.error(`bench:ring: cannot run: ${why}`);
  process.exit(0);
}
const secondsArg = process.argv.indexOf('--seconds');
const seconds = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 2;
const PORT = 8080;
const pair = createPairLab('bring', 7);
pair.responder.ip(['route', 'add', '198.19.0.0/16', 'via', pair.peerV4]);
pair.responder.sysctl('net.ipv4.tcp_syncookies', 2);
const responderMac = pair.responder.macOf(pair.responderIface);
const count = (c: BigUint64Array, name: string) => Number(c[addon.counterNames.indexOf(name)]);

function flood(extra: Partial<FloodOptions>) {
  return addon.flood({
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
  console.table(rows);
} finally {
  pair.lab.destroy();
}
