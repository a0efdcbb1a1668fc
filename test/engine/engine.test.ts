// The engine's decisions, row by row, on batches written by hand and an
// injected clock. (The same decisions over real packets: test/responder/.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addon } from '../../lib/native/addon.js';
import { BatchView } from '../../lib/native/batch.js';
import { writeAddress } from '../../lib/native/address.js';
import { ManualClock } from '../../lib/engine/clock.js';
import { resolveConfig, type SyncacheConfigInput } from '../../lib/engine/config.js';
import { CHALLENGE_ACK_LIMIT, CHALLENGE_ACK_WINDOW_MS, SynEngine, type Handshake } from '../../lib/engine/engine.js';
import { SHARD_COUNTER_NAMES, counterIndex } from '../../lib/engine/stats.js';
import { CoarseTimer } from '../../lib/engine/coarse-timer.js';

const K = addon.constants.kinds;
const OPT = addon.constants.optFlags;
const V = addon.constants.cookieVerdicts;

interface Harness {
  engine: SynEngine;
  clock: ManualClock;
  rx: BatchView;
  sent: SentRow[];
  handshakes: Handshake[];
  stat(name: string): number;
  /** Writes one row and handles it. */
  feed(row: Partial<Row>): void;
  /** Writes rows 0.. of one batch and handles them together. */
  feedBatch(rows: Array<Partial<Row>>): void;
  refuse: boolean;
}

interface SentRow {
  kind: number; seq: number; ack: number; optFlags: number; wscale: number; mss: number; tsval: number; tsecr: number;
  dport: number; sport: number; mac: string;
}

interface Row {
  kind: number; peer: string; local: string; sport: number; dport: number; seq: number; ack: number;
  optFlags: number; mss: number; wscale: number; tsval: number; tsecr: number; hash: number;
  cookie: number; cookieState: number; window: number; data?: number[]; mac?: number[];
}

function harness(config: SyncacheConfigInput = {}, hold = false, fleetTimestamps = false): Harness {
  const clock = new ManualClock(1_000_000);
  const stats = new Float64Array(SHARD_COUNTER_NAMES.length);
  const sent: SentRow[] = [];
  const handshakes: Handshake[] = [];
  const rx = new BatchView();
  const h: Harness = {
    clock, rx, sent, handshakes, refuse: false,
    stat: (name) => stats[counterIndex(name)],
    engine: undefined as unknown as SynEngine,
    feed(partial) {
      h.feedBatch([partial]);
    },
    feedBatch(rows) {
      let used = 0;
      rows.forEach((partial, i) => { used = writeRow(i, partial, used); });
      h.engine.handle(rx, rows.length);
    },
  };
  function writeRow(i: number, partial: Partial<Row>, payloadAt: number): number {
    const r: Row = {
      kind: K.syn, peer: '198.18.0.2', local: '198.18.0.1', sport: 40000, dport: 80, seq: 1000, ack: 0,
      optFlags: OPT.mss | OPT.wscale | OPT.sackPermitted | OPT.timestamps, mss: 1460, wscale: 7,
      tsval: 5555, tsecr: 0, hash: 0x1234, cookie: 0, cookieState: V.notChecked, window: 64240, ...partial,
    };
    const a = i * 4;
    rx.kind[i] = r.kind;
    rx.family[i] = writeAddress(r.peer, rx.saddr, a);
    writeAddress(r.local, rx.daddr, a);
    rx.sport[i] = r.sport; rx.dport[i] = r.dport; rx.seq[i] = r.seq; rx.ack[i] = r.ack;
    rx.optFlags[i] = r.optFlags; rx.mss[i] = r.mss; rx.wscale[i] = r.wscale; rx.tsval[i] = r.tsval; rx.tsecr[i] = r.tsecr;
    rx.hash[i] = r.hash; rx.cookie[i] = r.cookie; rx.cookieState[i] = r.cookieState; rx.window[i] = r.window;
    rx.mac.set(r.mac ?? [2, 0, 0, 0, 0, 2], i * 6);
    rx.time[i] = 0;
    const data = r.data ?? [];
    rx.payloadLength[i] = data.length;
    rx.payloadOffset[i] = data.length > 0 ? payloadAt : BatchView.noPayload;
    rx.payload.set(data, payloadAt);
    return payloadAt + data.length;
  }

  h.engine = new SynEngine({
    config: resolveConfig(config), clock, stats, hold, fleetTimestamps,
    send(count) {
      const tx = h.engine.tx;
      for (let i = 0; i < count; i++) {
        const mac = [...tx.mac.subarray(i * 6, i * 6 + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
        sent.push({ kind: tx.kind[i], seq: tx.seq[i], ack: tx.ack[i], optFlags: tx.optFlags[i], wscale: tx.wscale[i], mss: tx.mss[i], tsval: tx.tsval[i], tsecr: tx.tsecr[i], dport: tx.dport[i], sport: tx.sport[i], mac });
      }
      return count;
    },
    onHandshake(hs) {
      if (h.refuse) return false;
      handshakes.push(hs);
      return true;
    },
  });
  return h;
}

test('SYN: an entry is added and answered with a SYN-ACK carrying the peer\'s options', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({});
  assert.equal(h.stat('added'), 1);
  assert.equal(h.engine.cache?.size, 1);
  assert.equal(h.sent.length, 1);
  const s = h.sent[0];
  assert.equal(s.kind, K.synAck);
  assert.equal(s.ack, 1001);
  assert.equal(s.sport, 80);
  assert.equal(s.dport, 40000);
  assert.equal(s.optFlags, OPT.mss | OPT.wscale | OPT.sackPermitted | OPT.timestamps);
  assert.equal(s.wscale, 7);
  assert.equal(s.tsecr, 5555);
  assert.equal(s.tsval % 2, 0, 'our TSval keeps bit 0 clear');
});

test('duplicate SYN resends the same ISS and counts dupsyn', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({});
  h.feed({});
  assert.equal(h.stat('dupsyn'), 1);
  assert.equal(h.stat('added'), 1);
  assert.equal(h.sent.length, 2);
  assert.equal(h.sent[1].seq, h.sent[0].seq);
});

