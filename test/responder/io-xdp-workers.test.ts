// io 'xdp' with workers, on real packets: a pair lab whose veth has two
// queues at each end, the door in front of one AF_XDP ring a worker (worker
// i on rx queue i). Kernel clients from the peer land on the queue their
// socket's hash picks, so a run of connections reaches both shards, each
// completing its own flows: as events with syncookies 'on' (the shards'
// engines answer) and 'only' (the door answers the SYNs in the driver, for
// every shard); through protect(), as kernel sockets made on the workers'
// threads, opened in the door from there (no gate), and a second connection
// on a closed 4-tuple opens anew on whichever shard it reaches; and so
// through the privilege split, to an unprivileged server process. A worker
// that dies is replaced on its queue. The door's cookie flags for several
// shards are what all of them agree on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { vethXdpUnavailableReason } from '../../lib/lab/veth-xdp.js';
import { allShardsCookieState, doorFlags, doorUnavailableReason, type CookieState } from '../../lib/door/door.js';
import { addon } from '../../lib/native/addon.js';
import { Responder } from '../../lib/responder/responder.js';
import { protect } from '../../lib/handoff/protect.js';
import { protectFor, unreadableBy } from '../../lib/handoff/split.js';
import { track } from '../helpers/children.js';

const skip = labUnavailableReason() ?? doorUnavailableReason() ?? vethXdpUnavailableReason();
if (skip) console.log(`# skipping the door with workers: ${skip}`);
const PORT = 8090;
const QUEUES = 2;
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('doorwk', 90, { xdp: true, queues: QUEUES });
  // A local sender's checksum offload leaves its segments unfinished where XDP sees them.
  pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tx', 'off']);
});
after(() => pair?.lab.destroy());

/** Runs `script` with node in the peer's namespace; resolves with what it printed. */
function inPeer(script: string): Promise<string> {
  const child = track(spawn(...pair.peer.wrap(process.execPath, ['-e', script]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

/**
 * `count` kernel connects from the peer, one after another (each its own
 * socket, so its own queue); prints how many connected. Each ends with a
 * RST: a FIN nobody answers is resent after a timeout, and the resend may
 * leave on another queue (the sender picks a new hash then), reaching a
 * shard that did not report the flow, where in 'only' its cookie completes
 * it a second time.
 */
function connectFromPeer(host: string, count: number): Promise<string> {
  return inPeer(`
    const net = require('node:net');
    let ok = 0;
    const next = (i) => {
      if (i === ${count}) return console.log(ok);
      const s = net.connect({ host: ${JSON.stringify(host)}, port: ${PORT}, timeout: 3000 }, () => { ok++; s.resetAndDestroy(); next(i + 1); });
      s.on('error', () => next(i + 1));
      s.on('timeout', () => s.destroy(new Error('timeout')));
    };
    next(0);`);
}

/**
 * `count` HTTP requests from the peer, each on a connection of its own (its
 * socket's hash picks its queue), from `localPort` if given; each ends with
 * a RST, so no TIME_WAIT of the client's keeps the port. Prints how many
 * answers ended with `body`.
 */
function requests(host: string, count: number, body: string, localPort?: number): Promise<string> {
  return inPeer(`
    const net = require('node:net');
    let ok = 0;
    const next = (i) => {
      if (i === ${count}) return console.log(ok);
      const s = net.connect({ host: ${JSON.stringify(host)}, port: ${PORT}${localPort === undefined ? '' : `, localPort: ${localPort}`} }, () => s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
      let got = '';
      s.on('data', (d) => { got += d; if (got.endsWith(${JSON.stringify(body)})) { ok++; s.resetAndDestroy(); next(i + 1); } });
      s.on('error', () => next(i + 1));
      s.setTimeout(5000, () => { s.destroy(); next(i + 1); });
    };
    next(0);`);
}

test('the door acts on what every shard agrees on: SYNs answered while all are cookies-only, ACKs checked while none holds an entry', { skip: doorUnavailableReason() }, () => {
  const { answerSyns, checkAcks } = (addon.door as Extract<typeof addon.door, { available: true }>).flags;
  const on = (paused: boolean, cacheEmpty: boolean): CookieState => ({ mode: 'on', paused, cacheEmpty });
  assert.equal(doorFlags(allShardsCookieState([on(true, true), on(true, true)])), answerSyns | checkAcks);
  assert.equal(doorFlags(allShardsCookieState([on(true, true), on(true, false)])), answerSyns, 'one shard holds entries: its ACKs are its own to judge');
  assert.equal(doorFlags(allShardsCookieState([on(true, true), on(false, true)])), 0, 'one shard takes entries: SYNs reach the shards');
  assert.equal(doorFlags(allShardsCookieState([{ mode: 'only', paused: false, cacheEmpty: true }, { mode: 'only', paused: false, cacheEmpty: true }])), answerSyns | checkAcks);
  assert.equal(doorFlags(allShardsCookieState([])), 0);
});

for (const syncookies of ['on', 'only'] as const) {
  test(`io 'xdp', workers ${QUEUES}, syncookies '${syncookies}': kernel clients complete on both shards`, { skip }, async () => {
    const r = await Responder.open({
      iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4, pair.responderV6], ports: [PORT],
      syncookies, io: 'xdp', workers: QUEUES,
    });
    try {
      assert.equal(r.backend, 'xdp');
      assert.equal(r.workerCount, QUEUES);
      let events = 0;
      r.on('handshake', () => { events++; });
      assert.equal(await connectFromPeer(pair.responderV4, 20), '20');
      assert.equal(await connectFromPeer(pair.responderV6, 20), '20');
      const until = Date.now() + 5000;
      while (events < 40 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 300)); // the workers' counters are copied every 250 ms
      const s = r.stats();
      const shards = r.statsByShard();
      assert.equal(events, 40, JSON.stringify(s));
      assert.equal(s.completed, 40);
      for (const [i, shard] of shards.entries()) assert.ok(shard.completed > 0, `shard ${i} (rx queue ${i}) completed some: ${shards.map((x) => x.completed).join(', ')}`);
      if (syncookies === 'only') assert.ok(s.doorRedirected >= 40 && s.synackssent >= 40, `the door answered the SYNs and handed on the ACKs: ${JSON.stringify(s)}`);
      else assert.ok(s.added >= 40, `the shards' engines took the SYNs: ${JSON.stringify(s)}`);
    } finally {
      await r.close();
    }
    assert.doesNotMatch(pair.responder.ip(['link', 'show', 'dev', pair.responderIface]), /prog\/xdp/, 'the door left with close()');
  });
}

test(`io 'xdp', workers ${QUEUES}: protect() serves kernel sockets made on both workers; a closed 4-tuple opens anew`, { skip }, async () => {
  const server = http.createServer((req, res) => res.end('door'));
  const p = await protect(server, {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4, pair.responderV6], ports: [PORT],
    syncookies: 'on', io: 'xdp', workers: QUEUES, calm: 0,
  });
  try {
    assert.equal(p.responder.backend, 'xdp');
    assert.equal(pair.responder.exec('nft', ['list', 'tables']).trim(), '', 'no gate behind the door');
    // Requests over both families; then two from source port 45000.
    assert.equal(await requests(pair.responderV4, 16, 'door'), '16');
    assert.equal(await requests(pair.responderV6, 16, 'door'), '16');
    assert.equal(await requests(pair.responderV4, 1, 'door', 45000), '1');
    assert.equal(await requests(pair.responderV4, 1, 'door', 45000), '1', 'the same 4-tuple again, its first socket closed: a new connection');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the workers' counters are copied every 250 ms
    const shards = p.responder.statsByShard();
    assert.equal(p.stats().handoffs, 34);
    assert.equal(p.stats().handoffFailed, 0);
    for (const [i, shard] of shards.entries()) assert.ok(shard.completed > 0, `worker ${i} completed handshakes for its sockets: ${shards.map((x) => x.completed).join(', ')}`);
  } finally {
    await p.close();
  }
});

test(`io 'xdp', workers ${QUEUES}, calm (the default behind the door): the kernel's listener makes the connections whichever queue they arrive on, the workers hand none over`, { skip }, async () => {
  const p = await protect(http.createServer((req, res) => res.end('door')), {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4, pair.responderV6], ports: [PORT], io: 'xdp', workers: QUEUES,
  });
  try {
    assert.equal(await requests(pair.responderV4, 16, 'door'), '16');
    assert.equal(await requests(pair.responderV6, 16, 'door'), '16');
    const h = p.stats();
    assert.equal(h.calmConnections, 32, JSON.stringify(h));
    assert.equal(h.handoffs, 0);
    assert.equal(p.responder.stats().doorCalm, 32);
  } finally {
    await p.close();
  }
});

