// The door's program (native/door/door.bpf.c) run by BPF_PROG_TEST_RUN on
// crafted frames, against the userspace path on the same frames: the
// native parser and cookie pass (addon.Pipeline with the same secrets), the
// engine's cookie SYN-ACK (SynEngine, syncookies 'only') and the native
// builder. The cookie ISN, and the whole SYN-ACK frame, must be the same
// bytes for every MSS table entry, window shift, SACK and timestamps
// combination, IPv4 and IPv6, untagged and 802.1Q-tagged; a SYN is
// answered so only from a reply MAC (a gateway's), any other goes to
// userspace; ACKs of those cookies are handed on, forged ones dropped and
// counted; a handed-over flow passes, again after a SYN on its closed
// socket took it out and it was handed over anew (the door's hint of the
// handed-over map counts right through the program's own delete); the malformed
// corpus is dropped under the parser's own counter or left to the path
// that counts it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readFileSync } from 'node:fs';
import { addon } from '../../lib/native/addon.js';
import { Door, doorUnavailableReason } from '../../lib/door/door.js';
import { CookieSecrets } from '../../lib/engine/cookie-secrets.js';
import { COUNTER_NAMES } from '../../lib/engine/stats.js';
import {
  OUR_MAC, OUR_PORT, OUR_V4, OUR_V6, PEER_MAC, PEER_V4, PEER_V6, TCP, fromHex, icmpFrame, opt, quotedSegment, tcpFrame, toHex,
} from '../fixtures/frames.js';
import { corpusPath, type MalformedCorpus } from '../fixtures/make-malformed-frames.js';
import { UserspacePath, be32, tcpAt, tsvalOf } from './userspace-path.js';

const skip = doorUnavailableReason() ?? (process.getuid?.() !== 0 ? 'loading an XDP program needs root' : undefined);
if (skip) console.log(`# skipped: ${skip}`);

const secrets = CookieSecrets.create();
let door: Door;
let xsk = -1;
const door0 = (): Door => door;

if (!skip) {
  door = new Door({ addrs: [OUR_V4, OUR_V6], ports: [OUR_PORT] });
  door.followSecrets(secrets);
  door.setCookieState({ mode: 'only', paused: false, cacheEmpty: true });
  door.setReplyMacs(Uint8Array.from(PEER_MAC)); // the SYNs below come through a gateway
  const native = addon.door;
  if (native.available) {
    xsk = native.openUnboundXdpSocket();
    door.setSocket(0, xsk);
  }
}

after(() => {
  door?.close();
  if (xsk >= 0) closeSync(xsk);
});

function counters(): Record<string, number> {
  return door0().stats();
}

function moved(before: Record<string, number>): Record<string, number> {
  const now = counters();
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(now)) if (value !== before[name]) out[name] = value - before[name];
  return out;
}

interface Syn { family: 4 | 6; vlan?: number; mss?: number; wscale?: number; sack: boolean; timestamps: boolean }

function synFrame(s: Syn, isn: number, sport: number, srcMac = PEER_MAC): Uint8Array {
  const options: number[] = [];
  if (s.mss !== undefined) options.push(...opt.mss(s.mss));
  if (s.sack) options.push(...opt.sackPermitted());
  if (s.timestamps) options.push(...opt.timestamps(0x0badf00d ^ isn, 0));
  if (s.wscale !== undefined) options.push(...opt.nop(), ...opt.wscale(s.wscale));
  return tcpFrame({
    src: s.family === 4 ? PEER_V4 : PEER_V6, dst: s.family === 4 ? OUR_V4 : OUR_V6,
    sport, seq: isn, flags: TCP.SYN, options, vlan: s.vlan, dstMac: OUR_MAC, srcMac,
  });
}

function ackFrame(s: Syn, seq: number, ack: number, sport: number, payload?: number[]): Uint8Array {
  return tcpFrame({
    src: s.family === 4 ? PEER_V4 : PEER_V6, dst: s.family === 4 ? OUR_V4 : OUR_V6,
    sport, seq, ack, flags: TCP.ACK, vlan: s.vlan, payload,
  });
}

