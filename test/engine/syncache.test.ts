import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryFlag, EntryState, NO_WSCALE, NONE, SynCache } from '../../lib/engine/syncache.js';
import { resolveConfig } from '../../lib/engine/config.js';
import { C, Flows, makeCache } from './helpers.js';

test('add: a new SYN takes an entry, links it at its bucket head and counts added', () => {
  const { cache, stats } = makeCache({ hashSize: 8, bucketLimit: 4 });
  const f = new Flows(2);
  f.set(0, '198.18.0.2', 40000, '198.19.0.1', 80, 0x1234_5673);
  const e = cache.allocate(f.hash[0]);
  assert.notEqual(e, NONE);
  assert.equal(cache.state[e], EntryState.allocated);
  assert.equal(cache.size, 0, 'not visible before link');
  assert.equal(f.lookup(cache, 0), NONE);
  assert.equal(cache.peerWscale[e], NO_WSCALE);
  cache.setKey(e, f.family[0], f.peer, 0, f.local, 0, f.peerPort[0], f.localPort[0]);
  cache.setPeerMac(e, Uint8Array.of(9, 2, 0, 0, 0, 1, 2, 3, 4, 5), 4);
  cache.iss[e] = 0xdeadbeef;
  cache.irs[e] = 77;
  cache.peerMss[e] = 1400;
  cache.peerWscale[e] = 9;
  cache.flags[e] = EntryFlag.sackPermitted | EntryFlag.timestamps;
  cache.link(e, 5000);
  assert.equal(cache.size, 1);
  assert.equal(stats[C.added], 1);
  assert.equal(cache.state[e], EntryState.linked);
  assert.equal(cache.arrival[e], 5000);
  assert.equal(cache.deadline[e], 6000);
  assert.equal(cache.rexmits[e], 0);
  assert.equal(cache.nextDeadline(), 6000);
  assert.equal(f.lookup(cache, 0), e);
  assert.equal(cache.family[e], 4);
  assert.deepEqual([...cache.peerMac.subarray(e * 6, e * 6 + 6)], [0, 1, 2, 3, 4, 5]);
  const b = cache.bucketOf(f.hash[0]);
  assert.equal(b, 3);
  assert.equal(cache.bucketHead[b], e);
  assert.equal(cache.bucketTail[b], e);
  assert.equal(cache.bucketCount[b], 1);
  // The next entry of the bucket goes in front; the first becomes the oldest (tail).
  f.set(1, '198.18.0.3', 40000, '198.19.0.1', 80, 0x0000_0003);
  const e2 = f.add(cache, 1, 5001);
  assert.equal(cache.bucketHead[b], e2);
  assert.equal(cache.bucketTail[b], e);
  cache.checkInvariants();
});

test('lookup finds present flows and misses absent ones, IPv4 and IPv6, by the full key', () => {
  // One bucket and one hash for all: only the full key can tell them apart.
  const { cache } = makeCache({ hashSize: 1, bucketLimit: 16 });
  const f = new Flows(16);
  const h = 0xabcdef01;
  f.set(0, '2001:db8::1', 50000, '2001:db8:1::1', 443, h);
  f.set(1, '2001:db8::1:0:0:2', 50000, '2001:db8:1::1', 443, h);
  f.set(2, '198.18.0.1', 50000, '198.18.1.1', 443, h);
  const present = [0, 1, 2].map((i) => f.add(cache, i, 0));
  for (let i = 0; i < 3; i++) assert.equal(f.lookup(cache, i), present[i]);
  // Absent: differs in the last IPv6 word, a middle word, the local address,
  // a port, the family (same words), and the hash.
  f.set(3, '2001:db8::2', 50000, '2001:db8:1::1', 443, h);
  f.set(4, '2001:db8:0:1::1', 50000, '2001:db8:1::1', 443, h);
  f.set(5, '2001:db8::1', 50000, '2001:db8:1::2', 443, h);
  f.set(6, '2001:db8::1', 50001, '2001:db8:1::1', 443, h);
  f.set(7, '2001:db8::1', 50000, '2001:db8:1::1', 444, h);
  f.set(8, '198.18.0.1', 50000, '198.18.1.1', 443, h);
  f.family[8] = 6;
  f.set(9, '2001:db8::1', 50000, '2001:db8:1::1', 443, h ^ 1);
  for (let i = 3; i <= 9; i++) assert.equal(f.lookup(cache, i), NONE, `flow ${i} must be absent`);
  // A batch row elsewhere in the arrays: offsets are honoured.
  f.set(10, '2001:db8::1:0:0:2', 50000, '2001:db8:1::1', 443, h);
  assert.equal(f.lookup(cache, 10), present[1]);
  cache.remove(present[1]);
  assert.equal(f.lookup(cache, 1), NONE);
  assert.equal(f.lookup(cache, 0), present[0]);
});

