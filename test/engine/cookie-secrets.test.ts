import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { addon } from '../../lib/native/addon.js';
import { ManualClock } from '../../lib/engine/clock.js';
import { CookieSecrets } from '../../lib/engine/cookie-secrets.js';

const hex = (b: Uint8Array | null): string => (b === null ? 'null' : Buffer.from(b).toString('hex'));
const zero = '00'.repeat(addon.secretsLayout.secretBytes);

test('create: both slots and the flow-hash key come from the CSPRNG, slot 0 active, versions even', () => {
  const s = CookieSecrets.create(0);
  assert.equal(s.view.byteLength, addon.secretsLayout.byteLength);
  assert.ok(s.buffer instanceof SharedArrayBuffer);
  assert.equal(s.activeSlot, 0);
  const a = hex(s.secret(0));
  const b = hex(s.secret(1));
  const k = hex(s.flowHashKey);
  for (const v of [a, b, k]) {
    assert.equal(v.length, addon.secretsLayout.secretBytes * 2);
    assert.notEqual(v, zero);
  }
  assert.equal(new Set([a, b, k]).size, 3);
  for (const slot of [0, 1]) {
    assert.equal(s.valid(slot), true);
    assert.equal(s.version(slot) % 2, 0);
  }
  assert.notEqual(hex(CookieSecrets.create(0).secret(0)), a, 'a new owner draws new secrets');
});

test('rotate: the older slot gets a fresh secret and becomes active; the other stays valid; two rotations retire a secret', () => {
  const s = CookieSecrets.create(0);
  const key = hex(s.flowHashKey);
  const first = hex(s.secret(0));
  s.rotate();
  assert.equal(s.activeSlot, 1);
  assert.equal(hex(s.secret(0)), first, 'the previous secret still validates');
  const second = hex(s.secret(1));
  assert.notEqual(second, first);
  s.rotate();
  assert.equal(s.activeSlot, 0);
  assert.equal(hex(s.secret(1)), second);
  assert.notEqual(hex(s.secret(0)), first);
  assert.ok(![hex(s.secret(0)), hex(s.secret(1))].includes(first), 'after two rotations the first secret is gone');
  for (const slot of [0, 1]) {
    assert.equal(s.valid(slot), true);
    assert.equal(s.version(slot) % 2, 0, 'version even at rest');
  }
  assert.equal(hex(s.flowHashKey), key, 'the flow-hash key does not rotate');
});

test('maybeRotate follows the injected clock: a cookie secret lives 15 to 30 s', () => {
  const clock = new ManualClock(1000);
  const s = CookieSecrets.create(clock.now());
  const first = hex(s.secret(s.activeSlot));
  clock.advance(14_999);
  assert.equal(s.maybeRotate(clock.now()), false);
  clock.advance(1);
  assert.equal(s.maybeRotate(clock.now()), true);
  assert.equal(s.maybeRotate(clock.now()), false);
  assert.notEqual(hex(s.secret(s.activeSlot)), first, 'no longer used for new cookies after 15 s');
  assert.equal(hex(s.secret(s.activeSlot ^ 1)), first, 'still accepted');
  clock.advance(14_999);
  assert.equal(s.maybeRotate(clock.now()), false);
  assert.equal(hex(s.secret(s.activeSlot ^ 1)), first, 'accepted up to 30 s');
  clock.advance(1);
  assert.equal(s.maybeRotate(clock.now()), true);
  assert.ok(![hex(s.secret(0)), hex(s.secret(1))].includes(first), 'gone at 30 s');
  const fast = CookieSecrets.create(0, 500);
  assert.equal(fast.maybeRotate(499), false);
  assert.equal(fast.maybeRotate(500), true);
});

test('a reader rejects a slot whose version is odd (being written) or that is not valid', () => {
  const s = CookieSecrets.create(0);
  const words = new Int32Array(s.buffer);
  const version1 = (addon.secretsLayout.version >> 2) + 1;
  const valid0 = addon.secretsLayout.valid >> 2;
  Atomics.add(words, version1, 1);
  assert.equal(s.secret(1), null);
  Atomics.add(words, version1, 1);
  assert.notEqual(s.secret(1), null);
  Atomics.store(words, valid0, 0);
  assert.equal(s.secret(0), null);
});