// Every kMssTable entry, the values either side of each, none, 0 (none) and
// under Linux's minimum; every kWscaleTable shift, the ones between, and 15
// (treated as 14).
const MSS = [undefined, 0, 50, 215, 216, 535, 536, 1219, 1220, 1359, 1360, 1399, 1400, 1439, 1440, 1459, 1460, 8939, 8940, 65535];
const WSCALE = [undefined, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 15];

test('SYN: the door\'s cookie and SYN-ACK are the userspace path\'s, byte for byte', { skip }, () => {
  const user = new UserspacePath([OUR_V4, OUR_V6], [OUR_PORT], secrets);
  const before = counters();
  let n = 0;
  for (const family of [4, 6] as const) {
    for (const vlan of [undefined, 0x0123]) {
      for (const mss of MSS) {
        for (const wscale of WSCALE) {
          for (const sack of [false, true]) {
            for (const timestamps of [false, true]) {
              const s: Syn = { family, vlan, mss, wscale, sack, timestamps };
              const isn = (0x9e3779b9 * (n + 1)) >>> 0;
              const frame = synFrame(s, isn, 20000 + (n % 40000));
              const what = JSON.stringify(s);
              const d = door0().testRun(frame);
              assert.equal(d.verdict, 'tx', what);
              const ts = tsvalOf(d.frame);
              assert.equal(ts !== undefined, timestamps, `${what}: timestamps offered, timestamps answered`);
              const u = user.answer(frame, ts ?? 0);
              assert.ok(u.synAck, `${what}: the engine answers`);
              assert.equal(be32(d.frame, tcpAt(d.frame) + 4), u.cookie, `${what}: the cookie ISN`);
              assert.equal(toHex(d.frame), toHex(u.synAck), `${what}: the whole SYN-ACK`);
              n++;
            }
          }
        }
      }
    }
  }
  assert.deepEqual(moved(before), { parsedSyn: n, cookiesMade: n, sendcookie: n, synackssent: n });
});

test('SYN: TSval is the owner\'s clock, even', { skip }, () => {
  const tsNow = 0x7654_3210;
  door0().setTimestampClock(tsNow);
  const d = door0().testRun(synFrame({ family: 4, sack: true, timestamps: true, mss: 1460, wscale: 7 }, 1, 40000));
  const ts = tsvalOf(d.frame) as number;
  assert.equal(ts & 1, 0, 'bit 0 clear');
  assert.ok(((ts - tsNow) >>> 0) <= 1000, `TSval ${ts} within a second of ${tsNow}`);
});

// An on-link host (or one spoofing an off-link address from the segment),
// and a second gateway.
const HOST_MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0x09];
const OTHER_GATEWAY_MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0xfe];
const macs = (...list: number[][]): Uint8Array => Uint8Array.from(list.flat());