test('a full bucket evicts its oldest entry (bucketoverflow)', () => {
  const { cache, stats } = makeCache({ hashSize: 4, bucketLimit: 3, cacheLimit: 100 });
  const f = new Flows(5);
  const entries: number[] = [];
  for (let i = 0; i < 4; i++) {
    f.set(i, `198.18.0.${i + 1}`, 1000 + i, '198.19.0.1', 80, 4 * i + 2);
    entries.push(f.add(cache, i, i));
  }
  assert.equal(stats[C.bucketoverflow], 1);
  assert.equal(cache.lastEvicted, entries[0]);
  assert.equal(cache.bucketCount[2], 3);
  assert.equal(f.lookup(cache, 0), NONE, 'the oldest is gone');
  for (let i = 1; i < 4; i++) assert.equal(f.lookup(cache, i), entries[i]);
  assert.equal(cache.size, 3);
  assert.equal(stats[C.added], 4);
  // Other buckets are unaffected by this one being full.
  f.set(4, '198.18.0.9', 9, '198.19.0.1', 80, 1);
  assert.notEqual(f.add(cache, 4, 5), NONE);
  assert.equal(stats[C.bucketoverflow], 1);
  cache.checkInvariants();
});

test('cacheLimit holds under 10x cacheLimit distinct SYNs (zonefail, cacheoverflow)', () => {
  const limit = 100;
  const { cache, stats } = makeCache({ hashSize: 64, bucketLimit: 30, cacheLimit: limit });
  const f = new Flows(1);
  let failed = 0;
  let state = 12345;
  for (let i = 0; i < 10 * limit; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    f.set(0, `198.18.${(i >> 8) & 255}.${i & 255}`, 1024 + (i % 60000), '198.19.0.1', 80, state);
    const bucket = cache.bucketOf(state);
    const bucketHad = cache.bucketCount[bucket];
    const e = f.add(cache, 0, i);
    if (e === NONE) {
      failed++;
      assert.equal(bucketHad, 0, 'allocate fails only when the zone is full and the bucket empty');
    }
    assert.ok(cache.size <= limit, `size ${cache.size} > cacheLimit`);
  }
  assert.equal(cache.size, limit);
  assert.ok(stats[C.zonefail] > 0);
  assert.ok(stats[C.cacheoverflow] > 0);
  assert.equal(stats[C.zonefail], stats[C.cacheoverflow] + failed, 'each zone failure evicts or fails');
  assert.equal(stats[C.added], 10 * limit - failed);
  cache.checkInvariants();
});

test('a full zone evicts the oldest entry of the SYN\'s own bucket, or fails when that bucket is empty', () => {
  const { cache, stats } = makeCache({ hashSize: 4, bucketLimit: 10, cacheLimit: 3 });
  const f = new Flows(5);
  f.set(0, '198.18.0.1', 1, '198.19.0.1', 80, 0); // bucket 0, oldest
  f.set(1, '198.18.0.2', 1, '198.19.0.1', 80, 1); // bucket 1, older than flow 2 but in another bucket
  f.set(2, '198.18.0.3', 1, '198.19.0.1', 80, 4); // bucket 0
  f.set(3, '198.18.0.4', 1, '198.19.0.1', 80, 8); // bucket 0: zone full
  f.set(4, '198.18.0.5', 1, '198.19.0.1', 80, 2); // bucket 2: zone full, bucket empty
  const e = [0, 1, 2].map((i) => f.add(cache, i, i));
  const got = f.add(cache, 3, 3);
  assert.equal(got, e[0], 'the freed entry is reused');
  assert.equal(cache.lastEvicted, e[0]);
  assert.equal(stats[C.zonefail], 1);
  assert.equal(stats[C.cacheoverflow], 1);
  assert.equal(stats[C.bucketoverflow], 0);
  assert.equal(f.lookup(cache, 0), NONE);
  assert.equal(f.lookup(cache, 1), e[1], 'other buckets keep their entries');
  assert.equal(f.add(cache, 4, 4), NONE);
  assert.equal(cache.lastEvicted, NONE);
  assert.equal(stats[C.zonefail], 2);
  assert.equal(stats[C.cacheoverflow], 1);
  assert.equal(cache.size, 3);
  cache.checkInvariants();
});

