// The AF_XDP backend (io: 'xdp') on a real veth in a lab namespace: the
// lab's XDP program (labAddon.XdpRedirect) redirects the responder's TCP
// into the ring's socket; the peer namespace sends crafted frames (scapy)
// and kernel TCP connections. On veth the socket is bound in copy mode,
// and frames it sends reach the peer's stack with nothing attached on the
// peer's side (no XDP program, GRO off).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { addon, type NativeRing } from '../../lib/native/addon.js';
import { BatchView } from '../../lib/native/batch.js';
import { writeFlowWords } from '../../lib/native/flow-words.js';
import { labAddon, type XdpRedirect } from '../../lib/lab/lab-addon.js';
import { createPairLab, type PairLab } from '../../lib/lab/netns.js';
import { Responder } from '../../lib/responder/responder.js';
import type { Handshake } from '../../lib/engine/engine.js';
import { track } from '../helpers/children.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';
import { PORT, counter, openRing, waitFor, connectFrom, startIn, stop } from './ring-helpers.js';

const skip = craftedFramesUnavailableReason();
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('xdp', 65);
  // A kernel sender on veth leaves the TCP checksum to the device
  // (CHECKSUM_PARTIAL); an XDP program, and so an AF_XDP ring, sees the
  // frame before anyone completes it and has no flag saying so (AF_PACKET
  // has TP_STATUS_CSUMNOTREADY). The lab turns the peer's offloads off, as
  // lib/lab/topology.ts does; one test shows what happens with them on.
  pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tx', 'off', 'tso', 'off', 'gso', 'off']);
});
after(() => pair?.lab.destroy());

function redirect(): XdpRedirect {
  return new labAddon.XdpRedirect({ iface: pair.responderIface, netns: pair.responder.path });
}

function openXdpRing(program: XdpRedirect, extra: Parameters<typeof openRing>[1] = {}): NativeRing {
  return openRing(pair, { io: 'xdp', xskMap: program.xskMap, nextHop: 'source', ...extra });
}

/** The XDP program attached to the responder's interface (its id), or undefined. */
function attachedProgram(): number | undefined {
  const [link] = JSON.parse(pair.responder.ip(['-j', 'link', 'show', 'dev', pair.responderIface])) as Array<{ xdp?: { prog?: { id: number } } }>;
  return link.xdp?.prog?.id;
}

// SYNs from the peer (kernel-routed, scapy's checksums), one per source
// port; what came back: the SYN-ACKs and whether their checksums hold.
const SYNS = `
import json, sys, time
from scapy.all import IP, IPv6, TCP, AsyncSniffer, send, conf
conf.verb = 0
a = json.loads(sys.argv[1])
L3 = IPv6 if ':' in a['dst'] else IP
seen = []
sniffer = AsyncSniffer(iface=a['iface'], filter='tcp and src port %d' % a['dport'], prn=seen.append, store=False)
sniffer.start()
time.sleep(0.3)
send([L3(src=a['src'], dst=a['dst'])/TCP(sport=p, dport=a['dport'], flags='S', seq=1000 + p, options=[('MSS', 1460), ('SAckOK', b''), ('Timestamp', (1, 0)), ('WScale', 7)]) for p in a['sports']], iface=a['iface'])
end = time.time() + 3
while time.time() < end and len(seen) < len(a['sports']):
    time.sleep(0.05)
sniffer.stop()
def valid(p):
    l3 = p[L3]
    again = L3(bytes(l3))
    if L3 is IP:
        del again.chksum
    del again[TCP].chksum
    again = L3(bytes(again))
    return again[TCP].chksum == p[TCP].chksum and (L3 is not IP or again.chksum == l3.chksum)
synacks = [p for p in seen if str(p[TCP].flags) == 'SA']
print(json.dumps({
  'synacks': len(synacks),
  'answered': sorted(set(p[TCP].dport for p in synacks)),
  'acksRight': all(p[TCP].ack == 1000 + p[TCP].dport + 1 for p in synacks),
  'checksumsRight': all(valid(p) for p in synacks),
}))
`;

interface SynsResult { synacks: number; answered: number[]; acksRight: boolean; checksumsRight: boolean }

