import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, systemClock } from '../../lib/engine/clock.js';

test('ManualClock moves only when told, never backwards', () => {
  const c = new ManualClock(5);
  assert.equal(c.now(), 5);
  assert.equal(c.advance(10), 15);
  c.set(20);
  assert.equal(c.now(), 20);
  assert.throws(() => c.set(19), RangeError);
  assert.throws(() => c.advance(-1), RangeError);
});

test('systemClock is monotonic and near the wall clock', () => {
  const a = systemClock.now();
  const b = systemClock.now();
  assert.ok(b >= a);
  assert.ok(Math.abs(a - Date.now()) < 60_000);
});
