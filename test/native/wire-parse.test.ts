// Well-formed frames through the parser: every field of every row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addon } from '../../lib/native/addon.js';
import { formatAddress } from '../../lib/native/address.js';
import type { BatchView } from '../../lib/native/batch.js';
import {
  OUR_PORT, OUR_V4, OUR_V6, PEER_MAC, PEER_PORT, PEER_V4, PEER_V6, TCP, concat, icmpFrame,
  linuxSynOptions, opt, quotedSegment, tcpFrame,
} from '../fixtures/frames.js';
import { makePipeline, run } from '../fixtures/wire-harness.js';

const { kinds, optFlags: O, cookieVerdicts } = addon.constants;
const ALL_OPTS = O.mss | O.wscale | O.sackPermitted | O.timestamps;

interface Row {
  kind: number; family: 4 | 6; saddr: string; daddr: string; sport: number; dport: number;
  seq: number; ack: number; window: number; tcpFlags: number; payloadLength: number;
  optFlags: number; mss: number; wscale: number; tsval: number; tsecr: number;
  vlan: number; mac: number[];
}

function readRow(b: BatchView, i: number): Row & { time: number; cookieState: number } {
  const family = b.family[i] as 4 | 6;
  return {
    kind: b.kind[i], family, saddr: formatAddress(b.saddr, i * 4, family), daddr: formatAddress(b.daddr, i * 4, family),
    sport: b.sport[i], dport: b.dport[i], seq: b.seq[i], ack: b.ack[i], window: b.window[i], tcpFlags: b.tcpFlags[i],
    payloadLength: b.payloadLength[i], optFlags: b.optFlags[i], mss: b.mss[i], wscale: b.wscale[i],
    tsval: b.tsval[i], tsecr: b.tsecr[i], vlan: b.vlan[i], mac: Array.from(b.mac.subarray(i * 6, i * 6 + 6)),
    time: b.time[i], cookieState: b.cookieState[i],
  };
}

function expectRow(b: BatchView, i: number, expected: Row): void {
  assert.deepEqual(readRow(b, i), { ...expected, time: 0, cookieState: cookieVerdicts.notChecked });
  if (expected.family === 4) {
    for (let w = 1; w < 4; w++) {
      assert.equal(b.saddr[i * 4 + w], 0, `saddr word ${w}`);
      assert.equal(b.daddr[i * 4 + w], 0, `daddr word ${w}`);
    }
  }
}

const pipeline = makePipeline([OUR_V4, OUR_V6], [OUR_PORT, 443]);

const base4 = { family: 4 as const, saddr: PEER_V4, daddr: OUR_V4, sport: PEER_PORT, dport: OUR_PORT, seq: 0x11223344, ack: 0, window: 64240, payloadLength: 0, vlan: 0, mac: PEER_MAC };
const base6 = { ...base4, family: 6 as const, saddr: PEER_V6, daddr: OUR_V6 };
const linuxOpts = { optFlags: ALL_OPTS, mss: 1460, wscale: 7, tsval: 0x01020304, tsecr: 0 };
const noOpts = { optFlags: 0, mss: 0, wscale: 0, tsval: 0, tsecr: 0 };

function one(frame: Uint8Array, vlans?: number[]) {
  const r = run(pipeline, [frame], vlans);
  assert.equal(r.parseEvents, 1, `exactly one parse counter: ${JSON.stringify(r.moved)}`);
  return r;
}

test('IPv4 SYN with Linux options', () => {
  const r = one(tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN, options: linuxSynOptions() }));
  assert.equal(r.rows, 1);
  assert.equal(r.moved.parsedSyn, 1);
  expectRow(r.batch, 0, { ...base4, ...linuxOpts, kind: kinds.syn, tcpFlags: TCP.SYN });
});