test('ACK of ISS+1 completes with every negotiated parameter', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({});
  h.clock.advance(25);
  const iss = h.sent[0].seq;
  h.feed({ kind: K.ack, seq: 1001, ack: (iss + 1) >>> 0, optFlags: OPT.timestamps, tsval: 5600, tsecr: h.sent[0].tsval });
  assert.equal(h.stat('completed'), 1);
  assert.equal(h.engine.cache?.size, 0);
  const hs = h.handshakes[0];
  assert.equal(hs.remoteAddress, '198.18.0.2');
  assert.equal(hs.localAddress, '198.18.0.1');
  assert.equal(hs.remotePort, 40000);
  assert.equal(hs.localPort, 80);
  assert.equal(hs.iss, iss);
  assert.equal(hs.irs, 1000);
  assert.equal(hs.mss, 1460);
  assert.equal(hs.wscale, 7);
  assert.equal(hs.sackPermitted, true);
  assert.deepEqual(hs.timestamps, { peerTsval: 5600, ourTsval: h.sent[0].tsval });
  assert.equal(hs.viaCookie, false);
  assert.equal(hs.retransmits, 0);
  assert.equal(hs.ackTime - hs.synTime, 25);
});

test('ACK that does not acknowledge ISS+1 drops the entry (badack) and answers with a RST', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({});
  const iss = h.sent[0].seq;
  h.feed({ kind: K.ack, seq: 1001, ack: (iss + 7) >>> 0 });
  assert.equal(h.stat('badack'), 1);
  assert.equal(h.engine.cache?.size, 0);
  assert.equal(h.sent[1].kind, K.sendRst);
  assert.equal(h.sent[1].seq, (iss + 7) >>> 0);
});

test('a handshake the application refuses is reinserted (aborted) and completes on a retry', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({});
  const ack = (h.sent[0].seq + 1) >>> 0;
  h.refuse = true;
  h.feed({ kind: K.ack, seq: 1001, ack });
  assert.equal(h.stat('aborted'), 1);
  assert.equal(h.engine.cache?.size, 1);
  h.refuse = false;
  h.feed({ kind: K.ack, seq: 1001, ack });
  assert.equal(h.stat('completed'), 1);
  assert.equal(h.engine.cache?.size, 0);
});

test('RST at exactly IRS+1 drops the entry; outside the window it is ignored', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({});
  h.feed({ kind: K.rst, seq: 1001 + 70000 });
  assert.equal(h.stat('rstignored'), 1);
  assert.equal(h.engine.cache?.size, 1);
  h.feed({ kind: K.rst, seq: 1001 });
  assert.equal(h.stat('reset'), 1);
  assert.equal(h.engine.cache?.size, 0);
});

test('RST elsewhere in the window gets a challenge ACK (RFC 5961 3.2), 5 per entry per second, and keeps the entry', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({});
  const iss = h.sent[0].seq;
  const before = h.sent.length;
  for (let k = 1; k <= 8; k++) h.feed({ kind: K.rst, seq: 1001 + k * 100 });
  assert.equal(h.engine.cache?.size, 1, 'the entry survives');
  assert.equal(h.stat('reset'), 0);
  assert.equal(h.stat('challengeack'), CHALLENGE_ACK_LIMIT);
  assert.equal(h.stat('challengeacklimited'), 8 - CHALLENGE_ACK_LIMIT);
  const acks = h.sent.slice(before);
  assert.equal(acks.length, CHALLENGE_ACK_LIMIT);
  for (const a of acks) {
    assert.equal(a.kind, K.sendAck);
    assert.equal(a.seq, (iss + 1) >>> 0);
    assert.equal(a.ack, 1001);
    assert.equal(a.optFlags, OPT.timestamps);
    assert.equal(a.tsecr, 5555);
    assert.equal(a.mac, '02:00:00:00:00:02');
  }
  h.clock.advance(CHALLENGE_ACK_WINDOW_MS);
  h.feed({ kind: K.rst, seq: 1001 + 65535 });
  assert.equal(h.stat('challengeack'), CHALLENGE_ACK_LIMIT + 1, 'a new window, a new allowance');
  h.feed({ kind: K.rst, seq: 1001 + 65536 });
  assert.equal(h.stat('rstignored'), 1, 'past the window');
  h.feed({ kind: K.rst, seq: 1000 });
  assert.equal(h.stat('rstignored'), 2, 'before IRS+1');
  h.feed({ kind: K.rst, seq: 1001 });
  assert.equal(h.stat('reset'), 1);
  assert.equal(h.engine.cache?.size, 0);
});

test('a duplicate SYN with a new ISN from another MAC rewrites nothing: the SYN-ACK acks the stored IRS and goes to the stored peer', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({});
  const iss = h.sent[0].seq;
  h.feed({ seq: 777_777, mac: [2, 0, 0, 0, 0, 0x66], tsval: 9_000_000 });
  assert.equal(h.stat('dupsyn'), 1);
  assert.equal(h.sent.length, 2);
  assert.equal(h.sent[1].seq, iss);
  assert.equal(h.sent[1].ack, 1001, 'acks the stored IRS');
  assert.equal(h.sent[1].mac, '02:00:00:00:00:02', 'to the stored peer MAC');
  assert.equal(h.sent[1].tsecr, 5555, 'a SYN with another ISN does not move ts_recent');
  const e = h.engine.cache?.lookup(4, h.rx.saddr, 0, h.rx.daddr, 0, 40000, 80, 0x1234) ?? -1;
  assert.equal(h.engine.cache?.irs[e], 1000);
  // The flow's own SYN again, later: ts_recent follows it; nothing else changes.
  h.feed({ tsval: 5600 });
  assert.equal(h.sent[2].ack, 1001);
  assert.equal(h.sent[2].tsecr, 5600);
  h.feed({ kind: K.ack, seq: 1001, ack: (iss + 1) >>> 0, optFlags: OPT.timestamps, tsval: 5601, tsecr: h.sent[2].tsval });
  assert.equal(h.stat('completed'), 1);
  assert.equal(h.handshakes[0].irs, 1000);
  assert.equal(h.handshakes[0].peerMac, '02:00:00:00:00:02');
});

test('a client that restarted with a new ISN: the dup SYN\'s SYN-ACK acks the old IRS, its RST at exactly IRS+1 clears the entry, its next SYN starts afresh', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({ seq: 1000 });
  h.feed({ seq: 50_000 }); // the new connection's SYN on the same 4-tuple
  assert.equal(h.sent[1].ack, 1001, 'RFC 793 SYN-SENT: an unacceptable ACK, answered with <SEQ=SEG.ACK><CTL=RST>');
  h.feed({ kind: K.rst, seq: h.sent[1].ack });
  assert.equal(h.stat('reset'), 1);
  h.feed({ seq: 50_000 }); // its SYN retransmit
  assert.equal(h.stat('added'), 2);
  assert.equal(h.sent.at(-1)?.ack, 50_001);
  h.feed({ kind: K.ack, seq: 50_001, ack: ((h.sent.at(-1)?.seq ?? 0) + 1) >>> 0 });
  assert.equal(h.handshakes[0].irs, 50_000);
});

