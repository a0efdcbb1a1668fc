// Building SYN-ACK, RST and ACK frames: every header field and option byte,
// checksums verified by the JS implementation in test/fixtures/frames.ts,
// and RST/ACK parsed back by a pipeline configured as the peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addon } from '../../lib/native/addon.js';
import { writeAddress, formatAddress } from '../../lib/native/address.js';
import { BatchView } from '../../lib/native/batch.js';
import { OUR_MAC, OUR_PORT, OUR_V4, OUR_V6, PEER_MAC, PEER_PORT, PEER_V4, PEER_V6, TCP, addressBytes, onesSum, pseudoHeaderSum } from '../fixtures/frames.js';
import { makePipeline, run } from '../fixtures/wire-harness.js';

const { kinds, optFlags: O } = addon.constants;
const SRC_MAC = new Uint8Array(OUR_MAC);

interface SendRow {
  kind: number; family: 4 | 6; saddr: string; daddr: string; sport: number; dport: number;
  seq: number; ack: number; window: number; optFlags: number; mss?: number; wscale?: number;
  tsval?: number; tsecr?: number; vlan?: number; mac?: number[];
}

function fill(b: BatchView, i: number, r: SendRow): void {
  b.kind[i] = r.kind;
  b.family[i] = r.family;
  writeAddress(r.saddr, b.saddr, i * 4);
  writeAddress(r.daddr, b.daddr, i * 4);
  b.sport[i] = r.sport; b.dport[i] = r.dport; b.seq[i] = r.seq; b.ack[i] = r.ack; b.window[i] = r.window;
  b.optFlags[i] = r.optFlags; b.mss[i] = r.mss ?? 0; b.wscale[i] = r.wscale ?? 0;
  b.tsval[i] = r.tsval ?? 0; b.tsecr[i] = r.tsecr ?? 0; b.vlan[i] = r.vlan ?? 0;
  b.mac.set(r.mac ?? PEER_MAC, i * 6);
}

const pipeline = makePipeline([OUR_V4, OUR_V6], [OUR_PORT]);

function build(rows: SendRow[], capacity = 4096): { frames: Uint8Array[]; built: number; lengths: Uint32Array } {
  const b = new BatchView();
  new Uint8Array(b.buffer).fill(0);
  rows.forEach((r, i) => fill(b, i, r));
  const out = new Uint8Array(capacity);
  const offsets = new Uint32Array(rows.length);
  const lengths = new Uint32Array(rows.length);
  const built = pipeline.build(b.buffer, rows.length, SRC_MAC, out, offsets, lengths);
  const frames = rows.map((_, i) => out.slice(offsets[i], offsets[i] + lengths[i]));
  return { frames, built, lengths };
}

const be16 = (f: Uint8Array, at: number) => (f[at] << 8) | f[at + 1];
const be32 = (f: Uint8Array, at: number) => ((f[at] << 24) | (f[at + 1] << 16) | (f[at + 2] << 8) | f[at + 3]) >>> 0;

/** Checks every header field of `frame` against `r`; returns the TCP option bytes. */
function verify(frame: Uint8Array, r: SendRow, flags: number): number[] {
  assert.deepEqual(Array.from(frame.subarray(0, 6)), r.mac ?? PEER_MAC, 'destination MAC');
  assert.deepEqual(Array.from(frame.subarray(6, 12)), OUR_MAC, 'source MAC');
  let at = 12;
  if (r.vlan) {
    assert.equal(be16(frame, 12), 0x8100);
    assert.equal(be16(frame, 14), r.vlan);
    at += 4;
  }
  assert.equal(be16(frame, at), r.family === 4 ? 0x0800 : 0x86dd);
  const ip = at + 2;
  let l4: number;
  if (r.family === 4) {
    assert.equal(frame[ip], 0x45);
    assert.equal(frame[ip + 1], 0, 'TOS');
    assert.equal(be16(frame, ip + 2), frame.length - ip, 'total length');
    assert.equal(be16(frame, ip + 4), 0, 'id');
    assert.equal(be16(frame, ip + 6), 0x4000, 'DF, no fragment');
    assert.equal(frame[ip + 8], 64, 'TTL');
    assert.equal(frame[ip + 9], 6, 'protocol');
    assert.equal(onesSum(frame.subarray(ip, ip + 20)), 0xffff, 'IPv4 header checksum');
    assert.deepEqual(frame.subarray(ip + 12, ip + 16), addressBytes(r.saddr).bytes);
    assert.deepEqual(frame.subarray(ip + 16, ip + 20), addressBytes(r.daddr).bytes);
    l4 = ip + 20;
  } else {
    assert.equal(be32(frame, ip), 0x60000000, 'version, class, flow label');
    assert.equal(be16(frame, ip + 4), frame.length - ip - 40, 'payload length');
    assert.equal(frame[ip + 6], 6, 'next header');
    assert.equal(frame[ip + 7], 64, 'hop limit');
    assert.deepEqual(frame.subarray(ip + 8, ip + 24), addressBytes(r.saddr).bytes);
    assert.deepEqual(frame.subarray(ip + 24, ip + 40), addressBytes(r.daddr).bytes);
    l4 = ip + 40;
  }
  const segment = frame.subarray(l4);
  assert.equal(onesSum(segment, pseudoHeaderSum(r.saddr, r.daddr, 6, segment.length)), 0xffff, 'TCP checksum');
  assert.equal(be16(segment, 0), r.sport);
  assert.equal(be16(segment, 2), r.dport);
  assert.equal(be32(segment, 4), r.seq);
  assert.equal(be32(segment, 8), flags & TCP.ACK ? r.ack : 0);
  assert.equal((segment[12] >> 4) * 4, segment.length, 'data offset covers the options, no payload');
  assert.equal(segment[12] & 0x0f, 0);
  assert.equal(segment[13], flags, 'flags');
  assert.equal(be16(segment, 14), r.window);
  assert.equal(be16(segment, 18), 0, 'urgent pointer');
  return Array.from(segment.subarray(20));
}