test('held entries are never evicted: the oldest entry that is not held goes, or none', () => {
  // Bucket overflow.
  {
    const { cache, stats } = makeCache({ hashSize: 1, bucketLimit: 2, cacheLimit: 100 });
    const f = new Flows(4);
    for (let i = 0; i < 4; i++) f.set(i, `198.18.0.${i + 1}`, 1000 + i, '198.19.0.1', 80, 7);
    const e0 = f.add(cache, 0, 0);
    const e1 = f.add(cache, 1, 1);
    cache.flags[e0] |= EntryFlag.held;
    assert.notEqual(f.add(cache, 2, 2), NONE);
    assert.equal(cache.lastEvicted, e1, 'the oldest not held');
    assert.equal(f.lookup(cache, 0), e0);
    cache.flags[f.lookup(cache, 2)] |= EntryFlag.held;
    assert.equal(f.add(cache, 3, 3), NONE, 'every entry held: refused');
    assert.equal(stats[C.bucketoverflow], 1);
    cache.checkInvariants();
  }
  // A full zone.
  {
    const { cache, stats } = makeCache({ hashSize: 4, bucketLimit: 10, cacheLimit: 2 });
    const f = new Flows(3);
    for (let i = 0; i < 3; i++) f.set(i, `198.18.0.${i + 1}`, 1000 + i, '198.19.0.1', 80, 4 * i);
    const e0 = f.add(cache, 0, 0);
    const e1 = f.add(cache, 1, 1);
    cache.flags[e0] |= EntryFlag.held;
    cache.flags[e1] |= EntryFlag.held;
    assert.equal(f.add(cache, 2, 2), NONE);
    assert.equal(stats[C.zonefail], 1);
    assert.equal(stats[C.cacheoverflow], 0, 'refused, not evicted');
    cache.flags[e1] &= ~EntryFlag.held;
    assert.equal(f.add(cache, 2, 2), e1);
    assert.equal(f.lookup(cache, 0), e0);
    cache.checkInvariants();
  }
  // A full zone and nothing to evict in the SYN's own bucket: anyBucket takes
  // the next bucket's oldest entry that is not held.
  {
    const { cache, stats } = makeCache({ hashSize: 4, bucketLimit: 10, cacheLimit: 3 });
    const f = new Flows(4);
    f.set(0, '198.18.0.1', 1, '198.19.0.1', 80, 1); // bucket 1, held
    f.set(1, '198.18.0.2', 1, '198.19.0.1', 80, 2); // bucket 2, oldest not held
    f.set(2, '198.18.0.3', 1, '198.19.0.1', 80, 6); // bucket 2
    f.set(3, '198.18.0.4', 1, '198.19.0.1', 80, 0); // bucket 0: empty
    const e = [0, 1, 2].map((i) => f.add(cache, i, i));
    cache.flags[e[0]] |= EntryFlag.held;
    assert.equal(cache.allocate(0), NONE, 'without anyBucket: refused');
    const got = cache.allocate(0, true);
    assert.equal(got, e[1]);
    assert.equal(cache.lastEvicted, e[1]);
    assert.equal(stats[C.cacheoverflow], 1);
    assert.equal(f.lookup(cache, 0), e[0], 'the held entry stays');
    assert.equal(f.lookup(cache, 2), e[2]);
    cache.remove(got);
    cache.checkInvariants();
  }
});

test('a duplicate SYN refreshes the timer and counts toward rexmtLimit (seed SYNCACHE_TIMEOUT)', () => {
  const { cache } = makeCache({ hashSize: 8 });
  const f = new Flows(1);
  f.set(0, '198.18.0.2', 40000, '198.19.0.1', 80, 5);
  const e = f.add(cache, 0, 0);
  cache.tsRecent[e] = 1;
  cache.refresh(e, 500);
  assert.equal(cache.rexmits[e], 1);
  assert.equal(cache.deadline[e], 2500);
  const retransmits: number[] = [];
  cache.expire(1000, (i) => retransmits.push(i), () => assert.fail('not stale'));
  assert.equal(retransmits.length, 0, 'the old 1000 ms deadline is gone');
  cache.expire(2500, (i) => retransmits.push(i), () => assert.fail('not stale'));
  assert.deepEqual(retransmits, [e]);
  assert.equal(cache.rexmits[e], 2);
  assert.equal(cache.deadline[e], 2500 + 4000);
  cache.checkInvariants();
});

