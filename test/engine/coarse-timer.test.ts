// The coarse timer over a cache (and alone): armed at the earliest
// deadline, never sooner than the granularity, unref'd; on a ManualClock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../lib/engine/clock.js';
import { CoarseTimer } from '../../lib/engine/coarse-timer.js';
import { NONE } from '../../lib/engine/syncache.js';
import { C, Flows, makeCache } from './helpers.js';

test('CoarseTimer: armed at the earliest deadline, never sooner than the granularity; tick runs expire', () => {
  const { cache, stats } = makeCache({ hashSize: 16 });
  const f = new Flows(2);
  const clock = new ManualClock(10_000);
  const retransmitted: number[] = [];
  const timer = new CoarseTimer((now) => { cache.expire(now, (e) => retransmitted.push(e), () => {}); }, () => cache.nextDeadline(), { clock, granularityMs: 10 });
  try {
    timer.notify();
    assert.equal(timer.state, 'idle', 'an empty cache needs no timer');
    f.set(0, '198.18.0.2', 1, '198.19.0.1', 80, 1);
    const e = f.add(cache, 0, clock.now());
    timer.notify();
    assert.equal(timer.state, 'armed');
    assert.equal(timer.armedFor, 11_000);
    assert.equal(timer.armedDelay, 1000);
    // A later deadline does not re-arm.
    clock.advance(500);
    f.set(1, '198.18.0.3', 1, '198.19.0.1', 80, 2);
    f.add(cache, 1, clock.now());
    timer.notify();
    assert.equal(timer.armedFor, 11_000);
    // Early tick: nothing due, re-armed for the same deadline.
    timer.tick();
    assert.equal(retransmitted.length, 0);
    assert.equal(timer.armedFor, 11_000);
    clock.advance(500);
    timer.tick();
    assert.deepEqual(retransmitted, [e]);
    assert.equal(stats[C.retransmitted], 1);
    assert.equal(timer.armedFor, 11_500, 'next: entry 1 at 10500 + 1000');
    // A deadline already past arms at now + granularity.
    clock.advance(5000);
    timer.tick();
    assert.ok(timer.armedDelay >= 10);
    timer.stop();
    assert.equal(timer.state, 'stopped');
    timer.stop();
    timer.notify();
    timer.tick();
    assert.equal(timer.state, 'stopped');
  } finally {
    timer.stop();
  }
});

test('CoarseTimer: an earlier deadline re-arms; periodMs keeps it ticking; a throwing task still re-arms', () => {
  const clock = new ManualClock(0);
  let deadline = NONE;
  let runs = 0;
  let throwNext = false;
  const timer = new CoarseTimer(() => {
    runs++;
    if (throwNext) { throwNext = false; throw new Error('boom'); }
  }, () => deadline, { clock, granularityMs: 10, periodMs: 1000 });
  try {
    timer.notify();
    assert.equal(timer.state, 'armed', 'periodMs arms even without a deadline');
    assert.equal(timer.armedDelay, 1000);
    deadline = 5000;
    timer.notify();
    assert.equal(timer.armedDelay, 1000, 'capped by periodMs');
    deadline = 300;
    timer.notify();
    assert.equal(timer.armedFor, 300);
    deadline = 295;
    timer.notify();
    assert.equal(timer.armedFor, 300, 'within the granularity: no re-arm');
    clock.advance(300);
    throwNext = true;
    assert.throws(() => timer.tick(), /boom/);
    assert.equal(runs, 1);
    assert.equal(timer.state, 'armed');
  } finally {
    timer.stop();
  }
});

test('CoarseTimer arms one unref\'d setTimeout (it does not hold the process open)', () => {
  const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const clock = new ManualClock(0);
  const keep = setTimeout(() => {}, 60_000);
  const refed = timeouts();
  clearTimeout(keep);
  assert.equal(refed, timeouts() + 1, 'a ref\'d timeout is listed');
  const base = timeouts();
  const timer = new CoarseTimer(() => {}, () => 5000, { clock });
  timer.notify();
  assert.equal(timer.state, 'armed');
  assert.equal(timeouts(), base, 'unref\'d: it does not hold the process open');
  timer.notify();
  timer.tick();
  timer.stop();
  assert.equal(timer.state, 'stopped');
});
