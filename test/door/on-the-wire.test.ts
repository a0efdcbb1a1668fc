// The door on a veth in a pair lab (198.18.60.0/24, 2001:db8:3c::/64): a
// SYN that scapy sends from the peer gets the userspace path's cookie
// SYN-ACK back over the wire (XDP_TX) while the peer's MAC is a reply MAC
// (the peer stands for the gateway a flood comes through), and is not
// answered by the door once it is not; a ping to the responder passes; a
// malformed segment and a forged cookie ACK are dropped before the
// responder's kernel sees them (its own counters stay still, where a valid
// cookie ACK reaches it); and the program leaves the interface with the
// process that owns it, kill -9 included.
//
// veth delivers a frame sent back with XDP_TX only when its peer has NAPI
// on. On this kernel (6.18) GRO on the peer is not enough: veth takes the
// frame (xdp_tx counted, no xdp_tx_errors) but it never reaches the peer's
// stack; an XDP program on the peer is. So the peer's veth gets the door
// too, answering for an address nothing uses: it passes every frame.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPairLab, type PairLab } from '../../lib/lab/netns.js';
import { Door, doorUnavailableReason } from '../../lib/door/door.js';
import { CookieSecrets } from '../../lib/engine/cookie-secrets.js';
import { TCP, linuxSynOptions, tcpFrame, toHex, fromHex } from '../fixtures/frames.js';
import { track } from '../helpers/children.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';
import { UserspacePath, be32, tcpAt, tsvalOf } from './userspace-path.js';

const skip = craftedFramesUnavailableReason() ?? doorUnavailableReason();
if (skip) console.log(`# skipped: ${skip}`);
const PORT = 80;
let pair: PairLab;
let door: Door;
let peerDoor: Door;
const secrets = CookieSecrets.create();
let ourMac: number[];
let peerMac: number[];

before(() => {
  if (skip) return;
  pair = createPairLab('door', 60);
  ourMac = Array.from(pair.responder.macOf(pair.responderIface));
  peerMac = Array.from(pair.peer.macOf(pair.peerIface));
  door = new Door({ addrs: [pair.responderV4, pair.responderV6], ports: [PORT] });
  door.followSecrets(secrets);
  door.setCookieState({ mode: 'only', paused: false, cacheEmpty: true });
  door.setReplyMacs(Uint8Array.from(peerMac));
  door.attach(pair.responderIface, pair.responder.path);
  peerDoor = new Door({ addrs: ['198.18.60.99'], ports: [9] });
  peerDoor.attach(pair.peerIface, pair.peer.path);
});
after(() => {
  door?.close();
  peerDoor?.close();
  pair?.lab.destroy();
});

// Sends each frame (hex) on the interface as it is, and prints every frame
// from port 80 seen within `wait` seconds after the last (or once `expect`
// have come), as hex lines.
const SCAPY = `
import json, sys, time
from scapy.all import AsyncSniffer, sendp, conf, raw
conf.verb = 0
a = json.loads(sys.argv[1])
seen = []
sniffer = AsyncSniffer(iface=a['iface'], filter='tcp and src port 80', prn=seen.append, store=False)
sniffer.start()
time.sleep(0.3)
for f in a['frames']:
    sendp(bytes.fromhex(f), iface=a['iface'])
end = time.time() + a['wait']
while time.time() < end and len(seen) < a['expect']:
    time.sleep(0.02)
sniffer.stop()
for p in seen:
    print(raw(p).hex())
`;

function fromPeer(frames: Uint8Array[], expect: number, wait = 5): Promise<Uint8Array[]> {
  const input = JSON.stringify({ iface: pair.peerIface, frames: frames.map(toHex), expect, wait });
  const child = track(spawn(...pair.peer.wrap(PYTHON, ['-c', SCAPY, input]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.split('\n').filter((l) => l.length > 0).map(fromHex))));
}