test('attach: a read-only handle on the same memory; only the owner rotates', () => {
  const owner = CookieSecrets.create(0);
  const reader = CookieSecrets.attach(owner.buffer);
  assert.equal(reader.owner, false);
  assert.equal(hex(reader.secret(0)), hex(owner.secret(0)));
  owner.rotate();
  assert.equal(reader.activeSlot, 1);
  assert.equal(hex(reader.secret(1)), hex(owner.secret(1)));
  assert.throws(() => reader.rotate(), /only the owner rotates/);
  assert.equal(reader.maybeRotate(1e12), false);
  assert.throws(() => CookieSecrets.attach(new SharedArrayBuffer(8)), /^RangeError: secrets buffer must be \d+ bytes/);
  assert.throws(() => CookieSecrets.attach(new ArrayBuffer(addon.secretsLayout.byteLength) as never), TypeError);
});

test('a worker thread that attaches sees the owner\'s rotations', async () => {
  const owner = CookieSecrets.create(0);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const moduleUrl = pathToFileURL(path.resolve(here, '../../lib/engine/cookie-secrets.js')).href;
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    import(${JSON.stringify(moduleUrl)}).then(({ CookieSecrets }) => {
      const s = CookieSecrets.attach(workerData);
      const hex = (b) => b === null ? 'null' : Buffer.from(b).toString('hex');
      parentPort.on('message', () => parentPort.postMessage({ active: s.activeSlot, secret: hex(s.secret(s.activeSlot)) }));
      parentPort.postMessage('ready');
    });
  `, { eval: true, workerData: owner.buffer });
  try {
    const next = (): Promise<{ active: number; secret: string } | 'ready'> =>
      new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    assert.equal(await next(), 'ready');
    worker.postMessage(0);
    assert.deepEqual(await next(), { active: 0, secret: hex(owner.secret(0)) });
    owner.rotate();
    worker.postMessage(0);
    assert.deepEqual(await next(), { active: 1, secret: hex(owner.secret(1)) });
  } finally {
    await worker.terminate();
  }
});

test('seqlock: a worker reading during thousands of rotations never accepts a torn secret', async (t) => {
  const owner = CookieSecrets.create(0);
  const control = new Int32Array(new SharedArrayBuffer(8)); // [0]: stop flag, [1]: worker started
  const here = path.dirname(fileURLToPath(import.meta.url));
  const moduleUrl = pathToFileURL(path.resolve(here, '../../lib/engine/cookie-secrets.js')).href;
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    import(${JSON.stringify(moduleUrl)}).then(({ CookieSecrets }) => {
      const s = CookieSecrets.attach(workerData.secrets);
      const control = workerData.control;
      const seen = new Set();
      let rejected = 0;
      Atomics.store(control, 1, 1);
      while (Atomics.load(control, 0) === 0) {
        for (const slot of [0, 1]) {
          const b = s.secret(slot);
          if (b === null) rejected++; else seen.add(Buffer.from(b).toString('hex'));
        }
      }
      parentPort.postMessage({ seen: [...seen], rejected });
    });
  `, { eval: true, workerData: { secrets: owner.buffer, control } });
  try {
    const initial = new Set([hex(owner.secret(0)), hex(owner.secret(1))]);
    const written = new Set(initial);
    const result = new Promise<{ seen: string[]; rejected: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const deadline = Date.now() + 10_000;
    while (Atomics.load(control, 1) === 0 && Date.now() < deadline) { /* wait for the reader to start */ }
    for (let i = 0; i < 20_000; i++) {
      owner.rotate();
      written.add(hex(owner.secret(owner.activeSlot)));
    }
    Atomics.store(control, 0, 1);
    const { seen, rejected } = await result;
    for (const value of seen) assert.ok(written.has(value), `torn read ${value}`);
    t.diagnostic(`reader saw ${seen.length} distinct secrets, rejected ${rejected} reads mid-rotation`);
    // The two secrets there before the first rotation prove nothing: it must
    // have read secrets the rotations wrote (thousands, in practice).
    assert.ok(seen.some((v) => !initial.has(v)), 'the reader saw rotations');
  } finally {
    await worker.terminate();
  }
});