test('one batch with a flow\'s ACK, its data and its ACK again completes it once (completedrepeat); another flow in it still completes', () => {
  for (const syncookies of ['on', 'only'] as const) {
    const h = harness({ syncookies, hashSize: 1, bucketLimit: 2 });
    h.feed({ sport: 1, cookie: 0x11111100, cookieState: V.made, optFlags: OPT.mss });
    h.feed({ sport: 2, cookie: 0x22222200, cookieState: V.made, optFlags: OPT.mss });
    const ack1 = { kind: K.ack, sport: 1, seq: 1001, ack: 0x11111101, cookie: 0x11111100, cookieState: V.valid, optFlags: 0 };
    h.feedBatch([
      ack1,
      { ...ack1, data: [1, 2, 3] }, // curl: the request right behind the final ACK, same seq, a valid cookie
      { ...ack1, seq: 1004, data: [4], cookieState: V.invalid },
      ack1,
      { kind: K.syn, sport: 1, seq: 1000, cookie: 0x11111100, cookieState: V.made }, // its SYN, read late
      { kind: K.ack, sport: 2, seq: 1001, ack: 0x22222201, cookie: 0x22222200, cookieState: V.valid, optFlags: 0 },
    ]);
    assert.deepEqual(h.handshakes.map((x) => x.remotePort), [1, 2], syncookies);
    assert.equal(h.stat('completed'), 2, syncookies);
    assert.equal(h.stat('completedrepeat'), 4, syncookies);
    assert.equal(h.stat('failcookie') + h.stat('recvcookie') - (syncookies === 'only' ? 2 : 0), 0, syncookies);
    // The next batch starts afresh: the caller (Shard.mark) keeps the flow out of it.
    h.feed(ack1);
    assert.equal(h.stat('completedrepeat'), 4, syncookies);
  }
});

test('syncookies=on: a cookie ACK completes only within two rotations of the cache last needing cookies (spuriouscookie)', () => {
  const h = harness({ syncookies: 'on', hashSize: 1, bucketLimit: 1, cookieRotateMs: 15_000, rexmtLimit: 0, rexmtInitialMs: 1000 });
  const ack = (sport: number, cookie: number) => ({ kind: K.ack, sport, seq: 1001, ack: (cookie + 1) >>> 0, cookie, cookieState: V.valid, optFlags: 0 });
  // An entry that went stale: its cookie looks valid, but cookies were never needed.
  h.feed({ sport: 1, cookie: 0x11111100, cookieState: V.made });
  h.clock.advance(1000);
  h.engine.expire();
  assert.equal(h.stat('stale'), 1);
  h.feed(ack(1, 0x11111100));
  assert.equal(h.stat('spuriouscookie'), 1);
  assert.equal(h.handshakes.length, 0);
  // The bucket overflows: cookies are needed now, and for two rotations.
  h.feed({ sport: 2, cookie: 0x22222200, cookieState: V.made });
  h.feed({ sport: 3, cookie: 0x33333300, cookieState: V.made });
  assert.equal(h.stat('bucketoverflow'), 1);
  h.clock.advance(30_000);
  h.feed(ack(2, 0x22222200));
  assert.equal(h.stat('recvcookie'), 1, 'at two rotations: still');
  h.clock.advance(1);
  h.feed(ack(1, 0x11111100));
  assert.equal(h.stat('spuriouscookie'), 2, 'past two rotations: no more');
  assert.equal(h.handshakes.length, 1);
});

test('syncookies=on: the pause needs cookies until two rotations after its last cookie; syncookies=only always', () => {
  const h = harness({ syncookies: 'on', hashSize: 4, bucketLimit: 4, cacheLimit: 1, cookieRotateMs: 15_000 });
  h.feed({ sport: 1, hash: 0, cookie: 0x11111100, cookieState: V.made });
  h.feed({ sport: 2, hash: 1, cookie: 0x22222200, cookieState: V.made }); // zonefail: bucket 1 empty, refused; pause
  assert.equal(h.stat('pauses'), 1);
  h.clock.advance(14_000);
  h.feed({ sport: 3, hash: 2, cookie: 0x33333300, cookieState: V.made }); // paused: a cookie, no entry
  h.clock.advance(31_000);
  h.feed({ kind: K.ack, sport: 3, hash: 2, seq: 1001, ack: 0x33333301, cookie: 0x33333300, cookieState: V.valid, optFlags: 0 });
  assert.equal(h.stat('spuriouscookie'), 1);
  const only = harness({ syncookies: 'only' });
  only.clock.advance(10 * 3_600_000);
  only.feed({ kind: K.ack, seq: 1001, ack: 0x44444401, cookie: 0x44444400, cookieState: V.valid, optFlags: 0 });
  assert.equal(only.stat('recvcookie'), 1);
  assert.equal(only.stat('spuriouscookie'), 0);
});

test('final ACK of an entry: seq must be IRS+1 (badseq), the entry kept', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({});
  const ack = (h.sent[0].seq + 1) >>> 0;
  h.feed({ kind: K.ack, seq: 1002, ack });
  h.feed({ kind: K.ack, seq: 1001 + 100_000, ack });
  assert.equal(h.stat('badseq'), 2);
  assert.equal(h.engine.cache?.size, 1);
  assert.equal(h.handshakes.length, 0);
  h.feed({ kind: K.ack, seq: 1001, ack });
  assert.equal(h.stat('completed'), 1);
});

test('final ACK timestamps (PAWS): missing, an echo we never sent, or a TSval older than the SYN\'s are dropped (pawsreject)', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({ tsval: 5555 });
  h.clock.advance(100);
  const ourTs = h.sent[0].tsval;
  const ack = (h.sent[0].seq + 1) >>> 0;
  const base = { kind: K.ack, seq: 1001, ack, optFlags: OPT.timestamps, tsval: 5560, tsecr: ourTs };
  h.feed({ ...base, optFlags: 0 });
  h.feed({ ...base, tsecr: (ourTs + 1000) >>> 0 }); // from our future
  h.feed({ ...base, tsecr: (ourTs - 2) >>> 0 }); // from before the SYN
  h.feed({ ...base, tsval: 5554 }); // older than the SYN's
  assert.equal(h.stat('pawsreject'), 4);
  assert.equal(h.engine.cache?.size, 1);
  h.feed({ ...base, tsecr: 0 }); // a broken echo of 0 passes, as in FreeBSD
  assert.equal(h.stat('completed'), 1);
  // A cookie ACK's echo: not in the future, no older than a cookie lives.
  const c = harness({ syncookies: 'only', cookieRotateMs: 15_000 });
  const now = c.engine.tsNow();
  const cookieAck = { kind: K.ack, seq: 1001, ack: 0x55555501, cookie: 0x55555500, cookieState: V.valid, optFlags: OPT.timestamps, tsval: 1 };
  c.feed({ ...cookieAck, tsecr: (now + 10) >>> 0 });
  c.feed({ ...cookieAck, tsecr: (now - 30_002) >>> 0 });
  assert.equal(c.stat('pawsreject'), 2);
  c.feed({ ...cookieAck, tsecr: (now - 29_000) >>> 0 });
  assert.equal(c.stat('recvcookie'), 1);
});