async function waitFor(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The responder kernel's own SNMP counters (nstat), by name. */
function kernelCounters(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of pair.responder.exec('nstat', ['-asz']).split('\n')) {
    const m = /^(\S+)\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

function syn(v6: boolean, sport: number, isn: number): Uint8Array {
  return tcpFrame({
    src: v6 ? pair.peerV6 : pair.peerV4, dst: v6 ? pair.responderV6 : pair.responderV4, sport, dport: PORT, seq: isn,
    flags: TCP.SYN, options: linuxSynOptions(1460, 0x01020304 + sport, 7), dstMac: ourMac, srcMac: peerMac,
  });
}

function ack(v6: boolean, sport: number, seq: number, ackNumber: number): Uint8Array {
  return tcpFrame({
    src: v6 ? pair.peerV6 : pair.peerV4, dst: v6 ? pair.responderV6 : pair.responderV4, sport, dport: PORT, seq, ack: ackNumber,
    flags: TCP.ACK, dstMac: ourMac, srcMac: peerMac,
  });
}

for (const v6 of [false, true]) {
  test(`${v6 ? 'IPv6' : 'IPv4'}: a SYN from the peer gets the cookie SYN-ACK over the wire`, { skip, timeout: 60_000 }, async () => {
    const sport = v6 ? 41006 : 41004;
    const isn = 0x51c0ffee;
    const frame = syn(v6, sport, isn);
    const [reply] = await fromPeer([frame], 1);
    assert.ok(reply, 'a SYN-ACK came back');
    const t = tcpAt(reply);
    assert.equal(reply[t + 13], TCP.SYN | TCP.ACK);
    assert.equal(be32(reply, t + 8), (isn + 1) >>> 0, 'acks the ISN');
    const expected = new UserspacePath([pair.responderV4, pair.responderV6], [PORT], secrets).answer(frame, tsvalOf(reply) ?? 0);
    assert.equal(be32(reply, t + 4), expected.cookie, 'the cookie the userspace path makes');
    assert.equal(toHex(reply), toHex(expected.synAck as Uint8Array), 'the whole SYN-ACK');
  });
}

test('a SYN from a MAC that is no reply MAC goes on: here, with no AF_XDP socket, to the kernel', { skip, timeout: 60_000 }, async () => {
  door.setReplyMacs(new Uint8Array(0));
  try {
    const before = door.stats();
    // No listener on the port: the kernel answers with a RST, routed by it.
    const replies = await fromPeer([syn(false, 41008, 0x0badcafe)], 1);
    await waitFor('doorNoSocket', () => door.stats().doorNoSocket === before.doorNoSocket + 1);
    assert.equal(door.stats().doorSynNotViaGateway, before.doorSynNotViaGateway + 1);
    assert.equal(door.stats().synackssent, before.synackssent, 'the door answered nothing');
    assert.ok(replies.length > 0 && replies.every((r) => r[tcpAt(r) + 13] === (TCP.RST | TCP.ACK)), 'the kernel\'s RST came back, no SYN-ACK');
  } finally {
    door.setReplyMacs(Uint8Array.from(peerMac));
  }
});

// An echo request to each address (no ping binary needed); prints the
// replies' count.
const PING = `
import json, sys
from scapy.all import IP, IPv6, ICMP, ICMPv6EchoRequest, sr1, conf
conf.verb = 0
a = json.loads(sys.argv[1])
got = 0
for p in [IP(dst=a['v4'])/ICMP(id=7, seq=1), IPv6(dst=a['v6'])/ICMPv6EchoRequest(id=7, seq=1)]:
    if sr1(p, timeout=3, iface=a['iface']) is not None:
        got += 1
print(got)
`;

test('ping to the responder passes the door', { skip, timeout: 30_000 }, () => {
  const input = JSON.stringify({ iface: pair.peerIface, v4: pair.responderV4, v6: pair.responderV6 });
  assert.equal(pair.peer.exec(PYTHON, ['-c', PING, input]).trim(), '2', 'both echo requests answered');
});

test('a malformed segment is counted and dropped before the responder\'s kernel', { skip, timeout: 30_000 }, async () => {
  const frame = syn(false, 41010, 5);
  frame[14 + 10] ^= 0xff; // the IPv4 header checksum
  const kernelBefore = kernelCounters();
  const before = door.stats().dropBadIpChecksum;
  await fromPeer([frame], 0, 0);
  await waitFor('dropBadIpChecksum', () => door.stats().dropBadIpChecksum === before + 1);
  assert.equal(kernelCounters().IpInHdrErrors ?? 0, kernelBefore.IpInHdrErrors ?? 0, 'the kernel never saw it');
});

test('a forged cookie ACK is dropped and counted; a valid one reaches the responder', { skip, timeout: 60_000 }, async () => {
  const sport = 41020;
  const isn = 0x01234567;
  const [synAck] = await fromPeer([syn(false, sport, isn)], 1);
  assert.ok(synAck, 'the SYN was answered');
  const cookie = be32(synAck, tcpAt(synAck) + 4);

  let kernelBefore = kernelCounters();
  const failBefore = door.stats().failcookie;
  await fromPeer([ack(false, sport, isn + 1, (cookie ^ 0x1000) + 1)], 0, 0);
  await waitFor('failcookie', () => door.stats().failcookie === failBefore + 1);
  assert.equal(kernelCounters().TcpInSegs ?? 0, kernelBefore.TcpInSegs ?? 0, 'the forged ACK never reached the kernel');

  // No AF_XDP socket here: the valid ACK passes to the kernel, which has no
  // listener on the port and answers it with a RST.
  kernelBefore = kernelCounters();
  const passBefore = door.stats().doorNoSocket;
  const replies = await fromPeer([ack(false, sport, isn + 1, cookie + 1)], 1);
  await waitFor('doorNoSocket', () => door.stats().doorNoSocket === passBefore + 1);
  assert.equal((kernelCounters().TcpInSegs ?? 0) - (kernelBefore.TcpInSegs ?? 0), 1, 'the valid ACK reached the kernel');
  assert.ok(replies.some((r) => (r[tcpAt(r) + 13] & TCP.RST) !== 0), 'and the kernel answered it');
});

test('kill -9 of the owning process takes the program off the interface', { skip, timeout: 60_000 }, async () => {
  door.close();
  assert.doesNotMatch(pair.responder.ip(['link', 'show', 'dev', pair.responderIface]), /xdp/, 'closed: off');
  const holder = fileURLToPath(new URL('../fixtures/door-holder.js', import.meta.url));
  const options = { addrs: [pair.responderV4], ports: [PORT], iface: pair.responderIface, netns: pair.responder.path };
  const child = track(spawn(process.execPath, [holder, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const id = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => { const m = /attached (\d+)/.exec(String(d)); if (m) resolve(m[1]); });
      child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before attaching`)));
    });
    assert.match(pair.responder.ip(['link', 'show', 'dev', pair.responderIface]), new RegExp(`prog/xdp id ${id} `), 'on while it lives');
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  await waitFor('the program to leave', () => !/xdp/.test(pair.responder.ip(['link', 'show', 'dev', pair.responderIface])));
});