/** The unprivileged server's files: it cannot start (EACCES) from a checkout its uid cannot read. */
const HANDED_SERVER = fileURLToPath(new URL('../fixtures/handed-server.js', import.meta.url));
const splitSkip = skip ?? unreadableBy([HANDED_SERVER, fileURLToPath(new URL('../../lib/handoff/split.js', import.meta.url))], 65534, 65534);

test(`io 'xdp', workers ${QUEUES}, privilege split: an unprivileged server process serves the sockets both workers made`, { skip: splitSkip }, async () => {
  const child = track(fork(HANDED_SERVER, [], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] }));
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  const p = await protectFor(child, {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], io: 'xdp', workers: QUEUES, calm: 0,
  });
  try {
    assert.equal(p.responder.backend, 'xdp');
    assert.equal(await requests(pair.responderV4, 12, 'allowHalfOpen true', undefined), '12');
    assert.equal(await requests(pair.responderV4, 1, 'allowHalfOpen true', 45001), '1');
    const until = Date.now() + 5000;
    while (p.stats().open > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(p.stats().open, 0, 'the child reported every close');
    assert.equal(await requests(pair.responderV4, 1, 'allowHalfOpen true', 45001), '1', 'the same 4-tuple again once the child closed it');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the workers' counters are copied every 250 ms
    const shards = p.responder.statsByShard();
    assert.equal(p.stats().handoffs, 14);
    for (const [i, shard] of shards.entries()) assert.ok(shard.completed > 0, `worker ${i} completed handshakes: ${shards.map((x) => x.completed).join(', ')}`);
  } finally {
    await p.close();
    child.kill('SIGTERM');
  }
});

test(`io 'xdp', workers ${QUEUES}: a worker that dies is replaced on its receive queue, and that queue's clients complete again`, { skip, timeout: 60_000 }, async () => {
  const r = await Responder.open({
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on', io: 'xdp', workers: QUEUES,
  });
  const errors: Error[] = [];
  r.on('error', (e) => errors.push(e));
  try {
    await (r as unknown as { workers: Array<{ terminate(): Promise<number> }> }).workers[1].terminate();
    const until = Date.now() + 15_000;
    while (r.stats().workerrestarts === 0 && errors.length === 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(errors.length, 0, errors.map((e) => e.message).join('; '));
    assert.equal(r.stats().workerrestarts, 1);
    assert.equal(await connectFromPeer(pair.responderV4, 20), '20');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the workers' counters are copied every 250 ms
    const shards = r.statsByShard();
    assert.ok(shards.at(-1)!.completed > 0, `the replacement (on rx queue 1) completed some: ${shards.map((x) => x.completed).join(', ')}`);
  } finally {
    await r.close();
  }
});