test('in a fleet, our TSval is the clock\'s own ms and a cookie ACK may echo another host\'s, up to 5 s ahead of ours', () => {
  const f = harness({ syncookies: 'only' }, false, true);
  const now = f.engine.tsNow();
  assert.equal(now, (Math.floor(f.clock.now()) & ~1) >>> 0, 'no random offset');
  const cookieAck = { kind: K.ack, seq: 1001, ack: 0x55555501, cookie: 0x55555500, cookieState: V.valid, optFlags: OPT.timestamps, tsval: 1 };
  f.feed({ ...cookieAck, tsecr: (now + 4_900) >>> 0 }); // a host whose clock is 4.9 s ahead
  assert.equal(f.stat('recvcookie'), 1);
  f.feed({ ...cookieAck, sport: 40001, tsecr: (now + 5_100) >>> 0 });
  f.feed({ ...cookieAck, sport: 40002, tsecr: (now - 35_200) >>> 0 });
  assert.equal(f.stat('pawsreject'), 2);
});

test('ICMP unreachable marks the entry; a second one after 3 retransmits drops it', () => {
  const h = harness({ syncookies: 'off', rexmtLimit: 5 });
  h.feed({});
  const iss = h.sent[0].seq;
  h.feed({ kind: K.unreach, seq: iss });
  assert.equal(h.stat('unreachmarked'), 1);
  h.feed({ kind: K.unreach, seq: iss });
  assert.equal(h.stat('unreach'), 0, 'not before 3 retransmits');
  for (const step of [1000, 2000, 4000]) {
    h.clock.advance(step);
    h.engine.expire();
  }
  assert.equal(h.stat('retransmitted'), 3);
  h.feed({ kind: K.unreach, seq: (iss + 1) >>> 0 });
  assert.equal(h.stat('unreachignored'), 1, 'a quote of another ISS is ignored');
  h.feed({ kind: K.unreach, seq: iss });
  assert.equal(h.stat('unreach'), 1);
  assert.equal(h.engine.cache?.size, 0);
});

test('retransmits at 1 s, 2 s, 4 s, then the entry goes stale', () => {
  const h = harness({ syncookies: 'off' });
  h.feed({});
  const times: number[] = [];
  for (let t = 0; t <= 16_000; t += 100) {
    const before = h.sent.length;
    h.engine.expire();
    if (h.sent.length > before) times.push(t);
    h.clock.advance(100);
  }
  assert.deepEqual(times, [1000, 3000, 7000]);
  assert.equal(h.stat('stale'), 1);
  assert.equal(h.engine.cache?.size, 0);
  assert.ok(h.sent.every((s) => s.seq === h.sent[0].seq), 'every retransmit carries the same ISS');
});

test('syncookies=only keeps no state: the SYN-ACK carries the native cookie, a valid cookie ACK completes', () => {
  const h = harness({ syncookies: 'only' });
  h.feed({ cookie: 0xabcdef12, cookieState: V.made });
  assert.equal(h.engine.cache, null);
  assert.equal(h.sent[0].seq, 0xabcdef12);
  assert.equal(h.stat('sendcookie'), 1);
  h.feed({ kind: K.ack, seq: 1001, ack: 0xabcdef13, cookie: 0xabcdef12, cookieState: V.valid, optFlags: OPT.mss | OPT.wscale | OPT.sackPermitted, mss: 1440, wscale: 6 });
  assert.equal(h.stat('recvcookie'), 1);
  const hs = h.handshakes[0];
  assert.equal(hs.viaCookie, true);
  assert.equal(hs.iss, 0xabcdef12);
  assert.equal(hs.irs, 1000);
  assert.equal(hs.mss, 1440);
  assert.equal(hs.wscale, 6);
  assert.equal(hs.sackPermitted, true);
  h.feed({ kind: K.ack, seq: 1001, ack: 5, cookieState: V.invalid });
  assert.equal(h.stat('failcookie'), 1);
});

test('syncookies=on: an ACK whose entry was evicted completes through its cookie', () => {
  const h = harness({ syncookies: 'on', hashSize: 1, bucketLimit: 1 });
  h.feed({ sport: 1, cookie: 0x11111100, cookieState: V.made });
  h.feed({ sport: 2, cookie: 0x22222200, cookieState: V.made });
  assert.equal(h.stat('bucketoverflow'), 1);
  h.feed({ kind: K.ack, sport: 1, seq: 1001, ack: 0x11111101, cookie: 0x11111100, cookieState: V.valid });
  assert.equal(h.stat('recvcookie'), 1);
  assert.equal(h.stat('completed'), 1);
});

test('syncookies=on: once the zone runs out, new flows get cookies without entries for 15 s (the pause)', () => {
  // 4 buckets of up to 4, but room for 2 entries in all: the third SYN finds the zone empty.
  const h = harness({ syncookies: 'on', hashSize: 4, bucketLimit: 4, cacheLimit: 2 });
  h.feed({ sport: 1, hash: 0, cookie: 0x11111100, cookieState: V.made });
  h.feed({ sport: 2, hash: 1, cookie: 0x22222200, cookieState: V.made });
  assert.equal(h.engine.paused, false);
  h.feed({ sport: 3, hash: 1, cookie: 0x33333300, cookieState: V.made });
  assert.equal(h.stat('zonefail'), 1);
  assert.equal(h.stat('added'), 3, 'the SYN that found the zone empty still takes an entry');
  assert.equal(h.stat('pauses'), 1);
  assert.equal(h.engine.paused, true);
  // A new flow: a cookie, no entry, nothing evicted.
  h.feed({ sport: 4, hash: 0, cookie: 0x44444400, cookieState: V.made });
  assert.equal(h.sent.at(-1)?.seq, 0x44444400);
  assert.equal(h.stat('added'), 3);
  assert.equal(h.stat('sendcookie'), 4);
  assert.equal(h.engine.cache?.size, 2);
  // A flow that has an entry keeps it: its duplicate SYN is answered from it, its ACK completes through it.
  h.feed({ sport: 1, hash: 0, cookie: 0x11111100, cookieState: V.made });
  assert.equal(h.stat('dupsyn'), 1);
  h.feed({ kind: K.ack, sport: 1, hash: 0, seq: 1001, ack: 0x11111101 });
  assert.equal(h.handshakes.at(-1)?.viaCookie, false);
  assert.equal(h.engine.cache?.size, 1);
  // The cookie flow completes as any cookie does.
  h.feed({ kind: K.ack, sport: 4, hash: 0, seq: 1001, ack: 0x44444401, cookie: 0x44444400, cookieState: V.valid });
  assert.equal(h.handshakes.at(-1)?.viaCookie, true);
  assert.equal(h.stat('pauses'), 1, 'one pause, however many SYNs it answers');
  // 15 s later new flows get entries again.
  h.clock.advance(15_000);
  assert.equal(h.engine.paused, false);
  h.feed({ sport: 5, hash: 2, cookie: 0x55555500, cookieState: V.made });
  assert.equal(h.stat('added'), 4);
  h.engine.cache?.checkInvariants();
});

