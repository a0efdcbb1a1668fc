// io 'xdp' on an interface with more receive queues than shards, on real
// packets in a pair lab whose veth has four queues at each end (the peer's
// kernel spreads its connections over them by flow hash): one shard reads
// every queue, a socket each (native/io/af_xdp_queues.h); two workers read
// two queues each (worker i: queues i and i + 2). Kernel clients complete
// handshakes as events and through protect() as kernel sockets (the handoff
// looks ahead queue by queue), on every queue. A full-speed flood on one
// queue does not keep the clients on another from their SYN-ACKs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { vethXdpUnavailableReason } from '../../lib/lab/veth-xdp.js';
import { doorUnavailableReason } from '../../lib/door/door.js';
import { doorQueues } from '../../lib/responder/io-choice.js';
import { Responder } from '../../lib/responder/responder.js';
import { protect } from '../../lib/handoff/protect.js';
import { labAddon } from '../../lib/lab/lab-addon.js';
import { track } from '../helpers/children.js';

const skip = labUnavailableReason() ?? doorUnavailableReason() ?? vethXdpUnavailableReason();
if (skip) console.log(`# skipped: ${skip}`);
const PORT = 8080;
const QUEUES = 4;
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('ioxdpq', 106, { xdp: true, queues: QUEUES });
  // A local sender's checksum offload leaves its segments unfinished where XDP sees them.
  pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tx', 'off']);
});
after(() => pair?.lab.destroy());

/** Frames the door redirected on each receive queue so far (veth's per-queue XDP counters). */
function redirectedByQueue(): number[] {
  const stats = pair.responder.exec('ethtool', ['-S', pair.responderIface]);
  return Array.from({ length: QUEUES }, (_, q) => Number(new RegExp(`rx_queue_${q}_xdp_redirect: (\\d+)`).exec(stats)?.[1] ?? NaN));
}

