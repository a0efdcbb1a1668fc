import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../lib/engine/clock.js';
import { NONE } from '../../lib/engine/syncache.js';
import { C, Flows, makeCache } from './helpers.js';

/** Steps a clock through [start, start+span) calling expire; returns when each entry was retransmitted/dropped. */
function run(start: number, span: number, step = 50) {
  const { cache, stats } = makeCache({ hashSize: 16, rexmtLimit: 3, rexmtInitialMs: 1000 });
  const f = new Flows(1);
  f.set(0, '198.18.0.2', 40000, '198.19.0.1', 80, 7);
  const clock = new ManualClock(start);
  const e = f.add(cache, 0, clock.now());
  const retransmitted: number[] = [];
  const stale: number[] = [];
  while (clock.now() < start + span) {
    clock.advance(step);
    cache.expire(clock.now(), (i) => {
      assert.equal(i, e);
      retransmitted.push(clock.now() - start);
    }, (i) => {
      assert.equal(i, e);
      assert.equal(f.lookup(cache, 0), e, 'onStale sees the entry before it goes');
      stale.push(clock.now() - start);
    });
  }
  return { cache, stats, f, retransmitted, stale };
}

test('the timer retransmits after 1 s, 2 s and 4 s, then drops the entry as stale', () => {
  const { cache, stats, f, retransmitted, stale } = run(1_000_000, 20_000);
  assert.deepEqual(retransmitted, [1000, 3000, 7000]);
  assert.deepEqual(stale, [15000]);
  assert.equal(stats[C.retransmitted], 3);
  assert.equal(stats[C.stale], 1);
  assert.equal(f.lookup(cache, 0), NONE);
  assert.equal(cache.size, 0);
  assert.equal(cache.nextDeadline(), NONE);
  cache.checkInvariants();
});

test('timer comparisons are wrap-safe across 2^32 ms', () => {
  for (const start of [2 ** 32 - 1500, 2 ** 32 - 5000, 2 ** 32 - 14_990, 2 ** 31 - 2000]) {
    const { retransmitted, stale } = run(start, 20_000);
    assert.deepEqual(retransmitted, [1000, 3000, 7000], `start ${start}`);
    assert.deepEqual(stale, [15000], `start ${start}`);
  }
  // Buckets with deadlines on both sides of the wrap come due in time order.
  const { cache } = makeCache({ hashSize: 64, rexmtInitialMs: 1000 });
  const f = new Flows(40);
  const base = 2 ** 32 - 20_000;
  const order: number[] = [];
  for (let i = 0; i < 40; i++) {
    f.set(i, `198.18.0.${i + 1}`, 1000, '198.19.0.1', 80, i);
    f.add(cache, i, base + i * 1000); // deadlines base+1000 .. base+40000 (wrapping at 20000)
  }
  assert.equal(cache.nextDeadline(), (base + 1000) >>> 0);
  for (let t = base; t <= base + 40_000; t += 100) {
    cache.expire(t, (e) => order.push(cache.hashOf(e)), () => {});
  }
  const firsts = order.filter((h, k) => order.indexOf(h) === k);
  assert.deepEqual(firsts, Array.from({ length: 40 }, (_, i) => i), 'first retransmits follow arrival order');
  cache.checkInvariants();
});

test('a run visits only the buckets that are due', () => {
  const { cache } = makeCache({ hashSize: 1024 });
  const f = new Flows(1024);
  for (let i = 0; i < 1024; i++) {
    f.set(i, `198.18.${i >> 8}.${i & 255}`, 1000, '198.19.0.1', 80, i);
    f.add(cache, i, i < 1000 ? 5000 : 0); // 24 buckets due at 1000, 1000 buckets at 6000
  }
  const before = cache.bucketRuns;
  let n = 0;
  cache.expire(1000, () => n++, () => n++);
  assert.equal(n, 24);
  assert.equal(cache.bucketRuns - before, 24);
  assert.equal(cache.nextDeadline(), 3000, 'the retransmitted buckets are next, at 1000 + 2000');
  cache.expire(2999, () => n++, () => n++);
  assert.equal(cache.bucketRuns - before, 24, 'nothing due, nothing visited');
});

test('entries of one bucket keep their own deadlines; the bucket deadline is their earliest', () => {
  const { cache } = makeCache({ hashSize: 1, bucketLimit: 8 });
  const f = new Flows(3);
  const e: number[] = [];
  for (let i = 0; i < 3; i++) {
    f.set(i, `198.18.0.${i + 1}`, 1000, '198.19.0.1', 80, 0);
    e.push(f.add(cache, i, i * 400)); // deadlines 1000, 1400, 1800
  }
  const seen: number[] = [];
  cache.expire(1400, (i) => seen.push(i), () => assert.fail());
  assert.deepEqual(seen.sort(), [e[0], e[1]].sort());
  assert.equal(cache.nextDeadline(), 1800);
  cache.remove(e[2]);
  // Raised lazily: the bucket still says 1800 until a run recomputes it.
  assert.equal(cache.nextDeadline(), 1800);
  cache.expire(1800, () => assert.fail('nothing due'), () => assert.fail());
  assert.equal(cache.nextDeadline(), 3400, 'both retransmitted at 1400, next at 1400 + 2000');
  cache.checkInvariants();
});