test('SYN: answered in the driver only from a reply MAC; from any other it goes to userspace, counted', { skip }, () => {
  const cases: Syn[] = [
    { family: 4, sack: true, timestamps: true, mss: 1460, wscale: 7 },
    { family: 6, sack: false, timestamps: false },
    { family: 4, vlan: 7, sack: true, timestamps: false },
  ];
  try {
    for (const s of cases) {
      const what = JSON.stringify(s);
      assert.equal(door0().testRun(synFrame(s, 1, 46000)).verdict, 'tx', `${what}: from the gateway`);
      const fromHost = synFrame(s, 2, 46001, HOST_MAC);
      const before = counters();
      const d = door0().testRun(fromHost);
      assert.equal(d.verdict, 'redirect', `${what}: from an on-link host`);
      assert.equal(toHex(d.frame), toHex(fromHost), `${what}: handed on untouched`);
      assert.deepEqual(moved(before), { doorSynNotViaGateway: 1, doorRedirected: 1 }, what);
    }
    // The set is replaced, not added to.
    door0().setReplyMacs(macs(OTHER_GATEWAY_MAC));
    assert.equal(door0().testRun(synFrame(cases[0], 3, 46002)).verdict, 'redirect', 'the old gateway is no reply MAC now');
    assert.equal(door0().testRun(synFrame(cases[0], 4, 46003, OTHER_GATEWAY_MAC)).verdict, 'tx', 'the new one is');
    door0().setReplyMacs(macs(PEER_MAC, OTHER_GATEWAY_MAC, PEER_MAC));
    for (const mac of [PEER_MAC, OTHER_GATEWAY_MAC]) {
      assert.equal(door0().testRun(synFrame(cases[1], 5, 46004, mac)).verdict, 'tx', `both gateways: ${mac}`);
    }
    // No gateway known (none resolved yet): no SYN is answered in the driver.
    door0().setReplyMacs(new Uint8Array(0));
    const before = counters();
    for (const s of cases) {
      for (const mac of [PEER_MAC, OTHER_GATEWAY_MAC, HOST_MAC]) {
        assert.equal(door0().testRun(synFrame(s, 6, 46005, mac)).verdict, 'redirect', `${JSON.stringify(s)} from ${mac}, no reply MACs`);
      }
    }
    assert.deepEqual(moved(before), { doorSynNotViaGateway: 9, doorRedirected: 9 });
  } finally {
    door0().setReplyMacs(macs(PEER_MAC));
  }
});

test('SYN: without a socket on the rx queue, one from no reply MAC passes to the kernel', { skip }, () => {
  door0().clearSocket(0);
  try {
    const before = counters();
    assert.equal(door0().testRun(synFrame({ family: 4, sack: false, timestamps: false }, 7, 46006, HOST_MAC)).verdict, 'pass');
    assert.deepEqual(moved(before), { doorSynNotViaGateway: 1, doorNoSocket: 1 });
  } finally {
    door0().setSocket(0, xsk);
  }
});

test('setReplyMacs() takes 6 bytes a MAC, at most replyMacsMax distinct ones', { skip }, () => {
  assert.throws(() => door0().setReplyMacs(new Uint8Array(5)), TypeError);
  assert.throws(() => door0().setReplyMacs([1, 2, 3, 4, 5, 6] as unknown as Uint8Array), TypeError);
  const native = addon.door;
  assert.ok(native.available);
  const many = new Uint8Array((native.replyMacsMax + 1) * 6);
  for (let i = 0; i <= native.replyMacsMax; i++) many.set([0x02, 0, 0, 0, i >> 8, i & 0xff], i * 6);
  assert.throws(() => door0().setReplyMacs(many), RangeError);
  const syn = synFrame({ family: 4, sack: false, timestamps: false }, 8, 46007, HOST_MAC);
  door0().setReplyMacs(many.subarray(6)); // exactly replyMacsMax, HOST_MAC among them
  assert.equal(door0().testRun(syn).verdict, 'tx');
  door0().setReplyMacs(macs(PEER_MAC));
  assert.equal(door0().testRun(syn).verdict, 'redirect', 'the set is what was last given');
});