test('unlink keeps the fields; relink puts the entry back (aborted handoff)', () => {
  const { cache, stats } = makeCache({ hashSize: 2, bucketLimit: 2 });
  const f = new Flows(3);
  for (let i = 0; i < 3; i++) f.set(i, `198.18.0.${i + 1}`, 2000, '198.19.0.1', 80, 0);
  const a = f.add(cache, 0, 0);
  cache.iss[a] = 42;
  cache.unlink(a);
  assert.equal(f.lookup(cache, 0), NONE);
  assert.equal(cache.size, 0);
  assert.equal(cache.inUse, 1);
  assert.equal(cache.nextDeadline(), NONE);
  f.add(cache, 1, 1);
  f.add(cache, 2, 2);
  cache.relink(a); // bucket full: its oldest (flow 1) goes
  assert.equal(stats[C.bucketoverflow], 1);
  assert.equal(f.lookup(cache, 0), a);
  assert.equal(f.lookup(cache, 1), NONE);
  assert.equal(cache.iss[a], 42);
  assert.equal(cache.deadline[a], 1000);
  assert.equal(cache.nextDeadline(), 1000);
  assert.equal(stats[C.added], 3, 'relink is not an add');
  assert.equal(cache.remove(a), true);
  assert.equal(cache.remove(a), false, 'removing a free entry is a no-op');
  assert.throws(() => cache.link(a, 0), RangeError);
  assert.throws(() => cache.unlink(a), RangeError);
  cache.checkInvariants();
});

test('clear empties the cache and restores the whole zone', () => {
  const { cache } = makeCache({ hashSize: 4, bucketLimit: 2, cacheLimit: 5 });
  const f = new Flows(1);
  for (let i = 0; i < 8; i++) {
    f.set(0, `198.18.0.${i}`, 1, '198.19.0.1', 80, i);
    f.add(cache, 0, i);
  }
  cache.allocate(3);
  cache.clear();
  assert.equal(cache.size, 0);
  assert.equal(cache.inUse, 0);
  assert.equal(cache.nextDeadline(), NONE);
  cache.checkInvariants();
  for (let i = 0; i < 5; i++) assert.notEqual(cache.allocate(i & 3), NONE);
});

test('the constructor refuses a geometry resolveConfig would refuse', () => {
  const ok = resolveConfig({ hashSize: 4 });
  assert.throws(() => new SynCache({ ...ok, hashSize: 3 }), /hashSize must be a power of 2/);
  assert.throws(() => new SynCache({ ...ok, cacheLimit: 0 }), /cacheLimit/);
  assert.throws(() => new SynCache(ok, new Float64Array(2)), /stats must hold/);
});

test('a 1-million-entry cache costs at most 128 bytes per entry', (t) => {
  const { cache } = makeCache({ hashSize: 2 ** 15, bucketLimit: 32, cacheLimit: 1_000_000 });
  t.diagnostic(`bytesPerEntry ${cache.bytesPerEntry.toFixed(2)}`);
  assert.ok(cache.bytesPerEntry <= 128, `bytesPerEntry ${cache.bytesPerEntry}`);
  assert.equal(cache.cacheLimit, 1_000_000);
  const { cache: dflt } = makeCache();
  t.diagnostic(`default geometry bytesPerEntry ${dflt.bytesPerEntry.toFixed(2)}`);
  assert.ok(dflt.bytesPerEntry <= 128);
});

test('many duplicate SYNs: the backoff stays bounded and the next due run drops the entry', () => {
  const { cache, stats } = makeCache({ hashSize: 2, rexmtLimit: 8, rexmtInitialMs: 60_000 });
  const f = new Flows(1);
  f.set(0, '198.18.0.2', 1, '198.19.0.1', 80, 1);
  const e = f.add(cache, 0, 0);
  for (let i = 0; i < 300; i++) cache.refresh(e, 0);
  assert.equal(cache.rexmits[e], 255);
  assert.ok(cache.deadline[e] <= 2 ** 30);
  cache.expire(cache.deadline[e], () => assert.fail('past rexmtLimit: no retransmit'), () => {});
  assert.equal(stats[C.stale], 1);
  assert.equal(cache.size, 0);
});