test('the pause doubles while the zone keeps running out, up to 2^6 x 15 s, and starts over after a quiet spell', () => {
  const h = harness({ syncookies: 'on', hashSize: 4, bucketLimit: 4, cacheLimit: 1 });
  let port = 1;
  // Two SYNs: the second finds the zone (one entry) empty and, if not paused, pauses.
  const overflow = (): void => {
    h.feed({ sport: port++, hash: 0, cookie: 0x1000, cookieState: V.made });
    h.feed({ sport: port++, hash: 0, cookie: 0x2000, cookieState: V.made });
  };
  const lengths: number[] = [];
  overflow();
  for (let k = 0; k < 8; k++) {
    let waited = 0;
    while (h.engine.paused) { h.clock.advance(1_000); waited += 1_000; }
    lengths.push(waited);
    overflow(); // right after it ends: the same attack
  }
  assert.deepEqual(lengths, [15, 30, 60, 120, 240, 480, 960, 960].map((s) => s * 1_000));
  assert.equal(h.stat('pauses'), 9);
  // Quiet for longer than the last pause's length after it ended: back to 15 s.
  while (h.engine.paused) h.clock.advance(1_000);
  h.clock.advance(960_000 + 1_000);
  overflow();
  let waited = 0;
  while (h.engine.paused) { h.clock.advance(1_000); waited += 1_000; }
  assert.equal(waited, 15_000);
});

test('while paused the timer sends no retransmits: entries back off and go stale on schedule; after it, they retransmit again', () => {
  const h = harness({ syncookies: 'on', hashSize: 4, bucketLimit: 4, cacheLimit: 2, pauseMs: 2_000 });
  h.feed({ sport: 1, hash: 0, cookie: 0x1000, cookieState: V.made });
  h.feed({ sport: 2, hash: 1, cookie: 0x2000, cookieState: V.made });
  h.feed({ sport: 3, hash: 1, cookie: 0x3000, cookieState: V.made }); // the zone runs out: paused for 2 s
  assert.equal(h.engine.paused, true);
  const sent = h.sent.length;
  h.clock.advance(1_000);
  h.engine.expire(); // both entries due (1 s): backed off, nothing sent
  assert.equal(h.sent.length, sent);
  assert.equal(h.stat('retransmitted'), 0);
  h.clock.advance(1_000); // the pause is over
  assert.equal(h.engine.paused, false);
  h.clock.advance(1_000);
  h.engine.expire(); // due again at 3 s: sent now
  assert.equal(h.stat('retransmitted'), 2);
  assert.equal(h.sent.length, sent + 2);
  h.engine.cache?.checkInvariants();
});

test("the pause's end is the timer's deadline, even with no entry left: the door, told the cookie state at each tick, hears of it on time", () => {
  // The entry goes stale after 15 s (retransmits at 1, 3 and 7 s), 5 s before the pause ends.
  const h = harness({ syncookies: 'on', hashSize: 4, bucketLimit: 4, cacheLimit: 1, pauseMs: 20_000 });
  h.feed({ sport: 1, hash: 0, cookie: 0x1000, cookieState: V.made });
  h.feed({ sport: 2, hash: 0, cookie: 0x2000, cookieState: V.made }); // the zone runs out: paused for 20 s
  const pauseEnd = h.clock.now() + 20_000;
  assert.equal(h.engine.paused, true);
  const told: Array<{ at: number; paused: boolean }> = [];
  const timer = new CoarseTimer(() => { h.engine.expire(); told.push({ at: h.clock.now(), paused: h.engine.paused }); }, () => h.engine.nextDeadline(), { clock: h.clock });
  try {
    timer.notify();
    // Run each tick when it is armed for: the entry's backoff until it goes
    // stale, then, with the cache empty, the pause's end.
    for (let i = 0; i < 20 && timer.state === 'armed'; i++) {
      h.clock.advance(Math.max(0, (timer.armedFor - h.clock.now()) | 0));
      timer.tick();
    }
    assert.equal(h.engine.cache?.size, 0, 'the entry went stale while paused');
    assert.equal(timer.state, 'idle', 'nothing due once the pause is over');
    assert.deepEqual(told.at(-1), { at: pauseEnd, paused: false }, JSON.stringify(told));
    assert.ok(told.slice(0, -1).every((t) => t.paused), 'every earlier tick was within the pause');
  } finally {
    timer.stop();
  }
});

test('pauseMs sets the first pause; 0 never pauses (every SYN evicts, as in the seed)', () => {
  const short = harness({ syncookies: 'on', hashSize: 4, bucketLimit: 4, cacheLimit: 1, pauseMs: 2_000 });
  short.feed({ sport: 1, hash: 0, cookie: 0x1000, cookieState: V.made });
  short.feed({ sport: 2, hash: 0, cookie: 0x2000, cookieState: V.made });
  assert.equal(short.engine.paused, true);
  short.clock.advance(1_999);
  assert.equal(short.engine.paused, true);
  short.clock.advance(1);
  assert.equal(short.engine.paused, false);
  const never = harness({ syncookies: 'on', hashSize: 4, bucketLimit: 4, cacheLimit: 1, pauseMs: 0 });
  for (let port = 1; port <= 5; port++) never.feed({ sport: port, hash: 0, cookie: 0x1000 * port, cookieState: V.made });
  assert.equal(never.stat('pauses'), 0);
  assert.equal(never.stat('zonefail'), 4);
  assert.equal(never.stat('added'), 5, 'each SYN took an entry, evicting the one before');
});