test('ACK: a cookie\'s ACK goes on to userspace, a forged one is dropped and counted', { skip }, () => {
  const cases: Syn[] = [
    { family: 4, sack: true, timestamps: true, mss: 1460, wscale: 7 },
    { family: 6, sack: false, timestamps: false },
    { family: 4, vlan: 7, sack: true, timestamps: false, mss: 536, wscale: 14 },
  ];
  let sport = 30000;
  for (const s of cases) {
    const isn = 0x12345678 + sport;
    sport++;
    const synAck = door0().testRun(synFrame(s, isn, sport)).frame;
    const cookie = be32(synAck, tcpAt(synAck) + 4);
    const what = JSON.stringify(s);

    let before = counters();
    const forged = door0().testRun(ackFrame(s, isn + 1, ((cookie ^ 0x100) + 1) >>> 0, sport));
    assert.equal(forged.verdict, 'drop', `${what}: forged MAC`);
    assert.deepEqual(moved(before), { parsedAck: 1, cookiesChecked: 1, cookiesInvalid: 1, failcookie: 1 });
    before = counters();
    const wrongIsn = door0().testRun(ackFrame(s, isn + 2, (cookie + 1) >>> 0, sport));
    assert.equal(wrongIsn.verdict, 'drop', `${what}: the ACK's seq is not ISN+1`);
    assert.equal(moved(before).failcookie, 1);

    before = counters();
    const valid = door0().testRun(ackFrame(s, isn + 1, (cookie + 1) >>> 0, sport));
    assert.equal(valid.verdict, 'redirect', `${what}: valid cookie`);
    assert.deepEqual(moved(before), { doorRedirected: 1 });
    // The data behind it (seq moved on) follows the admitted flow, not the MAC.
    const data = door0().testRun(ackFrame(s, isn + 1 + 100, (cookie + 1) >>> 0, sport, [1, 2, 3]));
    assert.equal(data.verdict, 'redirect', `${what}: data behind the cookie ACK`);
    // Handed over, and its socket closed since: a later segment of the
    // 4-tuple is checked again.
    const flow = {
      family: s.family, localAddress: s.family === 4 ? OUR_V4 : OUR_V6, localPort: OUR_PORT,
      remoteAddress: s.family === 4 ? PEER_V4 : PEER_V6, remotePort: sport,
    };
    door0().handOver(flow, isn);
    assert.equal(door0().takeBack(flow), true);
    assert.equal(door0().testRun(ackFrame(s, isn + 1 + 100, (cookie + 1) >>> 0, sport, [1, 2, 3])).verdict, 'drop',
      `${what}: the admission went with the handover`);
  }
});

test('ACK: a cookie of the other slot checks while it lives; an invalid slot refuses', { skip }, () => {
  const s: Syn = { family: 4, sack: false, timestamps: false, mss: 1460 };
  const isn = 0x0a0b0c0d;
  const synAck = door0().testRun(synFrame(s, isn, 45000)).frame;
  const cookie = be32(synAck, tcpAt(synAck) + 4);
  secrets.rotate();
  door0().followSecrets(secrets);
  assert.equal(door0().testRun(ackFrame(s, isn + 1, cookie + 1, 45000)).verdict, 'redirect', 'one rotation later');
  secrets.rotate();
  door0().followSecrets(secrets);
  assert.equal(door0().testRun(ackFrame(s, isn + 1, cookie + 1, 45001)).verdict, 'drop', 'two rotations later');
});

test('without a socket on the rx queue, what is handed on passes to the kernel', { skip }, () => {
  door0().clearSocket(0);
  try {
    const before = counters();
    const rst = tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.RST, seq: 5 });
    assert.equal(door0().testRun(rst).verdict, 'pass');
    assert.deepEqual(moved(before), { doorNoSocket: 1 });
  } finally {
    door0().setSocket(0, xsk);
  }
});

test('not ours, and a handed-over flow, pass untouched; a SYN while cookies are not the door\'s goes on', { skip }, () => {
  const before = counters();
  const otherPort = tcpFrame({ src: PEER_V4, dst: OUR_V4, dport: 22, flags: TCP.SYN });
  const otherAddress = tcpFrame({ src: PEER_V4, dst: '198.18.0.9', flags: TCP.SYN });
  for (const f of [otherPort, otherAddress]) {
    const d = door0().testRun(f);
    assert.equal(d.verdict, 'pass');
    assert.equal(toHex(d.frame), toHex(f), 'untouched');
  }
  assert.deepEqual(moved(before), {});

  const flow = { family: 4 as const, localAddress: OUR_V4, localPort: OUR_PORT, remoteAddress: PEER_V4, remotePort: 41000 };
  door0().handOver(flow, 99);
  const seg = tcpFrame({ src: PEER_V4, dst: OUR_V4, sport: 41000, flags: TCP.ACK, seq: 100, ack: 5 });
  assert.equal(door0().testRun(seg).verdict, 'pass');
  assert.deepEqual(moved(before), { skippedHandedOver: 1 });
  assert.equal(door0().takeBack(flow), true);
  assert.equal(door0().takeBack(flow), false);

  door0().setCookieState({ mode: 'on', paused: false, cacheEmpty: true });
  try {
    assert.equal(door0().testRun(synFrame({ family: 6, sack: true, timestamps: true }, 7, 41001)).verdict, 'redirect');
  } finally {
    door0().setCookieState({ mode: 'only', paused: false, cacheEmpty: true });
  }
});

