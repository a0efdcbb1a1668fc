// The count of handshakes on their way from a worker to the main thread:
// shared memory, counted up where they are posted and down where they
// arrive; full at its limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { InFlight, WORKER_BACKLOG } from '../../lib/responder/in-flight.js';

test('full at its limit, free again as messages arrive; the default is the backlog', () => {
  const sender = new InFlight(undefined, 3);
  const receiver = new InFlight(sender.buffer, 3);
  sender.posted(2);
  assert.equal(sender.full, false);
  sender.posted();
  assert.equal(sender.full, true);
  assert.equal(receiver.count, 3, 'one count, seen from both sides');
  receiver.received(2);
  assert.equal(sender.full, false);
  assert.equal(sender.count, 1);
  assert.equal(new InFlight().limit, WORKER_BACKLOG);
  assert.throws(() => new InFlight(undefined, 0), /limit must be a positive integer/);
});

test('a worker posting while this thread is busy stops at the limit', async () => {
  const inFlight = new InFlight(undefined, 100);
  const done = new Int32Array(new SharedArrayBuffer(4));
  // The worker posts until full, as the shard's onHandshake does, while this
  // thread is blocked and reads nothing.
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const cell = new Int32Array(workerData.buffer, 0, 1);
    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      if (Atomics.load(cell, 0) >= workerData.limit) { refused++; continue; }
      Atomics.add(cell, 0, 1);
      parentPort.postMessage(i);
    }
    parentPort.postMessage({ refused });
    Atomics.store(workerData.done, 0, 1);
    Atomics.notify(workerData.done, 0);
  `;
  const worker = new Worker(source, { eval: true, workerData: { buffer: inFlight.buffer, limit: inFlight.limit, done } });
  Atomics.wait(done, 0, 0, 30_000);
  assert.equal(Atomics.load(done, 0), 1, 'the worker finished while this thread was blocked');
  let received = 0;
  const refused = await new Promise<number>((resolve) => worker.on('message', (m: number | { refused: number }) => {
    if (typeof m === 'number') {
      received++;
      inFlight.received();
    } else {
      resolve(m.refused);
    }
  }));
  await worker.terminate();
  assert.equal(received, 100, 'no more than the limit was ever queued');
  assert.equal(refused, 900);
  assert.equal(inFlight.count, 0);
});