test('syncookies=off never pauses: there are no cookies to answer with', () => {
  const h = harness({ syncookies: 'off', hashSize: 4, bucketLimit: 4, cacheLimit: 1 });
  h.feed({ sport: 1, hash: 0 });
  h.feed({ sport: 2, hash: 0 });
  assert.equal(h.stat('zonefail'), 1);
  assert.equal(h.stat('pauses'), 0);
  assert.equal(h.engine.paused, false);
  h.feed({ sport: 3, hash: 0 });
  assert.equal(h.stat('added'), 3);
});

test('syncookies=off: an evicted entry can no longer complete', () => {
  const h = harness({ syncookies: 'off', hashSize: 1, bucketLimit: 1 });
  h.feed({ sport: 1 });
  const iss = h.sent[0].seq;
  h.feed({ sport: 2 });
  h.feed({ kind: K.ack, sport: 1, seq: 1001, ack: (iss + 1) >>> 0 });
  assert.equal(h.stat('completed'), 0);
  assert.equal(h.stat('ackunknown'), 1);
});

test('a flood of 10 x cacheLimit distinct SYNs leaves the cache at its limit', () => {
  const h = harness({ syncookies: 'off', hashSize: 64, bucketLimit: 4 });
  for (let i = 0; i < 2560; i++) h.feed({ sport: 1024 + i, hash: Math.imul(i, 0x9e3779b1) >>> 0 });
  assert.equal(h.engine.cache?.size, 256);
  h.engine.cache?.checkInvariants();
});

test('hold: a completed entry stays until released and collects the data that follows, in order', () => {
  const h = harness({ syncookies: 'on' }, true);
  h.feed({ cookie: 0x51000000, cookieState: V.made });
  const iss = h.sent[0].seq;
  h.feed({ kind: K.ack, seq: 1001, ack: (iss + 1) >>> 0, data: [1, 2, 3] });
  const hs = h.handshakes[0];
  assert.equal(hs.hold >= 0, true);
  assert.deepEqual([...(hs.payload ?? [])], [1, 2, 3]);
  assert.equal(h.engine.cache?.size, 1, 'held, not freed');
  h.feed({ kind: K.ack, seq: 1004, ack: (iss + 1) >>> 0, data: [4, 5] });
  h.feed({ kind: K.ack, seq: 1010, ack: (iss + 1) >>> 0, data: [9] }); // a gap: left to the peer's retransmit
  h.feed({ kind: K.ack, seq: 1004, ack: (iss + 1) >>> 0, data: [4, 5] }); // repeated
  assert.equal(h.stat('completed'), 1, 'segments of a held flow are not handshakes');
  assert.deepEqual(h.engine.takeHeldData(hs.hold, iss)?.data.map((c) => [...c]), [[1, 2, 3], [4, 5]]);
  // What comes after a take is collected from where it ended, with its sequence number.
  h.feed({ kind: K.ack, seq: 1004, ack: (iss + 1) >>> 0, data: [4, 5] }); // taken already
  h.feed({ kind: K.ack, seq: 1006, ack: (iss + 1) >>> 0, data: [6] });
  const late = h.engine.takeHeldData(hs.hold, iss);
  assert.deepEqual(late?.data.map((c) => [...c]), [[6]]);
  assert.equal(late?.seq, 1006);
  assert.deepEqual(h.engine.takeHeldData(hs.hold, iss), { data: [], seq: 1007 });
  assert.equal(h.engine.release(hs.hold, (iss + 1) >>> 0), false, 'a wrong ISS does not release');
  assert.equal(h.engine.release(hs.hold, iss), true);
  assert.equal(h.engine.cache?.size, 0);
});

test("retry: a held entry whose socket could not be made stays for the peer's retransmit, which completes it again (not a spurious cookie)", () => {
  const h = harness({ syncookies: 'on' }, true);
  h.feed({ cookie: 0x51000000, cookieState: V.made });
  const iss = h.sent[0].seq;
  h.feed({ kind: K.ack, seq: 1001, ack: (iss + 1) >>> 0, data: [1, 2, 3] });
  const first = h.handshakes[0];
  assert.equal(h.engine.retry(first.hold, (iss + 1) >>> 0), false, 'a wrong ISS changes nothing');
  assert.equal(h.engine.retry(first.hold, iss), true);
  assert.equal(h.engine.cache?.size, 1, 'the entry stays');
  assert.equal(h.engine.takeHeldData(first.hold, iss), undefined, 'no longer held: its data went');
  // The peer resends its data (its ACK of our SYN-ACK with it).
  h.feed({ kind: K.ack, seq: 1001, ack: (iss + 1) >>> 0, data: [1, 2, 3] });
  assert.equal(h.stat('completed'), 2);
  assert.equal(h.stat('spuriouscookie'), 0);
  const again = h.handshakes[1];
  assert.ok(again.hold >= 0);
  assert.deepEqual([...(again.payload ?? [])], [1, 2, 3]);
  assert.equal(h.engine.release(again.hold, iss), true);
  assert.equal(h.engine.cache?.size, 0);
});

test("retry of a cookie's hold: the entry (which knows only the flow's key) goes, and the retransmit completes through the cookie again with the peer's MSS", () => {
  const h = harness({ syncookies: 'only' }, true);
  h.feed({ sport: 1, cookie: 0x11111100, cookieState: V.made });
  const ack = { kind: K.ack, sport: 1, seq: 1001, ack: 0x11111101, cookie: 0x11111100, cookieState: V.valid, mss: 1400, data: [1] };
  h.feed(ack);
  const first = h.handshakes[0];
  assert.equal(first.viaCookie, true);
  assert.equal(h.engine.retry(first.hold, 0x11111100), true);
  assert.equal(h.engine.cache?.size, 0, 'the hold entry went');
  h.feed(ack);
  const again = h.handshakes[1];
  assert.equal(again.viaCookie, true);
  assert.equal(again.mss, first.mss);
  assert.ok(again.mss > 0);
  assert.equal(h.engine.release(again.hold, 0x11111100), true);
});