function sendSyns(src: string, dst: string, sports: number[]): Promise<SynsResult> {
  const input = JSON.stringify({ iface: pair.peerIface, src, dst, dport: PORT, sports });
  const child = track(spawn(...pair.peer.wrap(PYTHON, ['-c', SYNS, input]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => child.on('close', () => {
    try { resolve(JSON.parse(out) as SynsResult); } catch { reject(new Error(`scapy printed ${JSON.stringify(out)}`)); }
  }));
}

// Frames for the look ahead, in this order: a SYN from sport, an ACK with
// `data` from sport + 1, a SYN from sport + 2 (kernel-routed).
const MIXED = `
import json, sys
from scapy.all import IP, TCP, Raw, send, conf
conf.verb = 0
a = json.loads(sys.argv[1])
ip = IP(src=a['src'], dst=a['dst'])
p = a['sport']
send([ip/TCP(sport=p, dport=a['dport'], flags='S', seq=1), ip/TCP(sport=p + 1, dport=a['dport'], flags='PA', seq=100, ack=5)/Raw(a['data'].encode()),
      ip/TCP(sport=p + 2, dport=a['dport'], flags='S', seq=2)], iface=a['iface'])
`;

function sendMixed(sport: number, data: string): Promise<void> {
  const input = JSON.stringify({ iface: pair.peerIface, src: pair.peerV4, dst: pair.responderV4, dport: PORT, sport, data });
  const child = track(spawn(...pair.peer.wrap(PYTHON, ['-c', MIXED, input]), { stdio: ['ignore', 'ignore', 'inherit'] }));
  return new Promise((resolve) => child.on('close', () => resolve()));
}

/**
 * Waits until the peer's kernel holds no connection to the responder: a
 * client whose handshake a Responder completed (event mode: nothing serves
 * it) retransmits its FIN for seconds, into the next test's ring; once the
 * program is detached, the responder's kernel answers it with a RST.
 */
async function peerConnectionsGone(): Promise<boolean> {
  const open = () => pair.peer.exec('ss', ['-Htan', 'dport', '=', String(PORT)]).trim() !== '';
  return waitFor(() => !open(), 10_000);
}

function v4Flow(peerPort: number): Uint32Array {
  return writeFlowWords({ family: 4, remoteAddress: pair.peerV4, remotePort: peerPort, localAddress: pair.responderV4, localPort: PORT });
}

test('the redirect program is a lab tool (syncache_lab.node), not in the product addon', () => {
  assert.equal(typeof labAddon.XdpRedirect, 'function');
  assert.equal('XdpRedirect' in addon, false);
});

test("io: 'xdp' options are checked, and each backend refuses the other's", { skip }, () => {
  const program = redirect();
  try {
    assert.throws(() => openRing(pair, { io: 'xdp' }), { name: 'TypeError', message: /options\.xskMap must be an integer/ });
    assert.throws(() => openRing(pair, { io: 'udp' as 'xdp' }), { name: 'TypeError', message: /options\.io must be 'packet'.*or 'xdp'/ });
    assert.throws(() => openXdpRing(program, { fanoutGroup: 7 }), { name: 'TypeError', message: /options\.fanoutGroup does not apply to io: 'xdp'/ });
    assert.throws(() => openXdpRing(program, { blockSize: 1 << 20 }), { name: 'TypeError', message: /options\.blockSize does not apply/ });
    assert.throws(() => openRing(pair, { xskMap: program.xskMap }), { name: 'TypeError', message: /options\.xskMap does not apply to io: 'packet'/ });
    assert.throws(() => openXdpRing(program, { rxFrames: 100 }), { name: 'RangeError', message: /rxFrames must be a power of two/ });
    assert.throws(() => openXdpRing(program, { frameSize: 3000 }), { name: 'RangeError', message: /frameSize must be 2048 or 4096/ });
    assert.throws(() => openXdpRing(program, { queue: 1 }), { name: 'RangeError', message: /queue 1 has no slot in xskMap \(1 entries\)/ });
    assert.throws(() => openXdpRing(program, { queue: 0, queues: [0] }), { name: 'TypeError', message: /options\.queue and options\.queues: give one of them/ });
    assert.throws(() => openXdpRing(program, { queues: [] }), { name: 'TypeError', message: /options\.queues must be an array of 1 to 64/ });
    assert.throws(() => openXdpRing(program, { queues: [0, 0] }), { name: 'RangeError', message: /options\.queues names queue 0 twice/ });
    assert.throws(() => openXdpRing(program, { queues: [0, -1] }), { name: 'RangeError', message: /options\.queues\[1\] must be an integer from 0 to 65535/ });
    assert.throws(() => openXdpRing(program, { queues: [0, 1] }), { name: 'RangeError', message: /queue 1 has no slot in xskMap/, }, 'every queue is checked before any socket opens');
    assert.throws(() => openRing(pair, { queues: [0] }), { name: 'TypeError', message: /options\.queues does not apply to io: 'packet'/ });
    assert.throws(() => openXdpRing(program, { xskMap: 0 }), { name: 'RangeError', message: /xskMap \(fd 0\) is not a BPF map/ });
    assert.throws(() => openXdpRing(program, { iface: 'nosuch0' }), { code: 'ENODEV', message: /nosuch0/ });
    const ring = openXdpRing(program);
    try {
      assert.equal(ring.zeroCopy, false, 'veth has no zero-copy AF_XDP: copy mode');
      assert.deepEqual([...ring.mac], [...pair.responder.macOf(pair.responderIface)]);
      assert.throws(() => openXdpRing(program), { code: 'EBUSY', message: /queue 0 of interface scr0.*another AF_XDP socket holds that queue/ });
    } finally {
      ring.close();
    }
    ring.close();
    assert.throws(() => ring.receive(), /the ring is closed/);
  } finally {
    program.close();
    program.close();
  }
  assert.equal(attachedProgram(), undefined, 'close() detached the program');
});

test('SYNs from the peer become rows; the SYN-ACKs sent through the AF_XDP TX ring arrive whole; the counters agree', { skip }, async () => {
  const program = redirect();
  const r = await Responder.open({
    iface: pair.responderIface, netns: pair.responder.name, addrs: [pair.responderV4, pair.responderV6], ports: [PORT],
    syncookies: 'only', gate: false, xdp: { xskMap: program.xskMap },
  });
  try {
    const sports = Array.from({ length: 40 }, (_, i) => 42000 + i);
    const v4 = await sendSyns(pair.peerV4, pair.responderV4, sports.slice(0, 20));
    const v6 = await sendSyns(pair.peerV6, pair.responderV6, sports.slice(20));
    for (const [name, got, want] of [['IPv4', v4, sports.slice(0, 20)], ['IPv6', v6, sports.slice(20)]] as const) {
      assert.deepEqual(got.answered, want, `${name}: every SYN answered`);
      assert.equal(got.synacks, want.length, `${name}: once each`);
      assert.ok(got.acksRight, `${name}: each SYN-ACK acknowledges its SYN`);
      assert.ok(got.checksumsRight, `${name}: IP and TCP checksums hold`);
    }
    const s = r.stats();
    assert.equal(s.parsedSyn, 40);
    // And the peer kernel's RSTs for SYN-ACKs it has no socket for (and
    // maybe an earlier test's connections closing): every frame is TCP, the
    // program left ARP and neighbour discovery with the kernel.
    assert.equal(s.rxFrames, s.parsedSyn + s.parsedAck + s.parsedRst);
    assert.equal(s.sendcookie, 40);
    assert.equal(s.txFrames, 40);
    assert.ok(s.txKicks >= 1);
    for (const name of ['txErrors', 'txRingFull', 'rxBadFrame', 'ringBadIndex', 'txBadCompletion', 'dropBadTcpChecksum', 'replyUnresolved'] as const) {
      assert.equal(s[name], 0, name);
    }
  } finally {
    await r.close();
    program.close();
  }
});

test("a kernel client's connect completes against the responder in mode 'only', as a handshake event", { skip }, async () => {
  const program = redirect();
  const r = await Responder.open({
    iface: pair.responderIface, netns: pair.responder.name, addrs: [pair.responderV4, pair.responderV6], ports: [PORT],
    syncookies: 'only', gate: false, xdp: { xskMap: program.xskMap },
  });
  const handshakes: Handshake[] = [];
  r.on('handshake', (h) => handshakes.push(h));
  try {
    assert.equal(r.backend, 'xdp');
    assert.equal(await connectFrom(pair.peer, pair.responderV4, PORT, 3000), 'connected');
    assert.equal(await connectFrom(pair.peer, pair.responderV6, PORT, 3000), 'connected');
    assert.ok(await waitFor(() => handshakes.length >= 2), `handshakes: ${handshakes.length}`);
    assert.deepEqual(handshakes.map((h) => h.remoteAddress).sort(), [pair.peerV4, pair.peerV6].sort());
    const s = r.stats();
    assert.equal(s.completed, 2);
    assert.equal(s.recvcookie, 2);
    assert.equal(s.synackssent, 2);
    assert.equal(s.dropBadTcpChecksum, 0);
  } finally {
    await r.close();
    program.close();
    assert.ok(await peerConnectionsGone(), "the clients' connections ended");
  }
});

test("with the peer's checksum offload on, its kernel's SYNs reach the ring unfinished and are dropped as bad checksums", { skip }, async () => {
  pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tx', 'on']);
  const program = redirect();
  const ring = openXdpRing(program);
  try {
    assert.equal(await connectFrom(pair.peer, pair.responderV4, PORT, 300), 'timeout');
    assert.ok(await waitFor(() => ring.receive() > 0 || counter(ring.counters, 'dropBadTcpChecksum') > 0));
    assert.equal(counter(ring.counters, 'parsedSyn'), 0);
    assert.ok(counter(ring.counters, 'dropBadTcpChecksum') >= 1);
  } finally {
    ring.close();
    program.close();
    pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tx', 'off']);
  }
});

test('the ring looks ahead: peek() finds data without taking it, receiveUrgent() takes the ACK before the SYN ahead of it, a handed-over flow is skipped at the head', { skip }, async () => {
  const program = redirect();
  const rx = new BatchView();
  const ring = openXdpRing(program, { rxBatch: rx.buffer });
  const { kinds } = addon.constants;
  const out = new Uint8Array(64 * 1024);
  try {
    await sendMixed(43000, 'look ahead');
    const flows = new Uint32Array([...v4Flow(43001)]);
    assert.ok(await waitFor(() => ring.peek(flows, -1, out) >= 0 && new Uint32Array(out.buffer)[0] >= 1), 'the data segment seen');
    const words = new Uint32Array(out.buffer);
    assert.equal(words[0], 1);
    assert.equal(words[1], 0, 'flow index 0');
    assert.equal(words[2], 100, 'its sequence number');
    assert.equal(Buffer.from(out.subarray(16, 16 + words[3])).toString(), 'look ahead');
    const next = ring.peek(flows, -1, out);
    assert.equal(ring.peek(flows, next, out), next, 'from where the last look ended: nothing new');
    assert.equal(counter(ring.counters, 'rxFrames'), 0, 'a look takes nothing');

    // (An earlier test's client connections may still be closing into the
    // ring: only this test's ports count.)
    const ours = (n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => rx.sport[i] >= 43000 && rx.sport[i] < 43020)
      .map((i) => `${rx.kind[i] === kinds.syn ? 'syn' : rx.kind[i] === kinds.ack ? 'ack' : rx.kind[i]} ${rx.sport[i]}`);
    assert.deepEqual(ours(ring.receiveUrgent()), ['ack 43001']);
    assert.deepEqual(ours(ring.receiveUrgent()), [], 'looked at once');
    assert.deepEqual(ours(ring.receive()), ['syn 43000', 'syn 43002'], 'the rest in order, the ACK not again');

    // A handed-over flow's frames at the head are taken before JS is told.
    assert.equal(ring.handOver(v4Flow(43010), 1, false), true);
    await sendMixed(43010, 'x');  // 43010's own SYN again, then 43011's data, 43012's SYN
    assert.ok(await waitFor(() => ring.ready() && counter(ring.counters, 'skippedHandedOver') === 1),
      "the handed-over flow's own SYN was skipped at the head, the frames after it are for JS");
    const seen: string[] = [];
    assert.ok(await waitFor(() => {
      seen.push(...ours(ring.receive()));
      return seen.length >= 2;
    }));
    assert.deepEqual(seen, ['ack 43011', 'syn 43012']);
  } finally {
    ring.close();
    program.close();
  }
});

test('frames the ring has no room for are counted by the kernel and add up with the frames taken', { skip }, async () => {
  const program = redirect();
  const rx = new BatchView();
  const ring = openXdpRing(program, { rxBatch: rx.buffer, rxFrames: 64 });
  try {
    const result = await labAddon.flood({
      iface: pair.peerIface, netns: pair.peer.path, dstMac: pair.responder.macOf(pair.responderIface),
      dstAddr: pair.responderV4, dstPort: PORT, srcNet: '198.19.65.0/24', rate: 20_000, seconds: 0.05,
    });
    let rows = 0;
    for (let n = ring.receive(); n > 0; n = ring.receive()) rows += n;
    ring.updateKernelStats();
    const c = ring.counters;
    assert.equal(rows, 64, 'the 64 frames of the ring, never read during the flood');
    assert.equal(counter(c, 'rxFrames'), 64);
    assert.equal(counter(c, 'kernelDrops'), result.sent - 64, `sent ${result.sent}`);
    assert.equal(counter(c, 'kernelFillRingEmpty'), result.sent - 64, 'every drop found the fill ring empty');
    assert.equal(counter(c, 'kernelRxRingFull'), 0, 'the RX ring holds every frame the fill ring has');
    assert.equal(counter(c, 'kernelInvalidDescs'), 0);
    ring.updateKernelStats();
    assert.equal(counter(c, 'kernelDrops'), result.sent - 64, 'running totals are added once');
  } finally {
    ring.close();
    program.close();
  }
});

test('a process killed -9 with the program attached and a ring open leaves nothing attached, and the queue free', { skip }, async () => {
  const lab = new URL('../../lib/lab/lab-addon.js', import.meta.url).href;
  const native = new URL('../../lib/native/addon.js', import.meta.url).href;
  const child = await startIn(pair.responder, `
    (async () => {
      const { labAddon } = await import(${JSON.stringify(lab)});
      const { addon } = await import(${JSON.stringify(native)});
      const program = new labAddon.XdpRedirect({ iface: ${JSON.stringify(pair.responderIface)} });
      const ring = new addon.Ring({ iface: ${JSON.stringify(pair.responderIface)}, addrs: [${JSON.stringify(pair.responderV4)}], ports: [${PORT}],
        cookies: 'on', secrets: new Uint8Array(new SharedArrayBuffer(addon.secretsLayout.byteLength)),
        rxBatch: new ArrayBuffer(addon.batchLayout.byteLength), txBatch: new ArrayBuffer(addon.batchLayout.byteLength),
        io: 'xdp', xskMap: program.xskMap });
      ring.start(() => ring.receive());
      console.log('ready');
    })();
  `);
  const id = attachedProgram();
  assert.ok(id !== undefined, 'the child attached its program');
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    process.kill(child.pid!, 'SIGKILL');
  });
  assert.ok(await waitFor(() => attachedProgram() === undefined), 'the kernel detached the program with its link');
  const bpftool = spawnSync('bpftool', ['prog', 'show', 'id', String(id)], { encoding: 'utf8' });
  if (bpftool.error === undefined) {
    assert.ok(await waitFor(() => spawnSync('bpftool', ['prog', 'show', 'id', String(id)]).status !== 0), 'and freed it');
  }
  const program = redirect();
  const ring = openXdpRing(program);
  ring.close();
  program.close();
  await stop(child);
});

