// Thousands of random operations against a Map-based model of the seed's
// rules: after every step the cache and the model agree on which flows are
// present and where, and the structural invariants (bucket lists, counts,
// free list, deadline heap) hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE } from '../../lib/engine/syncache.js';
import { C, Flows, makeCache } from './helpers.js';

interface ModelEntry { index: number; bucket: number; seq: number; deadline: number; rexmits: number }

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}

for (const seed of [1, 2, 3, 4]) {
  test(`random ops agree with a simple model and keep the invariants (seed ${seed})`, (t) => {
    const hashSize = 8;
    const bucketLimit = 5;
    const cacheLimit = 30;
    const rexmtLimit = 2;
    const initial = 100;
    const { cache, stats } = makeCache({ hashSize, bucketLimit, cacheLimit, rexmtLimit, rexmtInitialMs: initial });
    const random = rng(seed * 7919);
    const pick = (n: number): number => Math.floor(random() * n);

    const flows = new Flows(300);
    for (let i = 0; i < flows.capacity; i++) {
      const peer = i % 3 === 0 ? `2001:db8::${(i + 1).toString(16)}` : `198.18.${i >> 8}.${i & 255}`;
      const local = i % 3 === 0 ? '2001:db8:1::1' : '198.19.0.1';
      flows.set(i, peer, 1024 + pick(4), local, 80, (random() * 2 ** 32) >>> 0);
    }
    const model = new Map<number, ModelEntry>(); // flow -> entry
    const unlinked = new Map<number, ModelEntry>(); // flow -> entry taken out (handoff in progress)
    const expect = { added: 0, bucketoverflow: 0, zonefail: 0, cacheoverflow: 0, stale: 0, retransmitted: 0 };
    let seq = 0;
    let now = 2 ** 32 - 3000; // cross the uint32 wrap during the run
    const used = (): number => model.size + unlinked.size;

    const oldestIn = (bucket: number): number => {
      let best = -1;
      let bestSeq = Infinity;
      for (const [flow, m] of model) if (m.bucket === bucket && m.seq < bestSeq) { best = flow; bestSeq = m.seq; }
      return best;
    };
    const countIn = (bucket: number): number => {
      let n = 0;
      for (const m of model.values()) if (m.bucket === bucket) n++;
      return n;
    };

    for (let step = 0; step < 5000; step++) {
      const op = random();
      if (op < 0.45) {
        const flow = pick(flows.capacity);
        if (unlinked.has(flow)) continue;
        const present = model.get(flow);
        if (present) {
          assert.equal(flows.lookup(cache, flow), present.index);
          cache.refresh(present.index, now);
          present.rexmits = Math.min(255, present.rexmits + 1);
          present.deadline = now + initial * 2 ** present.rexmits;
          continue;
        }
        const bucket = flows.hash[flow] & (hashSize - 1);
        let victim = -1;
        let fails = false;
        if (countIn(bucket) >= bucketLimit) {
          expect.bucketoverflow++;
          victim = oldestIn(bucket);
        } else if (used() >= cacheLimit) {
          expect.zonefail++;
          victim = oldestIn(bucket);
          if (victim < 0) fails = true; else expect.cacheoverflow++;
        }
        const e = flows.add(cache, flow, now);
        if (fails) {
          assert.equal(e, NONE, `step ${step}: zone full, bucket empty`);
          continue;
        }
        assert.notEqual(e, NONE, `step ${step}: allocate failed`);
        if (victim >= 0) {
          assert.equal(cache.lastEvicted, model.get(victim)!.index, `step ${step}: evicted the wrong entry`);
          model.delete(victim);
        }
        expect.added++;
        model.set(flow, { index: e, bucket, seq: seq++, deadline: now + initial, rexmits: 0 });
      } else if (op < 0.6) {
        const flows_ = [...model.keys()];
        if (flows_.length === 0) continue;
        const flow = flows_[pick(flows_.length)];
        assert.equal(cache.remove(model.get(flow)!.index), true);
        model.delete(flow);
      } else if (op < 0.7) {
        const flows_ = [...model.keys()];
        if (flows_.length === 0) continue;
        const flow = flows_[pick(flows_.length)];
        const m = model.get(flow)!;
        cache.unlink(m.index);
        model.delete(flow);
        unlinked.set(flow, m);
      } else if (op < 0.8) {
        const flows_ = [...unlinked.keys()];
        if (flows_.length === 0) continue;
        const flow = flows_[pick(flows_.length)];
        const m = unlinked.get(flow)!;
        unlinked.delete(flow);
        if (random() < 0.3) {
          cache.remove(m.index); // handoff succeeded
          continue;
        }
        let victim = -1;
        if (countIn(m.bucket) >= bucketLimit) {
          expect.bucketoverflow++;
          victim = oldestIn(m.bucket);
        }
        cache.relink(m.index);
        if (victim >= 0) {
          assert.equal(cache.lastEvicted, model.get(victim)!.index);
          model.delete(victim);
        }
        m.seq = seq++;
        model.set(flow, m);
      } else if (op < 0.97) {
        now += pick(150);
        const due = new Map<number, number>(); // index -> flow
        for (const [flow, m] of model) if (m.deadline <= now) due.set(m.index, flow);
        const seen = new Set<number>();
        cache.expire(now, (e) => {
          const flow = due.get(e);
          assert.ok(flow !== undefined, `step ${step}: retransmitted ${e}, not due`);
          const m = model.get(flow)!;
          assert.ok(m.rexmits < rexmtLimit);
          m.rexmits++;
          m.deadline = now + initial * 2 ** m.rexmits;
          assert.equal(cache.rexmits[e], m.rexmits);
          assert.equal(cache.deadline[e], m.deadline >>> 0);
          expect.retransmitted++;
          seen.add(e);
        }, (e) => {
          const flow = due.get(e);
          assert.ok(flow !== undefined, `step ${step}: stale ${e}, not due`);
          assert.ok(model.get(flow)!.rexmits >= rexmtLimit);
          model.delete(flow);
          expect.stale++;
          seen.add(e);
        });
        assert.equal(seen.size, due.size, `step ${step}: every due entry handled`);
      } else if (used() < cacheLimit && countIn(0) < bucketLimit) {
        // An allocation the engine abandons (e.g. the SYN-ACK could not be built): no eviction, back to the zone.
        const e = cache.allocate(0);
        assert.notEqual(e, NONE);
        assert.equal(cache.lastEvicted, NONE);
        assert.equal(cache.remove(e), true);
      }
      assert.equal(cache.size, model.size, `step ${step}: size`);
      assert.equal(cache.inUse, used(), `step ${step}: inUse`);
      for (const [flow, m] of model) assert.equal(flows.lookup(cache, flow), m.index, `step ${step}: flow ${flow}`);
      for (const flow of unlinked.keys()) assert.equal(flows.lookup(cache, flow), NONE);
      if (step % 25 === 0) cache.checkInvariants();
    }
    cache.checkInvariants();
    for (const [name, value] of Object.entries(expect)) assert.equal(stats[C[name as keyof typeof expect]], value, name);
    assert.ok(now > 2 ** 32, 'the run crossed the 2^32 ms wrap');
    t.diagnostic(JSON.stringify(expect));
    for (const [name, value] of Object.entries(expect)) assert.ok(value > 0, `the run exercised ${name}`);
  });
}