test('IPv4 with IP options; SYN with ECE|CWR and no TCP options; Ethernet padding ignored', () => {
  const frame = concat(tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN | TCP.ECE | TCP.CWR, ipv4: { options: [1, 1, 1, 0] }, window: 1024 }), new Uint8Array(6));
  const r = one(frame);
  assert.equal(r.moved.parsedSyn, 1);
  expectRow(r.batch, 0, { ...base4, ...noOpts, window: 1024, kind: kinds.syn, tcpFlags: TCP.SYN | TCP.ECE | TCP.CWR });
});

test('IPv4 ACK with FIN, data and timestamps', () => {
  const r = one(tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.ACK | TCP.PSH | TCP.FIN, seq: 7, ack: 0xfffffff0, window: 502,
    options: [...opt.nop(), ...opt.nop(), ...opt.timestamps(0xdeadbeef, 0x0badf00d)], payload: [1, 2, 3, 4, 5] }));
  assert.equal(r.moved.parsedAck, 1);
  expectRow(r.batch, 0, { ...base4, seq: 7, ack: 0xfffffff0, window: 502, payloadLength: 5, kind: kinds.ack, tcpFlags: TCP.ACK | TCP.PSH | TCP.FIN,
    optFlags: O.timestamps, mss: 0, wscale: 0, tsval: 0xdeadbeef, tsecr: 0x0badf00d });
});

test('IPv4 RST and RST|ACK', () => {
  const r = run(pipeline, [
    tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.RST, seq: 99, window: 0 }),
    tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.RST | TCP.ACK, seq: 100, ack: 5, window: 0, dport: 443 }),
  ]);
  assert.equal(r.rows, 2);
  assert.deepEqual(r.moved, { rxFrames: 2, parsedRst: 2 });
  expectRow(r.batch, 0, { ...base4, ...noOpts, seq: 99, window: 0, kind: kinds.rst, tcpFlags: TCP.RST });
  expectRow(r.batch, 1, { ...base4, ...noOpts, seq: 100, ack: 5, dport: 443, window: 0, kind: kinds.rst, tcpFlags: TCP.RST | TCP.ACK });
});

test('IPv6 SYN, ACK with data and RST', () => {
  const r = run(pipeline, [
    tcpFrame({ src: PEER_V6, dst: OUR_V6, flags: TCP.SYN, options: linuxSynOptions() }),
    tcpFrame({ src: PEER_V6, dst: OUR_V6, flags: TCP.ACK, ack: 1234, payload: new Array(100).fill(7) }),
    tcpFrame({ src: PEER_V6, dst: OUR_V6, flags: TCP.RST, window: 0 }),
  ]);
  assert.equal(r.rows, 3);
  assert.deepEqual(r.moved, { rxFrames: 3, parsedSyn: 1, parsedAck: 1, parsedRst: 1 });
  expectRow(r.batch, 0, { ...base6, ...linuxOpts, kind: kinds.syn, tcpFlags: TCP.SYN });
  expectRow(r.batch, 1, { ...base6, ...noOpts, ack: 1234, payloadLength: 100, kind: kinds.ack, tcpFlags: TCP.ACK });
  expectRow(r.batch, 2, { ...base6, ...noOpts, window: 0, kind: kinds.rst, tcpFlags: TCP.RST });
});

test('IPv6 SYN behind hop-by-hop, routing (segments left 0) and destination options', () => {
  const r = one(tcpFrame({ src: PEER_V6, dst: OUR_V6, flags: TCP.SYN, options: linuxSynOptions(1220, 77, 14),
    ext: [{ type: 0, body: [1, 4, 0, 0, 0, 0] }, { type: 43, body: [4, 0, 0, 0, 0, 0, ...new Array(16).fill(0)] }, { type: 60, body: new Array(14).fill(0) }] }));
  assert.equal(r.moved.parsedSyn, 1);
  expectRow(r.batch, 0, { ...base6, optFlags: ALL_OPTS, mss: 1220, wscale: 14, tsval: 77, tsecr: 0, kind: kinds.syn, tcpFlags: TCP.SYN });
});