const ts = (v: number, e: number) => [8, 10, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff, e >>> 24, (e >>> 16) & 0xff, (e >>> 8) & 0xff, e & 0xff];
const v4 = { family: 4 as const, saddr: OUR_V4, daddr: PEER_V4, sport: OUR_PORT, dport: PEER_PORT };
const v6 = { family: 6 as const, saddr: OUR_V6, daddr: PEER_V6, sport: OUR_PORT, dport: PEER_PORT };
const synAckAll = { kind: 0, seq: 0xabcdef01, ack: 0x11223345, window: 65160, optFlags: O.mss | O.wscale | O.sackPermitted | O.timestamps,
  mss: 1460, wscale: 7, tsval: 0x10203040, tsecr: 0x01020304 };

test('SYN-ACK options: Linux order, 4-byte aligned, for every option combination', () => {
  const mss = [2, 4, 0x05, 0xb4];
  const cases: [number, number[]][] = [
    [0, []],
    [O.mss, mss],
    [O.mss | O.sackPermitted, [...mss, 1, 1, 4, 2]],
    [O.mss | O.timestamps, [...mss, 1, 1, ...ts(0x10203040, 0x01020304)]],
    [O.mss | O.sackPermitted | O.timestamps, [...mss, 4, 2, ...ts(0x10203040, 0x01020304)]],
    [O.mss | O.wscale, [...mss, 1, 3, 3, 7]],
    [O.mss | O.sackPermitted | O.timestamps | O.wscale, [...mss, 4, 2, ...ts(0x10203040, 0x01020304), 1, 3, 3, 7]],
    [O.sackPermitted | O.wscale, [1, 1, 4, 2, 1, 3, 3, 7]],
  ];
  for (const [optFlags, expected] of cases) {
    for (const base of [v4, v6]) {
      const row = { ...base, ...synAckAll, kind: kinds.synAck, optFlags };
      const { frames, built } = build([row]);
      assert.equal(built, 1);
      assert.deepEqual(verify(frames[0], row, TCP.SYN | TCP.ACK), expected, `optFlags ${optFlags} v${base.family}`);
    }
  }
});

test('SYN-ACK over IPv4 and IPv6 with an 802.1Q tag; the parser verifies its checksums and refuses SYN+ACK', () => {
  const rows = [
    { ...v4, ...synAckAll, kind: kinds.synAck, vlan: 0x2005 },
    { ...v6, ...synAckAll, kind: kinds.synAck, vlan: 12 },
  ];
  const { frames, built, lengths } = build(rows);
  assert.equal(built, 2);
  assert.deepEqual(Array.from(lengths), [18 + 20 + 40, 18 + 40 + 40]);
  rows.forEach((r, i) => verify(frames[i], r, TCP.SYN | TCP.ACK));
  const peer = makePipeline([PEER_V4, PEER_V6], [PEER_PORT]);
  // dropBadFlags comes after both checksums in the parser's order
  assert.deepEqual(run(peer, frames).moved, { rxFrames: 2, dropBadFlags: 2 });
});

