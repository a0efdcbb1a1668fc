// The handoff benchmark, in a pair lab of its own:
//   1. repairSocket (sync) per call: with params.netns (two setns per call)
//      and from a process already inside the namespace; repairSocketAsync
//      with many calls in flight on the libuv pool. Sockets are closed
//      outside the timed part, in rounds of ROUND.
//   2. handshakes -> usable sockets per second: the responder in its
//      namespace, a kernel client in the peer namespace opening --conns
//      connections (--inflight at a time), each reading a one-byte greeting
//      its repaired socket writes, then closing; then the same clients
//      against the kernel's own listener in the same namespace (the anchor).
//   --baseline: the same connects without handoff (the client stops at
//   'connect'), to compare against.
//   --workers N: the responder's shards on N worker threads (the handoff
//   stays on this thread).
// Run: node dist/bench/handoff.js [--calls N] [--conns N] [--inflight N] [--workers N] [--baseline] [--json]
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createPairLab } from '../lib/lab/netns.js';
import { Responder } from '../lib/responder/responder.js';
import { handoff, repairSocket, repairSocketAsync, type RepairParams } from '../lib/handoff/repair.js';
import { requireLab } from './common.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '4000' },
    conns: { type: 'string', default: '3000' },
    inflight: { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
    inside: { type: 'string' },
    baseline: { type: 'boolean', default: false },
    workers: { type: 'string', default: '1' },
  },
});
const ROUND = 500;
const calls = Number(values.calls);

function params(local: string, remote: string, i: number, netns?: string): RepairParams {
  return {
    family: 4, localAddress: local, localPort: 80, remoteAddress: remote, remotePort: 1024 + (i % 60000),
    iss: (i * 2654435761) >>> 0, irs: (i * 40503) >>> 0, mss: 1460, wscale: 7, ourWscale: 7, sackPermitted: true,
    timestamps: { peerTsval: 1000, ourTsval: 2000 }, tsNow: 2002, window: 502, mark: 0x5ca, netns,
  };
}

/** µs per sync call over `calls` calls. */
function syncRun(local: string, remote: string, netns?: string): number {
  let spent = 0;
  for (let done = 0; done < calls; done += ROUND) {
    const fds: number[] = [];
    const start = performance.now();
    for (let i = done; i < Math.min(calls, done + ROUND); i++) fds.push(repairSocket(params(local, remote, i, netns)));
    spent += performance.now() - start;
    for (const fd of fds) closeSync(fd);
  }
  return (spent * 1000) / calls;
}

async function asyncRun(local: string, remote: string, netns: string): Promise<number> {
  let spent = 0;
  for (let done = 0; done < calls; done += ROUND) {
    const start = performance.now();
    const fds = await Promise.all(Array.from({ length: Math.min(ROUND, calls - done) }, (_, k) => repairSocketAsync(params(local, remote, done + k, netns))));
    spent += performance.now() - start;
    for (const fd of fds) closeSync(fd);
  }
  return calls / (spent / 1000);
}

if (values.inside !== undefined) {
  // Child mode: already inside the responder namespace.
  const [local, remote] = values.inside.split(',');
  process.stdout.write(JSON.stringify({ usPerCall: syncRun(local, remote) }));
  process.exit(0);
}

requireLab('bench:handoff');

