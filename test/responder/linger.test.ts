// The queue of closed flows waiting out their TIME_WAIT: oldest first,
// through wrap-around and growth, each with its own words and peer ISN.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LingerQueue } from '../../lib/responder/linger.js';
import { FLOW_WORDS } from '../../lib/native/flow-words.js';

function flowOf(n: number): Uint32Array {
  return Uint32Array.from({ length: FLOW_WORDS }, (_, k) => n * 100 + k);
}

test('flows come out oldest first, when due, with their words and ISN, through wrap-around and growth', () => {
  const q = new LingerQueue(4);
  const out: Array<[number, number]> = [];
  const take = (cutoff: number) => q.popDue(cutoff, (flow, isn) => {
    assert.deepEqual([...flow], [...flowOf(flow[0] / 100)]);
    out.push([flow[0] / 100, isn]);
  });
  for (let n = 1; n <= 3; n++) q.push(n * 10, flowOf(n), 0xfffffff0 + n);
  take(20);
  assert.deepEqual(out, [[1, 0xfffffff1], [2, 0xfffffff2]]);
  // The ring wraps (head at 2 of 4), then grows twice with entries on both sides of the wrap.
  for (let n = 4; n <= 12; n++) q.push(n * 10, flowOf(n), n);
  assert.equal(q.size, 10);
  take(95);
  assert.deepEqual(out.slice(2).map(([n]) => n), [3, 4, 5, 6, 7, 8, 9]);
  take(Infinity);
  assert.deepEqual(out.slice(9), [[10, 10], [11, 11], [12, 12]]);
  assert.equal(q.size, 0);
  take(Infinity);
  assert.equal(out.length, 12);
});

test('at its limit the queue lets the oldest flow go early, says so, and never grows past it', () => {
  const q = new LingerQueue(2, 3);
  const evicted: Array<[number, number]> = [];
  const evict = (flow: Uint32Array, isn: number) => evicted.push([flow[0] / 100, isn]);
  for (let n = 1; n <= 3; n++) assert.equal(q.push(n, flowOf(n), n, evict), false);
  assert.equal(q.push(4, flowOf(4), 4, evict), true, 'full: one went early');
  assert.equal(q.push(5, flowOf(5), 5, evict), true);
  assert.deepEqual(evicted, [[1, 1], [2, 2]]);
  assert.equal(q.size, 3);
  const due: number[] = [];
  q.popDue(Infinity, (flow) => due.push(flow[0] / 100));
  assert.deepEqual(due, [3, 4, 5], 'the rest in order');
  // A flood of closes: the queue stays at its limit.
  const big = new LingerQueue(4, 1000);
  let early = 0;
  for (let n = 0; n < 100_000; n++) if (big.push(n, flowOf(n % 1000), n)) early++;
  assert.equal(big.size, 1000);
  assert.equal(early, 99_000);
  assert.throws(() => new LingerQueue(4, 0), /limit must be a positive integer/);
});