test('RST: RST|ACK acking the row ack when it is non-zero, bare RST otherwise; round trip through the parser', () => {
  const rows = [
    { ...v4, kind: kinds.sendRst, seq: 0, ack: 0x9000_0001, window: 0, optFlags: 0 },
    { ...v4, kind: kinds.sendRst, seq: 0x12345678, ack: 0, window: 0, optFlags: 0 },
    { ...v6, kind: kinds.sendRst, seq: 77, ack: 88, window: 0, optFlags: O.timestamps, tsval: 5, tsecr: 6, vlan: 3 },
  ];
  const { frames, built } = build(rows);
  assert.equal(built, 3);
  assert.deepEqual(verify(frames[0], rows[0], TCP.RST | TCP.ACK), []);
  assert.deepEqual(verify(frames[1], rows[1], TCP.RST), []);
  assert.deepEqual(verify(frames[2], rows[2], TCP.RST | TCP.ACK), [1, 1, ...ts(5, 6)]);
  const peer = makePipeline([PEER_V4, PEER_V6], [PEER_PORT]);
  const r = run(peer, frames, [0, 0, 0]);
  assert.deepEqual(r.moved, { rxFrames: 3, parsedRst: 3 });
  assert.equal(r.batch.kind[0], kinds.rst);
  assert.equal(r.batch.ack[0], 0x9000_0001);
  assert.equal(r.batch.seq[1], 0x12345678);
  assert.equal(r.batch.vlan[2], 3);
  assert.equal(r.batch.tsval[2], 5);
  assert.equal(formatAddress(r.batch.saddr, 8, 6), OUR_V6);
  assert.deepEqual(Array.from(r.batch.mac.subarray(0, 6)), OUR_MAC, 'source MAC of the built frame');
});

test('ACK with and without timestamps; round trip through the parser', () => {
  const rows = [
    { ...v4, kind: kinds.sendAck, seq: 1000, ack: 2000, window: 512, optFlags: O.timestamps, tsval: 0xffffffff, tsecr: 1 },
    { ...v6, kind: kinds.sendAck, seq: 3000, ack: 4000, window: 1024, optFlags: O.mss | O.wscale | O.sackPermitted },
  ];
  const { frames, built } = build(rows);
  assert.equal(built, 2);
  assert.deepEqual(verify(frames[0], rows[0], TCP.ACK), [1, 1, ...ts(0xffffffff, 1)]);
  assert.deepEqual(verify(frames[1], rows[1], TCP.ACK), [], 'SYN options are not written on an ACK');
  const peer = makePipeline([PEER_V4, PEER_V6], [PEER_PORT]);
  const r = run(peer, frames);
  assert.deepEqual(r.moved, { rxFrames: 2, parsedAck: 2 });
  assert.equal(r.batch.seq[0], 1000);
  assert.equal(r.batch.ack[0], 2000);
  assert.equal(r.batch.window[0], 512);
  assert.equal(r.batch.optFlags[0], O.timestamps);
  assert.equal(r.batch.tsval[0], 0xffffffff);
  assert.equal(r.batch.sport[1], OUR_PORT);
  assert.equal(r.batch.dport[1], PEER_PORT);
  assert.equal(formatAddress(r.batch.daddr, 4, 6), PEER_V6);
});

test('unbuildable rows: unknown kind or family, or no room, give length 0 and txBadRow', () => {
  const before = pipeline.counters[addon.counterNames.indexOf('txBadRow')];
  const good = { ...v4, kind: kinds.sendAck, seq: 1, ack: 2, window: 3, optFlags: 0 };
  const { lengths, built } = build([
    { ...good, kind: kinds.syn },
    { ...good, kind: kinds.none },
    { ...good, family: 5 as 4 },
    good,
  ]);
  assert.equal(built, 1);
  assert.deepEqual(Array.from(lengths), [0, 0, 0, 54]);
  assert.equal(pipeline.counters[addon.counterNames.indexOf('txBadRow')] - before, 3n);
  const small = build([good, good], 54 + 53);
  assert.equal(small.built, 1);
  assert.deepEqual(Array.from(small.lengths), [54, 0]);
  assert.equal(pipeline.counters[addon.counterNames.indexOf('txBadRow')] - before, 4n);
});

test('process() and build() refuse typed arrays of the wrong element type instead of indexing past them', () => {
  const batch = new BatchView();
  const frames = new Uint8Array(64);
  const wrong = (a: Uint8Array | Uint16Array): Uint32Array => a as unknown as Uint32Array; // what a caller without types may pass
  assert.throws(() => pipeline.process(frames, wrong(new Uint8Array(4)), new Uint32Array(4), 4, batch.buffer), TypeError);
  assert.throws(() => pipeline.process(frames, new Uint32Array(4), wrong(new Uint16Array(4)), 4, batch.buffer), TypeError);
  assert.throws(() => pipeline.process(frames, new Uint32Array(1), new Uint32Array(1), 1, batch.buffer, wrong(new Uint8Array(1)) as unknown as Uint16Array), TypeError);
  assert.throws(() => pipeline.build(batch.buffer, 1, new Uint8Array(6), new Uint8Array(64), wrong(new Uint8Array(1)), new Uint32Array(1)), TypeError);
});