const pair = createPairLab('hbench', 12);
try {
  const here = fileURLToPath(import.meta.url);
  const withNetns = syncRun(pair.responderV4, pair.peerV4, pair.responder.path);
  const [cmd, args] = pair.responder.wrap(process.execPath, [here, '--calls', String(calls), '--inside', `${pair.responderV4},${pair.peerV4}`]);
  const inside = await new Promise<number>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += String(d); });
    child.on('exit', (code) => (code === 0 ? resolve((JSON.parse(out) as { usPerCall: number }).usPerCall) : reject(new Error(`child exited ${code}`))));
  });
  const asyncPerSecond = await asyncRun(pair.responderV4, pair.peerV4, pair.responder.path);

  // Handshakes -> usable sockets.
  const conns = Number(values.conns);
  const inflight = Number(values.inflight);
  const r = await Responder.open({ iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [80], syncookies: 'off', workers: Number(values.workers) });
  const cpu0 = process.cpuUsage();
  let made = 0;
  let failed = 0;
  let firstHandshake = 0;
  let lastSocket = 0;
  r.on('handshake', (h) => {
    if (firstHandshake === 0) firstHandshake = performance.now();
    if (values.baseline) { made++; lastSocket = performance.now(); return; }
    handoff(h, { netns: pair.responder.path, ourWindow: r.config.window }).then((socket) => {
      made++;
      lastSocket = performance.now();
      socket.on('error', () => {});
      socket.write('x');
    }, () => { failed++; });
  });
  const client = await runClients(pair.responderV4, conns, inflight, values.baseline === true);
  const cpu = process.cpuUsage(cpu0);
  const stats = r.stats();
  await r.close();
  const synRetrans = Number(/TcpExtTCPSynRetrans\s+(\d+)/.exec(pair.peer.exec('nstat', ['-az', 'TcpExtTCPSynRetrans']))?.[1] ?? NaN);

  // The anchor: the kernel's own listener in the same namespace, greeting the same way.
  const [lcmd, largs] = pair.responder.wrap(process.execPath, ['-e', `
    let accepted = 0;
    require('net').createServer((s) => { accepted++; s.on('error', () => {}); s.write('x'); })
      .listen({ port: 80, host: '${pair.responderV4}', backlog: 1024 }, () => console.log('ready'));
    process.stdin.on('data', () => { const c = process.cpuUsage(); console.log(JSON.stringify({ accepted, cpuUs: c.user + c.system })); process.exit(0); });
  `]);
  const listener = spawn(lcmd, largs, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  listener.stdout.on('data', (d) => {
    lines.push(...String(d).split('\n').filter((l) => l.length > 0));
    waiters.splice(0).forEach((w) => w());
  });
  const line = async (test: (l: string) => boolean): Promise<string> => {
    for (;;) {
      const found = lines.find(test);
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  await line((l) => l === 'ready');
  const kernelClient = await runClients(pair.responderV4, conns, inflight, false);
  listener.stdin.write('stop\n');
  const listenerDone = line((l) => l.startsWith('{')).then((l) => JSON.parse(l) as { accepted: number; cpuUs: number });
  const kernel = await listenerDone;

  const report = {
    syncUsPerCall: { withNetns: round(withNetns), insideNamespace: round(inside) },
    asyncSocketsPerSecond: Math.round(asyncPerSecond),
    handshakesToSockets: {
      conns, inflight, workers: Number(values.workers), baseline: values.baseline === true, made, failed, clientErrors: client.errors,
      clientSeconds: round(client.ms / 1000),
      perSecond: Math.round(conns / (client.ms / 1000)),
      serverPerSecond: Math.round(made / ((lastSocket - firstHandshake) / 1000)),
      meanConnectMs: round(client.connectMs), meanGreetingMs: round(client.greetMs),
      completed: stats.completed,
      responderCpuUsPerConn: round((cpu.user + cpu.system) / conns),
      ringKernelDrops: stats.kernelDrops, clientSynRetransmits: synRetrans, slowConnects: client.slow,
    },
    kernelListener: {
      perSecond: Math.round(conns / (kernelClient.ms / 1000)), accepted: kernel.accepted,
      meanConnectMs: round(kernelClient.connectMs), meanGreetingMs: round(kernelClient.greetMs),
      cpuUsPerConn: round(kernel.cpuUs / conns), clientErrors: kernelClient.errors,
    },
  };
  if (values.json) console.log(JSON.stringify(report));
  else {
    console.log(`repairSocket (sync): ${report.syncUsPerCall.withNetns} µs/call with netns (setns in and out), ${report.syncUsPerCall.insideNamespace} µs/call inside the namespace`);
    console.log(`repairSocketAsync: ${report.asyncSocketsPerSecond} sockets/s (libuv pool, ${ROUND} in flight)`);
    const h = report.handshakesToSockets;
    const k = report.kernelListener;
    console.log(`handshakes -> usable sockets${h.baseline ? ' (baseline: no handoff)' : ''}: ${h.perSecond}/s end to end (${h.conns} connects, ${h.inflight} in flight, greeting read by the client), ${h.serverPerSecond}/s first handshake -> last socket; mean connect ${h.meanConnectMs} ms, greeting ${h.meanGreetingMs} ms after connect(); responder process CPU ${h.responderCpuUsPerConn} µs/connection; made ${h.made}, failed ${h.failed}, client errors ${h.clientErrors}`);
    console.log(`  ring kernel drops ${h.ringKernelDrops}, client SYN retransmits ${h.clientSynRetransmits} (each costs its connection 1 s)`);
    console.log(`kernel listener, same clients: ${k.perSecond}/s (ratio ${round(h.perSecond / k.perSecond)}), mean connect ${k.meanConnectMs} ms, greeting ${k.meanGreetingMs} ms; listener process CPU ${k.cpuUsPerConn} µs/connection; accepted ${k.accepted}, client errors ${k.clientErrors}`);
  }
} finally {
  pair.lab.destroy();
}

interface ClientReport { ms: number; errors: number; slow: number; connectMs: number; greetMs: number }

/** A kernel client in the peer namespace: `total` connects, `inflight` at a time, each done at its greeting (or at connect). */
function runClients(host: string, total: number, inflight: number, atConnect: boolean): Promise<ClientReport> {
  const [cmd, args] = pair.peer.wrap(process.execPath, ['-e', `
    const net = require('net');
    const total = ${total}, inflight = ${inflight}, atConnect = ${atConnect};
    let slow = 0, started = 0, done = 0, errors = 0, connectMs = 0, greetMs = 0;
    const t0 = process.hrtime.bigint();
    function one() {
      if (started >= total) return;
      started++;
      const t = process.hrtime.bigint();
      const since = () => Number(process.hrtime.bigint() - t) / 1e6;
      const s = net.connect({ host: '${host}', port: 80 });
      s.once('connect', () => {
        const ms = since();
        if (ms > 200) slow++;
        connectMs += ms;
        if (atConnect) { greetMs += ms; s.destroy(); finish(); }
      });
      s.once('data', () => { greetMs += since(); s.destroy(); finish(); });
      s.on('error', () => { errors++; finish(); });
      s.setTimeout(5000, () => { errors++; s.destroy(); finish(); });
    }
    function finish() {
      done++;
      if (done === total) {
        console.log(JSON.stringify({ ms: Number(process.hrtime.bigint() - t0) / 1e6, errors, slow, connectMs: connectMs / total, greetMs: greetMs / total }));
        process.exit(0);
      }
      one();
    }
    for (let i = 0; i < inflight; i++) one();
  `]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += String(d); });
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as ClientReport) : reject(new Error(`client exited ${code}`))));
  });
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