test("a handed-over flow's segments pass and move what its peer sent (RFC 6191's inputs): a SYN on it passes while its socket is open; once it closed, goes up unanswered and takes the flow out", { skip }, () => {
  for (const v6 of [false, true]) {
    const us = v6 ? OUR_V6 : OUR_V4;
    const peer = v6 ? PEER_V6 : PEER_V4;
    const flow = { family: v6 ? 6 as const : 4 as const, localAddress: us, localPort: OUR_PORT, remoteAddress: peer, remotePort: 41100 };
    const isn = 0xfffffff0; // the sequence wraps on the way
    door0().handOver(flow, isn);
    const seg = (flags: number, seq: number, o: { tsval?: number; payload?: number } = {}): Uint8Array => tcpFrame({
      src: peer, dst: us, sport: 41100, flags, seq, ack: 5,
      options: o.tsval === undefined ? [] : [1, 1, 8, 10, o.tsval >>> 24, (o.tsval >>> 16) & 0xff, (o.tsval >>> 8) & 0xff, o.tsval & 0xff, 0, 0, 0, 0],
      payload: o.payload === undefined ? undefined : new Array<number>(o.payload).fill(0x61),
    });
    const before = counters();
    const sent = [
      seg(TCP.ACK, isn + 1, { tsval: 1000, payload: 100 }),
      seg(TCP.ACK | TCP.FIN, (isn + 101) >>> 0, { tsval: 1010 }),
      seg(TCP.ACK, (isn + 102) >>> 0, { tsval: 900 }), // an older timestamp: not taken in
      seg(TCP.ACK, (isn + 2 ** 24) >>> 0, { tsval: 5000 }), // far out of the window: not taken in
      seg(TCP.SYN, 7), // a SYN while its socket is open: the socket's
    ];
    for (const f of sent) assert.equal(door0().testRun(f).verdict, 'pass');
    assert.deepEqual(moved(before), { skippedHandedOver: 4, synOnLiveFlow: 1 });
    const seen = new Uint32Array(3);
    assert.equal(door0().flowClosed(flow, seen), true);
    assert.deepEqual([...seen], [(isn + 102) >>> 0, 1010, 1], 'sequence end past the FIN, newest timestamp, timestamps seen');
    // Closed: the stragglers still pass; a SYN goes up, unanswered even
    // while the door answers SYNs (userspace decides the reopen), and takes
    // the flow out (userspace puts it back if it refuses the SYN).
    assert.equal(door0().testRun(seg(TCP.ACK | TCP.FIN, (isn + 101) >>> 0, { tsval: 1010 })).verdict, 'pass');
    assert.equal(door0().testRun(seg(TCP.SYN, 9)).verdict, 'redirect');
    assert.equal(door0().takeBack(flow), false);
  }
});

test('a SYN after a handed-over socket closed takes the flow out; handed over again, it passes again', { skip }, () => {
  const flow = { family: 4 as const, localAddress: OUR_V4, localPort: OUR_PORT, remoteAddress: PEER_V4, remotePort: 41500 };
  const ack = tcpFrame({ src: PEER_V4, dst: OUR_V4, sport: 41500, flags: TCP.ACK, seq: 100, ack: 5 });
  const syn = synFrame({ family: 4, sack: true, timestamps: true }, 0x51, 41500);
  for (let round = 0; round < 2; round++) {
    door0().handOver(flow, 99);
    door0().handOver(flow, 99); // again: still one entry, counted once
    assert.equal(door0().testRun(ack).verdict, 'pass', `round ${round}: handed over`);
    door0().flowClosed(flow);
    assert.equal(door0().testRun(ack).verdict, 'pass', `round ${round}: a straggler to the TIME_WAIT socket`);
    assert.notEqual(door0().testRun(syn).verdict, 'pass', `round ${round}: a SYN on the closed flow is not the TIME_WAIT socket's`);
    assert.equal(door0().takeBack(flow), false, `round ${round}: the SYN took it out`);
    assert.equal(door0().testRun(ack).verdict, 'drop', `round ${round}: no longer handed over: a forged cookie ACK`);
  }
  door0().handOver(flow, 99);
  assert.equal(door0().takeBack(flow), true);
  assert.notEqual(door0().testRun(ack).verdict, 'pass', 'taken back');
});