test("hold with syncookies=only: SYNs leave no state, a completed flow is held and collects its data until released", () => {
  const h = harness({ syncookies: 'only' }, true);
  h.feed({ sport: 1, cookie: 0x11111100, cookieState: V.made });
  assert.equal(h.engine.cache?.size, 0, 'a SYN leaves nothing');
  assert.equal(h.sent[0].seq, 0x11111100);
  h.feed({ kind: K.ack, sport: 1, seq: 1001, ack: 0x11111101, cookie: 0x11111100, cookieState: V.valid });
  const hs = h.handshakes[0];
  assert.equal(hs.viaCookie, true);
  assert.ok(hs.hold >= 0, 'held');
  // The request right behind the final ACK, in the next batch.
  h.feed({ kind: K.ack, sport: 1, seq: 1001, ack: 0x11111101, cookieState: V.valid, data: [1, 2] });
  assert.equal(h.stat('completed'), 1, 'its data is not another handshake');
  // The flow's SYN again (a retransmit crossing the SYN-ACK) changes nothing and is not answered.
  const sent = h.sent.length;
  h.feed({ sport: 1, cookie: 0x11111100, cookieState: V.made });
  assert.equal(h.sent.length, sent);
  assert.equal(h.stat('dupsyn'), 1);
  assert.deepEqual(h.engine.takeHeldData(hs.hold, 0x11111100)?.data.map((c) => [...c]), [[1, 2]]);
  assert.equal(h.engine.release(hs.hold, 0x11111100), true);
  assert.equal(h.engine.cache?.size, 0);
  // Another flow's SYN still gets its cookie and no entry.
  h.feed({ sport: 2, cookie: 0x22222200, cookieState: V.made });
  assert.equal(h.sent.at(-1)?.seq, 0x22222200);
  assert.equal(h.engine.cache?.size, 0);
});

test('hold: a cookie completion gets a held entry too', () => {
  const h = harness({ syncookies: 'on', hashSize: 1, bucketLimit: 1 }, true);
  h.feed({ sport: 1, cookie: 0x11111100, cookieState: V.made });
  h.feed({ sport: 2, cookie: 0x22222200, cookieState: V.made });
  h.feed({ kind: K.ack, sport: 1, seq: 1001, ack: 0x11111101, cookie: 0x11111100, cookieState: V.valid, data: [7] });
  const hs = h.handshakes[0];
  assert.equal(hs.viaCookie, true);
  assert.ok(hs.hold >= 0);
  h.feed({ kind: K.ack, sport: 1, seq: 1002, ack: 0x11111101, cookieState: V.valid, data: [8] });
  assert.deepEqual(h.engine.takeHeldData(hs.hold, 0x11111100)?.data.map((c) => [...c]), [[7], [8]]);
  assert.equal(h.engine.release(hs.hold, 0x11111100), true);
});

test('hold: a flood never evicts a held entry; a new SYN for its full bucket gets a cookie', () => {
  const h = harness({ syncookies: 'on', hashSize: 1, bucketLimit: 1 }, true);
  h.feed({ sport: 1, cookie: 0x11111100, cookieState: V.made });
  h.feed({ kind: K.ack, sport: 1, seq: 1001, ack: 0x11111101, data: [1] });
  const first = h.handshakes[0];
  h.feed({ sport: 2, cookie: 0x22222200, cookieState: V.made });
  assert.equal(h.sent.at(-1)?.seq, 0x22222200, 'answered with its cookie');
  assert.equal(h.engine.cache?.lastEvicted, -1);
  h.feed({ kind: K.ack, sport: 1, seq: 1002, ack: 0x11111101, data: [3] });
  assert.deepEqual(h.engine.takeHeldData(first.hold, first.iss)?.data.map((c) => [...c]), [[1], [3]], 'the held flow kept all its data');
  // The cookie completes, but no entry is free to hold its data: it is
  // handed over with the final ACK's own.
  h.feed({ kind: K.ack, sport: 2, seq: 1001, ack: 0x22222201, cookie: 0x22222200, cookieState: V.valid, data: [2] });
  assert.equal(h.handshakes[1].hold, -1);
  assert.deepEqual([...(h.handshakes[1].payload ?? [])], [2]);
  assert.equal(h.engine.release(first.hold, first.iss), true);
});

test('hold: an entry that went stale and was reused keeps the new flow\'s data from the old flow\'s socket', () => {
  const h = harness({ syncookies: 'on', hashSize: 1, bucketLimit: 1 }, true);
  h.feed({ sport: 1, cookie: 0x11111100, cookieState: V.made });
  h.feed({ kind: K.ack, sport: 1, seq: 1001, ack: 0x11111101, data: [1] });
  const first = h.handshakes[0];
  h.clock.advance(10_001);
  h.engine.expire();
  assert.equal(h.stat('stale'), 1);
  // The freed entry takes a new flow, which completes and is held in turn.
  h.feed({ sport: 2, cookie: 0x22222200, cookieState: V.made });
  h.feed({ kind: K.ack, sport: 2, seq: 1001, ack: 0x22222201, data: [2] });
  const second = h.handshakes[1];
  assert.equal(second.hold, first.hold, 'the same entry');
  assert.equal(h.engine.takeHeldData(first.hold, first.iss), undefined, 'not the old flow\'s any more');
  assert.equal(h.engine.release(first.hold, first.iss), false);
  assert.deepEqual(h.engine.takeHeldData(second.hold, second.iss)?.data.map((c) => [...c]), [[2]]);
});

test('hold: a duplicate SYN of a flow waiting for its socket changes nothing', () => {
  const h = harness({ syncookies: 'on' }, true);
  h.feed({ cookie: 0x51000000, cookieState: V.made });
  const iss = h.sent[0].seq;
  h.feed({ kind: K.ack, seq: 1001, ack: (iss + 1) >>> 0, data: [1] });
  const sent = h.sent.length;
  h.feed({ seq: 7777, cookie: 0x52000000, cookieState: V.made });
  assert.equal(h.sent.length, sent, 'no SYN-ACK for a completed flow');
  h.feed({ kind: K.ack, seq: 1002, ack: (iss + 1) >>> 0, data: [2] });
  assert.deepEqual(h.engine.takeHeldData(h.handshakes[0].hold, iss)?.data.map((c) => [...c]), [[1], [2]], 'its data still in sequence');
});

test('a SYN without an MSS option: 536 over IPv4, 1220 over IPv6, as the cookie decodes it', () => {
  for (const [peer, local, mss] of [['198.18.0.2', '198.18.0.1', 536], ['2001:db8::2', '2001:db8::1', 1220]] as const) {
    const h = harness({ syncookies: 'off' });
    h.feed({ peer, local, optFlags: 0 });
    h.feed({ kind: K.ack, peer, local, seq: 1001, ack: (h.sent[0].seq + 1) >>> 0, optFlags: 0 });
    assert.equal(h.handshakes[0].mss, mss, peer);
  }
});

test('hold: an entry never released goes stale without sending SYN-ACKs', () => {
  const h = harness({ syncookies: 'off' }, true);
  h.feed({});
  h.feed({ kind: K.ack, seq: 1001, ack: (h.sent[0].seq + 1) >>> 0 });
  const before = h.sent.length;
  h.clock.advance(10_001);
  h.engine.expire();
  assert.equal(h.sent.length, before);
  assert.equal(h.stat('stale'), 1);
  assert.equal(h.engine.cache?.size, 0);
});