test('802.1Q tag in the frame and from the ring', () => {
  const r = run(pipeline, [
    tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN, options: linuxSynOptions(), vlan: 0x2005 }),
    tcpFrame({ src: PEER_V6, dst: OUR_V6, flags: TCP.SYN, options: linuxSynOptions(), vlan: 0x0fff }),
    tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.ACK, ack: 1 }),
    // the ring already took one tag off: a second one is QinQ, which we do not handle
    tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.ACK, ack: 1, vlan: 7 }),
  ], [0, 0, 42, 42]);
  assert.equal(r.rows, 3);
  assert.deepEqual(r.moved, { rxFrames: 4, parsedSyn: 2, parsedAck: 1, dropNotIp: 1 });
  expectRow(r.batch, 0, { ...base4, ...linuxOpts, vlan: 0x2005, kind: kinds.syn, tcpFlags: TCP.SYN });
  expectRow(r.batch, 1, { ...base6, ...linuxOpts, vlan: 0x0fff, kind: kinds.syn, tcpFlags: TCP.SYN });
  expectRow(r.batch, 2, { ...base4, ...noOpts, ack: 1, vlan: 42, kind: kinds.ack, tcpFlags: TCP.ACK });
});

test('options: wscale above 14 is clamped, wrong-length and unknown options are skipped, EOL ends the list', () => {
  const r = run(pipeline, [
    tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN, options: [...opt.wscale(15), ...opt.nop(), 2, 3, 5, 30, 4, 1, 2, 2, 4, 0x05, 0xb4] }),
    tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN, options: [...opt.sackPermitted(), ...opt.eol(), 2, 4, 0x05, 0xb4, 0xff] }),
  ]);
  assert.equal(r.rows, 2);
  expectRow(r.batch, 0, { ...base4, optFlags: O.wscale | O.mss, mss: 1460, wscale: 14, tsval: 0, tsecr: 0, kind: kinds.syn, tcpFlags: TCP.SYN });
  expectRow(r.batch, 1, { ...base4, ...noOpts, optFlags: O.sackPermitted, kind: kinds.syn, tcpFlags: TCP.SYN });
});

test('ICMP and ICMPv6 unreachable quoting our SYN-ACK: the flow turned around', () => {
  const router4 = '198.19.255.1';
  const router6 = '2001:db8:ff::1';
  const routerMac = [0x02, 0, 0, 0, 0, 0xfe];
  const r = run(pipeline, [
    icmpFrame(router4, OUR_V4, 3, 1, quotedSegment(OUR_V4, PEER_V4, 0xcafe0001, 8), { srcMac: routerMac }),
    icmpFrame(router6, OUR_V6, 1, 3, quotedSegment(OUR_V6, PEER_V6, 0xcafe0002, 20), { srcMac: routerMac, vlan: 9 }),
  ]);
  assert.equal(r.rows, 2);
  assert.deepEqual(r.moved, { rxFrames: 2, parsedUnreach: 2 });
  const u = { ...noOpts, window: 0, tcpFlags: 0, payloadLength: 0, kind: kinds.unreach, mac: routerMac };
  expectRow(r.batch, 0, { ...base4, ...u, seq: 0xcafe0001, ack: 0 });
  expectRow(r.batch, 1, { ...base6, ...u, seq: 0xcafe0002, ack: 0x01020304, vlan: 9 });
});

test('dropped frames take no row; accepted rows are packed', () => {
  const good = tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN, seq: 1 });
  const bad = tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN | TCP.FIN, seq: 2 });
  const good2 = tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN, seq: 3 });
  const r = run(pipeline, [good, bad, bad, good2]);
  assert.equal(r.rows, 2);
  assert.deepEqual(r.moved, { rxFrames: 4, parsedSyn: 2, dropBadFlags: 2 });
  assert.equal(r.batch.seq[0], 1);
  assert.equal(r.batch.seq[1], 3);
});