test('an ICMP unreachable quoting our segment goes on; one about a handed-over flow passes', { skip }, () => {
  for (const v6 of [false, true]) {
    const us = v6 ? OUR_V6 : OUR_V4;
    const peer = v6 ? PEER_V6 : PEER_V4;
    const router = v6 ? '2001:db8:9::1' : '198.19.9.1';
    const frame = (dport: number): Uint8Array =>
      icmpFrame(router, us, v6 ? 1 : 3, v6 ? 3 : 1, quotedSegment(us, peer, 0x11111111, 20, { dport }));
    let before = counters();
    assert.equal(door0().testRun(frame(43000)).verdict, 'redirect', `${v6 ? 'ICMPv6' : 'ICMP'} unreachable`);
    assert.deepEqual(moved(before), { doorRedirected: 1 });
    const flow = { family: v6 ? 6 as const : 4 as const, localAddress: us, localPort: OUR_PORT, remoteAddress: peer, remotePort: 43001 };
    door0().handOver(flow, 1);
    before = counters();
    assert.equal(door0().testRun(frame(43001)).verdict, 'pass', 'about a kernel socket\'s flow');
    assert.deepEqual(moved(before), { skippedHandedOver: 1 });
    door0().takeBack(flow);
  }
});

test('malformed corpus: dropped under the parser\'s own counter, or left to the kernel or userspace', { skip }, () => {
  const corpus = JSON.parse(readFileSync(corpusPath, 'utf8')) as MalformedCorpus;
  // Frames the door cannot show to be ours (no readable destination port on
  // our address) stay the kernel's; RSTs and ICMP go to userspace, which
  // parses them and counts what it finds. BPF_PROG_TEST_RUN takes no frame
  // shorter than an Ethernet header.
  const dropped: string[] = [];
  for (const f of corpus.frames.filter((c) => c.hex.length >= 28)) {
    const before = counters();
    const d = door0().testRun(fromHex(f.hex));
    const m = moved(before);
    if (d.verdict === 'drop') {
      assert.deepEqual(m, { [f.counter]: 1 }, `${f.name}: door dropped it under ${JSON.stringify(m)}`);
      dropped.push(f.counter);
    } else {
      assert.ok(d.verdict === 'pass' || d.verdict === 'redirect', `${f.name}: ${d.verdict}`);
    }
  }
  for (const reason of ['dropBadIpLength', 'dropBadIpChecksum', 'dropFragment', 'dropBadSource', 'dropTruncatedTcp',
    'dropBadDataOffset', 'dropBadTcpChecksum', 'dropBadFlags', 'dropBadOptionLength']) {
    assert.ok(dropped.includes(reason), `the door drops some corpus frame under ${reason}`);
  }
});

test('the door counts under today\'s names; only what the door alone does is door*', () => {
  if (!addon.door.available) return;
  for (const name of addon.door.counterNames) {
    assert.ok(name.startsWith('door') || COUNTER_NAMES.includes(name), `${name} is one of lib/engine/stats.ts's names`);
  }
});

test('the loaded program: its size and the verifier\'s work', { skip }, () => {
  const info = door0().info();
  console.log(`# door program: ${info.xlatedInsns} instructions, ${info.jitedBytes} bytes JITed, verifier walked ${info.verifiedInsns}`);
  assert.ok(info.xlatedInsns > 0 && info.verifiedInsns > 0);
});