test('hold: a flow holds at most the window our SYN-ACK advertised; the rest is dropped and counted (holdoverwindow)', () => {
  const h = harness({ syncookies: 'on', window: 10 }, true);
  h.feed({ cookie: 0x51000000, cookieState: V.made });
  const iss = h.sent[0].seq;
  const ack = (iss + 1) >>> 0;
  h.feed({ kind: K.ack, seq: 1001, ack, data: [1, 2, 3, 4] });
  h.feed({ kind: K.ack, seq: 1005, ack, data: [5, 6, 7, 8] });
  h.feed({ kind: K.ack, seq: 1009, ack, data: [9, 10, 11, 12] }); // straddles the edge: its first 2 bytes kept
  h.feed({ kind: K.ack, seq: 1011, ack, data: [13] }); // wholly past it
  assert.equal(h.stat('holdoverwindow'), 2);
  assert.equal(h.engine.heldBytes, 10);
  const hold = h.handshakes[0].hold;
  assert.deepEqual(h.engine.takeHeldData(hold, iss)?.data.map((c) => [...c]), [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);
  assert.equal(h.engine.heldBytes, 0, 'taken data is no longer counted');
  // The window counts from the start of the stream, across takes.
  h.feed({ kind: K.ack, seq: 1011, ack, data: [13] });
  assert.deepEqual(h.engine.takeHeldData(hold, iss)?.data, []);
  assert.equal(h.stat('holdoverwindow'), 3);
  assert.equal(h.engine.release(hold, iss), true);
});

test('hold: the shard holds at most holdLimit bytes over all flows; past it segments are dropped and counted (holdfull)', () => {
  const h = harness({ syncookies: 'on', holdLimit: 6 }, true);
  const iss: number[] = [];
  for (const sport of [1, 2]) {
    h.feed({ sport, hash: sport, cookie: 0x51000000 + sport * 256, cookieState: V.made });
    iss.push(h.sent.at(-1)!.seq);
  }
  h.feed({ kind: K.ack, sport: 1, hash: 1, seq: 1001, ack: (iss[0] + 1) >>> 0, data: [1, 2, 3, 4] });
  h.feed({ kind: K.ack, sport: 2, hash: 2, seq: 1001, ack: (iss[1] + 1) >>> 0, data: [5, 6] });
  h.feed({ kind: K.ack, sport: 2, hash: 2, seq: 1003, ack: (iss[1] + 1) >>> 0, data: [7] });
  assert.equal(h.stat('holdfull'), 1);
  assert.equal(h.engine.heldBytes, 6);
  const [a, b] = h.handshakes;
  // Releasing a flow frees its bytes for the others.
  assert.equal(h.engine.release(a.hold, a.iss), true);
  assert.equal(h.engine.heldBytes, 2);
  h.feed({ kind: K.ack, sport: 2, hash: 2, seq: 1003, ack: (iss[1] + 1) >>> 0, data: [7] });
  assert.deepEqual(h.engine.takeHeldData(b.hold, b.iss)?.data.map((c) => [...c]), [[5, 6], [7]]);
  // A hold that goes stale frees its bytes too.
  h.feed({ kind: K.ack, sport: 2, hash: 2, seq: 1004, ack: (iss[1] + 1) >>> 0, data: [8, 9] });
  assert.equal(h.engine.heldBytes, 2);
  h.clock.advance(10_001);
  h.engine.expire();
  assert.equal(h.engine.heldBytes, 0);
});

test('hold: a handshake refused (the socket makers\' backlog full) drops what it held and completes again with its data on the retry', () => {
  const h = harness({ syncookies: 'on' }, true);
  h.feed({ cookie: 0x51000000, cookieState: V.made });
  const iss = h.sent[0].seq;
  h.refuse = true;
  h.feed({ kind: K.ack, seq: 1001, ack: (iss + 1) >>> 0, data: [1, 2] });
  assert.equal(h.stat('aborted'), 1);
  assert.equal(h.engine.heldBytes, 0, 'nothing held for a refused handshake');
  h.refuse = false;
  h.feed({ kind: K.ack, seq: 1001, ack: (iss + 1) >>> 0, data: [1, 2] });
  assert.equal(h.stat('completed'), 1);
  const hs = h.handshakes[0];
  assert.deepEqual(h.engine.takeHeldData(hs.hold, iss)?.data.map((c) => [...c]), [[1, 2]]);
  // A cookie completion refused likewise holds nothing (cookies recently
  // needed: a one-entry cache evicted for a second SYN).
  const c = harness({ syncookies: 'on', hashSize: 1, bucketLimit: 1 }, true);
  c.feed({ sport: 5, hash: 5 });
  c.feed({ sport: 6, hash: 6 });
  assert.equal(c.stat('bucketoverflow'), 1);
  c.refuse = true;
  c.feed({ kind: K.ack, sport: 2, hash: 2, seq: 1001, ack: 0x22222201, cookie: 0x22222200, cookieState: V.valid, data: [3] });
  assert.equal(c.stat('aborted'), 1);
  assert.equal(c.engine.heldBytes, 0);
});

test('hold: a held entry goes stale 10 s after its ACK even when its bucket\'s next deadline was later (the timer is not late)', () => {
  // Four duplicate SYNs back the entry's deadline off to 16 s, and a timer
  // run at 1 s raises the bucket's deadline to that; the ACK then holds the
  // entry for 10 s. The bucket's deadline must come down with it, or the
  // timer (armed at nextDeadline()) wakes 5 s late.
  const h = harness({ syncookies: 'off' }, true);
  h.feed({});
  for (let k = 0; k < 4; k++) h.feed({});
  assert.equal(h.stat('dupsyn'), 4);
  const cache = h.engine.cache!;
  h.clock.advance(1000);
  h.engine.expire();
  assert.equal(cache.nextDeadline(), (1_000_000 + 16_000) >>> 0);
  h.feed({ kind: K.ack, seq: 1001, ack: (h.sent[0].seq + 1) >>> 0 });
  assert.equal(h.handshakes.length, 1);
  assert.equal(cache.nextDeadline(), (1_001_000 + 10_000) >>> 0, 'the timer is armed for the hold\'s end');
  cache.checkInvariants();
  h.clock.advance(10_000);
  h.engine.expire();
  assert.equal(h.stat('stale'), 1, 'dropped at 10 s, not at 16 s');
  assert.equal(cache.size, 0);
});