/** Runs a node script in the peer's namespace (its kernel stack); resolves with what it printed. */
function inPeer(script: string, prefix: string[] = []): Promise<string> {
  const [command, ...args] = [...prefix, process.execPath, '-e', script];
  const child = track(spawn(...pair.peer.wrap(command, args), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

/** `count` connects at once from the peer, each ended with a RST (no FIN left to resend into the next test); prints how many connected. */
function connects(count: number): Promise<string> {
  return inPeer(`
    const net = require('node:net');
    let done = 0, ok = 0;
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect({ host: ${JSON.stringify(pair.responderV4)}, port: ${PORT}, timeout: 5000 }, () => { ok++; s.resetAndDestroy(); if (++done === ${count}) console.log(ok); });
      s.on('error', () => { if (++done === ${count}) console.log(ok); });
      s.on('timeout', () => s.destroy(new Error('timeout')));
    }`);
}

test('doorQueues shares the queues out: every shards-th queue from the shard\'s index', () => {
  assert.deepEqual(doorQueues(4, 1, 0), [0, 1, 2, 3]);
  assert.deepEqual(doorQueues(4, 2, 0), [0, 2]);
  assert.deepEqual(doorQueues(4, 2, 1), [1, 3]);
  assert.deepEqual(doorQueues(5, 2, 1), [1, 3]);
  assert.deepEqual(doorQueues(undefined, 1, 0), [0], 'queues unknown: queue 0');
  assert.deepEqual(doorQueues(2, 2, 1), [1]);
});

for (const workers of [0, 2]) {
  test(`io 'xdp', workers ${workers}, ${QUEUES} queues: kernel clients complete handshakes on every queue`, { skip }, async () => {
    const r = await Responder.open({
      iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on', io: 'xdp', workers,
    });
    try {
      assert.equal(r.backend, 'xdp');
      const before = redirectedByQueue();
      // (Until the rings' sockets are in, the door passes frames to the kernel: not counted here.)
      const noSocket = r.stats().doorNoSocket;
      let events = 0;
      r.on('handshake', () => { events++; });
      assert.equal(await connects(40), '40');
      const s = r.stats();
      assert.equal(s.completed, 40, JSON.stringify(s));
      if (workers === 0) assert.equal(events, 40);
      assert.equal(s.doorNoSocket - noSocket, 0, 'every queue has its socket');
      const moved = redirectedByQueue().map((n, q) => n - before[q]);
      assert.ok(moved.every((n) => n > 0), `the peer's flows arrived on every queue and reached a ring there: ${moved}`);
    } finally {
      await r.close();
    }
  });
}

test(`io 'xdp', ${QUEUES} queues, one shard: protect() serves requests as kernel sockets on every queue`, { skip }, async () => {
  const server = http.createServer((req, res) => res.end('door'));
  const p = await protect(server, {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on', io: 'xdp', calm: 0,
  });
  try {
    assert.equal(p.responder.backend, 'xdp');
    const before = redirectedByQueue();
    // Each request right behind its final ACK: the handoff looks for it in the queue it came on.
    const got = await inPeer(`
      const net = require('node:net');
      let done = 0, ok = 0;
      for (let i = 0; i < 24; i++) {
        const s = net.connect({ host: ${JSON.stringify(pair.responderV4)}, port: ${PORT} }, () => s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
        let body = '';
        s.on('data', (d) => { body += d; if (body.endsWith('door')) { ok++; s.resetAndDestroy(); if (++done === 24) console.log(ok); } });
        s.on('error', () => { if (++done === 24) console.log(ok); });
        s.setTimeout(8000, () => s.destroy(new Error('timeout')));
      }`);
    assert.equal(got, '24', JSON.stringify(p.stats()));
    const s = p.stats();
    assert.equal(s.handoffs, 24);
    assert.equal(s.handoffFailed, 0);
    const moved = redirectedByQueue().map((n, q) => n - before[q]);
    assert.ok(moved.every((n) => n > 0), `requests came on every queue: ${moved}`);
  } finally {
    await p.close();
  }
});

// The generator sends on the peer's transmit queue of its CPU (0), which a
// veth delivers on the same receive queue; the clients, pinned to CPU 1 with
// XPS mapping CPU 1 to transmit queue 1, send their SYNs on queue 1. One
// shard reads both, queue 0's ring busy with the flood the whole time (each
// read starts at the queue after the last read's first: af_xdp_queues.h).
const twoCpus = availableParallelism() >= 2 ? undefined : 'needs two CPUs (the generator on one, the clients on the other)';
test(`io 'xdp', ${QUEUES} queues, one shard: a full-speed flood on one queue does not keep another queue's clients from their SYN-ACKs`, { skip: skip ?? twoCpus, timeout: 60_000 }, async () => {
  pair.peer.exec('sh', ['-c', Array.from({ length: QUEUES }, (_, q) => `echo ${q < 2 ? 1 << q : 0} > /sys/class/net/${pair.peerIface}/queues/tx-${q}/xps_cpus`).join(' && ')]);
  const r = await Responder.open({
    // 'on' without the pause: every SYN read is answered (a cookie once the
    // cache is full) and the flood's keep reaching the ring.
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on', pauseMs: 0, io: 'xdp',
  });
  try {
    const before = redirectedByQueue();
    const flood = labAddon.flood({
      iface: pair.peerIface, netns: pair.peer.path, dstMac: pair.responder.macOf(pair.responderIface), dstAddr: pair.responderV4, dstPort: PORT,
      srcNet: '198.19.106.0/24', rate: 0, seconds: 4, cpu: 0,
    });
    // Once the flood is on queue 0 (its SYNs counted there), the clients.
    for (let waited = 0; redirectedByQueue()[0] - before[0] < 10_000 && waited < 5000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    const clients = inPeer(`
      const net = require('node:net');
      let done = 0, ok = 0;
      for (let i = 0; i < 40; i++) {
        const s = net.connect({ host: ${JSON.stringify(pair.responderV4)}, port: ${PORT}, timeout: 2500 }, () => { ok++; s.resetAndDestroy(); if (++done === 40) console.log(ok); });
        s.on('error', () => { if (++done === 40) console.log(ok); });
        s.on('timeout', () => s.destroy(new Error('timeout')));
      }`, ['taskset', '-c', '1']);
    const [f, ok] = await Promise.all([flood, clients]);
    const moved = redirectedByQueue().map((n, q) => n - before[q]);
    assert.ok(moved[0] > 10_000, `the flood arrived on queue 0: ${moved}`);
    assert.equal(ok, '40', `every client on queue 1 got its SYN-ACK during the flood (${f.sent} SYNs; by queue ${moved}): ${JSON.stringify(r.stats())}`);
  } finally {
    await r.close();
  }
});