test('the interface going down only pauses the ring; the interface going away is an ENODEV error (an XDP socket polls none)', { skip }, async () => {
  const own = createPairLab('xdplink', 66);
  try {
    own.peer.exec('ethtool', ['-K', own.peerIface, 'tx', 'off']);
    const program = new labAddon.XdpRedirect({ iface: own.responderIface, netns: own.responder.path });
    const ring = openRing(own, { io: 'xdp', xskMap: program.xskMap, nextHop: 'source' });
    try {
      let rows = 0;
      let error: NodeJS.ErrnoException | undefined;
      ring.start(() => { rows += ring.receive(); }, (e) => { error = e; });
      assert.equal(await connectFrom(own.peer, own.responderV4, PORT, 300), 'timeout');
      assert.ok(await waitFor(() => rows >= 1), 'a SYN before');
      own.responder.ip(['link', 'set', own.responderIface, 'down']);
      own.responder.ip(['link', 'set', own.responderIface, 'up']);
      const before = rows;
      assert.equal(await connectFrom(own.peer, own.responderV4, PORT, 300), 'timeout');
      assert.ok(await waitFor(() => rows > before), 'a SYN after down and up');
      assert.equal(error, undefined);
      own.responder.ip(['link', 'del', own.responderIface]);
      assert.ok(await waitFor(() => error !== undefined), 'onError was called');
      assert.equal(error!.code, 'ENODEV');
      assert.match(error!.message, /interface scr0 is gone/);
    } finally {
      ring.close();
      program.close();
    }
  } finally {
    own.lab.destroy();
  }
});
