// SocketMaker's bookkeeping on its own thread, over a stand-in handover that
// records what it was asked (the sockets themselves: protect.test.ts, on
// real packets): each completed handshake is made after the batch, in turns
// of at most 32; the same connection completing twice is counted and
// released, not made again, while its socket is being made (after that the
// ring skips its segments natively); a closed socket's flow may complete anew.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Handshake } from '../../lib/engine/engine.js';
import { C, Stats } from '../../lib/engine/stats.js';
import { SocketMaker, type Handed, type SocketSource } from '../../lib/handoff/sockets.js';
import type { FlowOf, HandoffFlow } from '../../lib/handoff/flow.js';

function handshake(remotePort: number, irs: number, extra: Partial<Handshake> = {}): Handshake {
  return {
    family: 4, localAddress: '198.18.0.1', localPort: 80, remoteAddress: '198.18.0.2', remotePort,
    iss: 7000 + remotePort, irs, mss: 1460, wscale: 7, ourWscale: 7, sackPermitted: true, timestamps: null,
    tsNow: 0, window: 502, viaCookie: false, retransmits: 0, synTime: 0, ackTime: Date.now(), payloadLength: 0,
    peerMac: '02:00:00:00:00:02', vlan: 0, payload: null, hold: remotePort, ...extra,
  };
}

/** A handover that "makes" fd 100 + remotePort for each flow, and records releases, retries and lingers. */
function standIn() {
  const made: HandoffFlow[][] = [];
  const released: number[] = [];
  const retried: number[] = [];
  const lingered: FlowOf[] = [];
  const source: SocketSource = {
    completeHandoffs: async (items, doneAt = []) => {
      made.push(items.map((it) => it.flow));
      items.forEach((_, i) => { doneAt[i] = performance.timeOrigin + performance.now(); });
      return items.map((it) => 100 + it.flow.remotePort);
    },
    release: (hold) => { released.push(hold); },
    retry: (hold) => { retried.push(hold); },
    linger: (flow) => { lingered.push(flow); },
  };
  return { source, made, released, retried, lingered };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function maker() {
  const s = standIn();
  const stats = new Stats();
  const handed: Handed[] = [];
  const sockets = new SocketMaker(s.source, stats, { mark: 0x5ca, ourWindow: 65535 }, (batch) => handed.push(...batch));
  return { ...s, stats, handed, sockets };
}

test('handshakes completed in one batch are made together, after it, and each reported with its fd and time', async () => {
  const m = maker();
  m.sockets.push(handshake(40001, 1));
  m.sockets.push(handshake(40002, 2));
  assert.equal(m.made.length, 0, 'nothing made before the batch ends');
  await tick();
  assert.deepEqual(m.made.map((batch) => batch.map((f) => f.remotePort)), [[40001, 40002]]);
  assert.deepEqual(m.handed.map((h) => h.fd), [40101, 40102]);
  assert.ok(m.handed.every((h) => typeof h.madeAt === 'number' && h.madeAt >= h.handshake.ackTime));
});

test('a burst is made in turns of 32, one turn per pass of the event loop', async () => {
  const m = maker();
  for (let i = 0; i < 70; i++) m.sockets.push(handshake(41000 + i, i));
  await tick();
  await tick();
  await tick();
  assert.deepEqual(m.made.map((batch) => batch.length), [32, 32, 6]);
  assert.equal(m.handed.length, 70);
});

test('the same connection completing again while its socket is made is a duplicate: counted, its hold released, no second socket', async () => {
  const m = maker();
  // In the same ring read.
  m.sockets.push(handshake(42000, 5));
  m.sockets.push(handshake(42000, 5, { hold: 9 }));
  await tick();
  assert.equal(m.made.length, 1);
  assert.equal(m.stats.values[C.handoffduplicate], 1);
  assert.deepEqual(m.released, [9]);
  // In a later read, while the handover is still making the first one's socket.
  let finish = (): void => {};
  const slow = maker();
  slow.source.completeHandoffs = (items, doneAt = []) => {
    slow.made.push(items.map((it) => it.flow));
    return new Promise((resolve) => {
      finish = () => {
        items.forEach((_, i) => { doneAt[i] = performance.timeOrigin + performance.now(); });
        resolve(items.map((it) => 100 + it.flow.remotePort));
      };
    });
  };
  slow.sockets.push(handshake(42001, 7));
  await tick();
  slow.sockets.push(handshake(42001, 7, { hold: 10 }));
  await tick();
  assert.equal(slow.stats.values[C.handoffduplicate], 1);
  finish();
  await tick();
  assert.deepEqual(slow.handed.map((h) => h.fd), [42101]);
  // Its socket done, the flow's segments are the ring's to skip (natively);
  // closed, it lingers there, and a new connection on it (new ISN) is made.
  m.sockets.socketClosed(handshake(42000, 5));
  assert.equal(m.lingered.length, 1);
  m.sockets.push(handshake(42000, 6));
  await tick();
  assert.equal(m.made.length, 2);
});

test('a socket the kernel refuses is reported as failed and not remembered: the peer\'s retry is made again', async () => {
  const failing = maker();
  failing.source.completeHandoffs = async (items) =>
    items.map(() => Object.assign(new Error('TCP_REPAIR: Operation not permitted'), { code: 'EPERM' }));
  failing.sockets.push(handshake(43001, 1));
  await tick();
  assert.equal(failing.handed.length, 1);
  assert.match(String(failing.handed[0].error?.message), /TCP_REPAIR/);
  failing.sockets.push(handshake(43001, 1));
  await tick();
  assert.equal(failing.stats.values[C.handoffduplicate], 0);
  assert.equal(failing.handed.length, 2);
});

test('a batch whose handoff throws fails as a whole: every handshake reported, its hold left for the peer\'s retransmit, nothing thrown', async () => {
  const m = maker();
  m.source.completeHandoffs = async () => {
    throw new Error('the ring is gone');
  };
  m.sockets.push(handshake(44001, 1, { hold: 11 }));
  m.sockets.push(handshake(44002, 2, { hold: 12 }));
  await tick();
  assert.deepEqual(m.handed.map((h) => h.error?.message), ['the ring is gone', 'the ring is gone']);
  assert.deepEqual(m.retried, [11, 12], 'the entries wait for the retransmits');
  assert.deepEqual(m.released, []);
});

test('past its backlog a handshake is refused and counted (handoffqueuefull); room comes back as sockets are made', async () => {
  const s = standIn();
  const stats = new Stats();
  const handed: Handed[] = [];
  const sockets = new SocketMaker(s.source, stats, { mark: 0x5ca, ourWindow: 65535, backlog: 40 }, (batch) => handed.push(...batch));
  const taken: boolean[] = [];
  for (let port = 1; port <= 50; port++) taken.push(sockets.push(handshake(port, port)));
  assert.equal(taken.filter(Boolean).length, 40);
  assert.deepEqual(taken.slice(40), Array(10).fill(false), 'the last 10 refused');
  assert.equal(stats.values[C.handoffqueuefull], 10);
  assert.deepEqual(s.released, [], 'a refused handshake is the engine\'s to keep: nothing released here');
  // Made in turns of 32; while they are made, they still count.
  await tick();
  assert.equal(handed.length, 32);
  await tick();
  assert.equal(handed.length, 40);
  assert.equal(sockets.push(handshake(51, 51)), true, 'room again');
  await tick();
  assert.equal(handed.length, 41);
});
