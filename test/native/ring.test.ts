// The AF_PACKET ring on a real veth in a lab namespace, with the kernel's TCP
// stack in the peer namespace as the sender.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addon, type NativeRing } from '../../lib/native/addon.js';
import { BatchView } from '../../lib/native/batch.js';
import { formatAddress } from '../../lib/native/address.js';
import { FLOW_WORDS, writeFlowWords } from '../../lib/native/flow-words.js';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { createRoutedLab } from '../../lib/lab/routed.js';
import { CookieSecrets } from '../../lib/engine/cookie-secrets.js';
import { PORT, counter, openRing, waitFor, connectFrom, serverIn, stop, runIn } from './ring-helpers.js';

const skip = labUnavailableReason();
let pair: PairLab;

before(() => {
  if (!skip) pair = createPairLab('ring', 1);
});
after(() => pair?.lab.destroy());

function drain(ring: NativeRing, view: BatchView, onRow?: (i: number) => void): number {
  let total = 0;
  for (;;) {
    const rows = ring.receive();
    for (let i = 0; i < rows; i++) onRow?.(i);
    total += rows;
    if (rows < view.kind.length) return total;
  }
}

test('the filter passes TCP to our address and port, nothing else', { skip }, async () => {
  const rx = new BatchView();
  const ring = openRing(pair, { rxBatch: rx.buffer });
  try {
    assert.equal(ring.mac.length, 6);
    assert.ok(ring.ifindex > 0);
    assert.equal(await connectFrom(pair.peer, pair.responderV4, PORT + 1), 'refused');
    assert.equal(await connectFrom(pair.peer, pair.responderV6, PORT + 1), 'refused');
    // UDP to our address and port must stay out too.
    await runIn(pair.peer, `const s = require('dgram').createSocket('udp4');
      s.send('x', ${PORT}, ${JSON.stringify(pair.responderV4)}, () => s.close());`);
    assert.equal(await connectFrom(pair.peer, pair.responderV4, PORT), 'refused');
    assert.equal(await connectFrom(pair.peer, pair.responderV6, PORT), 'refused');
    const seen: string[] = [];
    assert.ok(await waitFor(() => {
      drain(ring, rx, (i) => seen.push(`${rx.kind[i]} ${formatAddress(rx.saddr, i * 4, rx.family[i])} > ${rx.dport[i]}`));
      return seen.length >= 2;
    }), `rows seen: ${seen.join(', ')}`);
    const c = ring.counters;
    assert.equal(counter(c, 'rxFrames'), 2, 'only the two SYNs to our port reach the ring');
    assert.equal(counter(c, 'parsedSyn'), 2);
    assert.deepEqual(seen.sort(), [
      `${addon.constants.kinds.syn} ${pair.peerV6} > ${PORT}`,
      `${addon.constants.kinds.syn} ${pair.peerV4} > ${PORT}`,
    ].sort());
    ring.updateKernelStats();
    assert.equal(counter(c, 'kernelPackets'), 2);
    assert.equal(counter(c, 'kernelDrops'), 0);
    assert.ok(counter(c, 'rxBlocks') >= 1);
  } finally {
    ring.close();
  }
});

test('start() calls onReadable from the event loop; stop() ends it', { skip }, async () => {
  const rx = new BatchView();
  const ring = openRing(pair, { rxBatch: rx.buffer });
  try {
    let calls = 0;
    let rows = 0;
    ring.start(() => {
      calls++;
      rows += ring.receive();
    });
    assert.equal(await connectFrom(pair.peer, pair.responderV4, PORT), 'refused');
    assert.ok(await waitFor(() => rows >= 1), 'onReadable delivered the SYN');
    assert.ok(calls >= 1);
    ring.stop();
    const before = calls;
    assert.equal(await connectFrom(pair.peer, pair.responderV4, PORT), 'refused');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(calls, before, 'no calls after stop()');
    assert.equal(ring.receive(), 1, 'the frame waits in the ring');
  } finally {
    ring.close();
  }
});

test('a fanout group of two rings splits flows and keeps each flow in one ring', { skip }, async () => {
  const server = await serverIn(pair.responder, PORT);
  const views = [new BatchView(), new BatchView()];
  const rings = views.map((v) => openRing(pair, { rxBatch: v.buffer, fanoutGroup: 4242 }));
  try {
    // A flow by family and source port: an IPv4 and an IPv6 connect may
    // well get the same ephemeral port.
    const flowsRing = new Map<number, Set<number>>();
    const note = () => {
      rings.forEach((ring, r) => drain(ring, views[r], (i) => {
        const key = views[r].family[i] * 65536 + views[r].sport[i];
        const set = flowsRing.get(key) ?? new Set<number>();
        set.add(r);
        flowsRing.set(key, set);
      }));
    };
    const flows = 16;
    for (let i = 0; i < flows; i++) {
      assert.equal(await connectFrom(pair.peer, i % 2 ? pair.responderV6 : pair.responderV4, PORT), 'connected');
      note();
    }
    await waitFor(() => {
      note();
      return flowsRing.size >= flows;
    });
    assert.equal(flowsRing.size, flows, 'every flow was seen');
    for (const [key, set] of flowsRing) assert.equal(set.size, 1, `flow from IPv${key >> 16} port ${key & 0xffff} stayed in one ring`);
    const perRing = [0, 1].map((r) => [...flowsRing.values()].filter((s) => s.has(r)).length);
    assert.ok(perRing[0] > 0 && perRing[1] > 0, `both rings got flows: ${perRing}`);
    const frames = rings.map((r) => counter(r.counters, 'rxFrames'));
    assert.ok(frames[0] + frames[1] > flows, 'several frames per flow');
  } finally {
    rings.forEach((r) => r.close());
    await stop(server);
  }
});

test('end to end: a kernel client SYN becomes a syn row; our SYN-ACK completes its connect', { skip }, async () => {
  // Keep the responder's kernel from answering (RST) for the port; the packet
  // socket still sees what prerouting drops.
  pair.responder.exec('nft', ['-f', '-'], `table inet sc_ring_e2e {
    chain pre { type filter hook prerouting priority -300; tcp dport ${PORT} drop; }
  }`);
  const rx = new BatchView();
  const tx = new BatchView();
  const ring = openRing(pair, { rxBatch: rx.buffer, txBatch: tx.buffer });
  const { kinds, optFlags } = addon.constants;
  try {
    let answered = 0;
    let acks = 0;
    ring.start(() => {
      const rows = ring.receive();
      let out = 0;
      for (let i = 0; i < rows; i++) {
        if (rx.kind[i] === kinds.ack) acks++;
        if (rx.kind[i] !== kinds.syn) continue;
        tx.kind[out] = kinds.synAck;
        tx.family[out] = rx.family[i];
        tx.saddr.set(rx.daddr.subarray(i * 4, i * 4 + 4), out * 4);
        tx.daddr.set(rx.saddr.subarray(i * 4, i * 4 + 4), out * 4);
        tx.sport[out] = rx.dport[i];
        tx.dport[out] = rx.sport[i];
        tx.seq[out] = 0x12345678;
        tx.ack[out] = (rx.seq[i] + 1) >>> 0;
        tx.window[out] = 65535;
        tx.mss[out] = 1460;
        tx.wscale[out] = 7;
        tx.optFlags[out] = optFlags.mss | optFlags.wscale | optFlags.sackPermitted |
          (rx.optFlags[i] & optFlags.timestamps);
        tx.tsval[out] = 1000;
        tx.tsecr[out] = rx.tsval[i];
        tx.vlan[out] = rx.vlan[i];
        tx.mac.set(rx.mac.subarray(i * 6, i * 6 + 6), out * 6);
        out++;
      }
      if (out > 0) answered += ring.send(out);
    });
    assert.equal(await connectFrom(pair.peer, pair.responderV4, PORT, 3000), 'connected');
    assert.equal(await connectFrom(pair.peer, pair.responderV6, PORT, 3000), 'connected');
    assert.ok(answered >= 2);
    assert.ok(await waitFor(() => acks >= 2), 'the clients\' final ACKs arrive as ack rows');
    const c = ring.counters;
    assert.ok(counter(c, 'txFrames') >= 2);
    assert.ok(counter(c, 'txKicks') >= 2);
    assert.equal(counter(c, 'txErrors'), 0);
    assert.equal(counter(c, 'txRingFull'), 0);
  } finally {
    ring.close();
    pair.responder.exec('nft', ['delete', 'table', 'inet', 'sc_ring_e2e']);
  }
});

test('close() is idempotent; methods throw after it', { skip }, () => {
  const ring = openRing(pair);
  ring.close();
  ring.close();
  for (const call of [() => ring.receive(), () => ring.send(0), () => ring.start(() => {}),
    () => ring.stop(), () => ring.updateKernelStats()]) {
    assert.throws(call, /the ring is closed/);
  }
  assert.equal(typeof ring.counters[0], 'bigint', 'counters stay readable');
});

test('errors name the interface, the namespace and the field', { skip }, () => {
  assert.throws(() => openRing(pair, { iface: 'nosuch0' }), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ENODEV');
    assert.match(e.message, /nosuch0/);
    assert.ok(e.message.includes(pair.responder.path), e.message);
    return true;
  });
  assert.throws(() => openRing(pair, { netns: '/run/netns/sc-none-here' }), { code: 'ENOENT' });
  assert.throws(() => openRing(pair, { iface: 42 as unknown as string }), { name: 'TypeError', message: /options\.iface/ });
  assert.throws(() => openRing(pair, { blockSize: 5000 }), { name: 'RangeError', message: /blockSize/ });
  assert.throws(() => openRing(pair, { blockCount: 0 }), { name: 'RangeError', message: /blockCount/ });
  assert.throws(() => openRing(pair, { txFrames: 33 }), { name: 'RangeError', message: /txFrames/ });
  assert.throws(() => openRing(pair, { fanoutGroup: 70000 }), { name: 'RangeError', message: /fanoutGroup/ });
  assert.throws(() => openRing(pair, { rxBatch: new ArrayBuffer(8) }), { name: 'RangeError', message: /rxBatch/ });
  assert.throws(() => openRing(pair, { addrs: [] }), { name: 'TypeError', message: /addrs/ });
  const ring = openRing(pair);
  try {
    assert.throws(() => ring.send(-1), RangeError);
    assert.throws(() => ring.start(42 as unknown as () => void), TypeError);
  } finally {
    ring.close();
  }
});

test('the kernel drop counter counts frames a full ring could not take', { skip }, async () => {
  // One 4 KiB block, never read: the first frames fill it, the rest drop.
  const ring = openRing(pair, { blockSize: 4096, blockCount: 1, retireMs: 1 });
  const server = await serverIn(pair.responder, PORT);
  try {
    for (let i = 0; i < 6; i++) await connectFrom(pair.peer, pair.responderV4, PORT);
    ring.updateKernelStats();
    const c = ring.counters;
    assert.ok(counter(c, 'kernelDrops') > 0, `drops: ${counter(c, 'kernelDrops')}`);
    assert.ok(counter(c, 'kernelPackets') >= counter(c, 'kernelDrops'));
    drain(ring, new BatchView());
    assert.ok(counter(c, 'rxFrames') > 0);
  } finally {
    ring.close();
    await stop(server);
  }
});

function socketFds(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;
}

test('a ring left open in a worker is closed when the worker ends (cleanup hook)', { skip }, async () => {
  const before = socketFds();
  const here = path.dirname(fileURLToPath(import.meta.url));
  const addonUrl = new URL(`file://${path.resolve(here, '../../lib/native/addon.js')}`).href;
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.addonUrl).then(({ addon }) => {
      const ring = new addon.Ring(workerData.options);
      ring.start(() => ring.receive());
      parentPort.postMessage('open');
    });
  `, {
    eval: true,
    workerData: {
      addonUrl,
      options: {
        iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT],
        cookies: 'on', secrets: new Uint8Array(new SharedArrayBuffer(addon.secretsLayout.byteLength)),
        rxBatch: new ArrayBuffer(addon.batchLayout.byteLength), txBatch: new ArrayBuffer(addon.batchLayout.byteLength),
      },
    },
  });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  assert.equal(socketFds(), before + 6, 'the worker\'s ring holds two packet sockets, and its route mirror two netlink and two raw sockets');
  await worker.terminate();
  assert.equal(socketFds(), before, 'every socket closed by the cleanup hook');
});

test('a process that exits with a ring open exits cleanly', { skip }, () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const helpers = new URL(`file://${path.resolve(here, 'ring-helpers.js')}`).href;
  const script = `
    const { openRing } = await import(${JSON.stringify(helpers)});
    const pair = { responderIface: ${JSON.stringify(pair.responderIface)}, responder: { path: ${JSON.stringify(pair.responder.path)} },
      responderV4: ${JSON.stringify(pair.responderV4)}, responderV6: ${JSON.stringify(pair.responderV6)} };
    const ring = openRing(pair);
    ring.start(() => ring.receive());
    setTimeout(() => process.exit(0), 20);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
});

test("options.nextHop is 'route' (the default: a route mirror, two netlink sockets and two raw ones for unresolved next hops) or 'source'", { skip }, () => {
  assert.throws(() => openRing(pair, { nextHop: 'mac' as 'route' }), { name: 'TypeError', message: /options\.nextHop must be 'route' or 'source'/ });
  const before = socketFds();
  const source = openRing(pair, { nextHop: 'source' });
  assert.equal(socketFds(), before + 2, 'no netlink sockets without routing');
  source.close();
  const routed = openRing(pair);
  assert.equal(socketFds(), before + 6);
  assert.equal(counter(routed.counters, 'nextHopReloads'), 1, 'the mirror was loaded once at open');
  routed.close();
  assert.equal(socketFds(), before);
});

test('without capabilities the error says which one is missing', { skip }, (t) => {
  const setpriv = spawnSync('setpriv', ['--version']);
  if (setpriv.status !== 0) {
    t.skip('setpriv (util-linux) is not installed');
    return;
  }
  const here = path.dirname(fileURLToPath(import.meta.url));
  const helpers = new URL(`file://${path.resolve(here, 'ring-helpers.js')}`).href;
  const script = `
    const { openRing } = await import(${JSON.stringify(helpers)});
    const pair = { responderIface: 'lo', responder: { path: ${JSON.stringify(pair.responder.path)} }, responderV4: '198.18.1.1', responderV6: '2001:db8:1::1' };
    for (const netns of [${JSON.stringify(pair.responder.path)}, undefined]) {
      try { openRing({ ...pair, responder: { path: netns } }); console.log('opened'); }
      catch (e) { console.log(e.code + ' ' + e.message); }
    }
  `;
  const r = spawnSync('setpriv', ['--bounding-set=-all', '--inh-caps=-all', process.execPath, '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 10_000 });
  const [inNetns, here0] = r.stdout.trim().split('\n');
  assert.match(inNetns, /^EPERM .*CAP_SYS_ADMIN is missing/, r.stdout + r.stderr);
  assert.match(here0, /^EPERM .*AF_PACKET.*CAP_NET_RAW is missing/, r.stdout + r.stderr);
});

function checksum(bytes: Uint8Array, start = 0): number {
  let sum = start;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Sends whole Ethernet frames from the peer's interface (a raw packet socket). */
function sendFromPeer(frames: Buffer[]): void {
  pair.peer.exec('python3', ['-c', `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((${JSON.stringify(pair.peerIface)}, 0))
for h in sys.stdin.read().split():
    s.send(bytes.fromhex(h))
`], frames.map((f) => f.toString('hex')).join('\n'));
}

/** The flow words (as handOver takes them) of the peer's IPv4 port `peerPort` to our PORT. */
function v4Flow(peerPort: number): Uint32Array {
  return writeFlowWords({ family: 4, remoteAddress: pair.peerV4, remotePort: peerPort, localAddress: pair.responderV4, localPort: PORT });
}

/** An Ethernet frame with an 802.1Q tag in band carrying an IPv4 TCP SYN. */
function taggedSyn(dstMac: Uint8Array, srcMac: Uint8Array, vlan: number, src: string, dst: string, sport: number, dport: number, seq = 0x01020304): Buffer {
  const f = Buffer.alloc(18 + 20 + 20);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  f.writeUInt16BE(0x8100, 12);
  f.writeUInt16BE(vlan, 14);
  f.writeUInt16BE(0x0800, 16);
  const ip = f.subarray(18, 38);
  ip[0] = 0x45;
  ip.writeUInt16BE(40, 2);
  ip[8] = 64;
  ip[9] = 6;
  Buffer.from(src.split('.').map(Number)).copy(ip, 12);
  Buffer.from(dst.split('.').map(Number)).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  const tcp = f.subarray(38, 58);
  tcp.writeUInt16BE(sport, 0);
  tcp.writeUInt16BE(dport, 2);
  tcp.writeUInt32BE(seq, 4);
  tcp[12] = 5 << 4;
  tcp[13] = 0x02;
  tcp.writeUInt16BE(65535, 14);
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 6, 0, 20])]);
  tcp.writeUInt16BE(checksum(tcp, 0xffff - checksum(pseudo)), 16);
  return f;
}

test('802.1Q: a tagged SYN reaches the ring as a row with its VLAN TCI', { skip }, async () => {
  const rx = new BatchView();
  const ring = openRing(pair, { rxBatch: rx.buffer });
  try {
    const frame = taggedSyn(pair.responder.macOf(pair.responderIface), pair.peer.macOf(pair.peerIface), 10,
      pair.peerV4, pair.responderV4, 40000, PORT);
    const other = taggedSyn(pair.responder.macOf(pair.responderIface), pair.peer.macOf(pair.peerIface), 10,
      pair.peerV4, pair.responderV4, 40001, PORT + 1);
    sendFromPeer([other, frame]);
    let vlan = -1;
    assert.ok(await waitFor(() => {
      if (ring.receive() > 0) vlan = rx.vlan[0];
      return vlan >= 0;
    }), 'the tagged SYN arrived as a row');
    assert.equal(vlan, 10);
    assert.equal(rx.sport[0], 40000);
    assert.equal(counter(ring.counters, 'rxFrames'), 1, 'the tagged SYN to another port was filtered out');
  } finally {
    ring.close();
  }
});

test("a handed-over flow's own SYN again (its ISN) is skipped; another ISN on its 4-tuple is a new connection", { skip }, async () => {
  const rx = new BatchView();
  const ring = openRing(pair, { rxBatch: rx.buffer });
  try {
    const flow = v4Flow(40002);
    assert.throws(() => ring.handOver(flow, -1), RangeError);
    // Completed and reported (no kernel socket, so no TIME_WAIT to wait for).
    assert.equal(ring.handOver(flow, 0x01020304, false), true);
    const syn = (seq: number) => taggedSyn(pair.responder.macOf(pair.responderIface), pair.peer.macOf(pair.peerIface), 10,
      pair.peerV4, pair.responderV4, 40002, PORT, seq);
    sendFromPeer([syn(0x01020304), syn(0x0a0b0c0d)]);
    const seqs: number[] = [];
    assert.ok(await waitFor(() => {
      const rows = ring.receive();
      for (let i = 0; i < rows; i++) seqs.push(rx.seq[i]);
      return counter(ring.counters, 'rxFrames') >= 2;
    }), 'both SYNs reached the ring');
    assert.deepEqual(seqs, [0x0a0b0c0d], 'only the new connection became a row');
    assert.equal(counter(ring.counters, 'skippedHandedOver'), 1);
    assert.equal(counter(ring.counters, 'handedOverReopened'), 1);
  } finally {
    ring.close();
  }
});

test('takeBack(flow, peerIsn) unmarks only the connection marked with that ISN; without one, whatever is marked', { skip }, () => {
  const rx = new BatchView();
  const ring = openRing(pair, { rxBatch: rx.buffer });
  try {
    const flow = v4Flow(40003);
    assert.equal(ring.handOver(flow, 5), true);
    assert.equal(ring.takeBack(flow, 6), false, 'a newer connection on the 4-tuple keeps its mark');
    assert.equal(ring.takeBack(flow, 5), true);
    assert.equal(ring.takeBack(flow, 5), false, 'already unmarked');
    assert.equal(ring.handOver(flow, 7), true);
    assert.equal(ring.takeBack(flow), true);
    assert.throws(() => ring.takeBack(flow, 2 ** 32), RangeError);
  } finally {
    ring.close();
  }
});

test('close() from inside onReadable is safe', { skip }, async () => {
  const ring = openRing(pair);
  let closedInside = false;
  ring.start(() => {
    ring.receive();
    ring.close();
    closedInside = true;
  });
  assert.equal(await connectFrom(pair.peer, pair.responderV4, PORT), 'refused');
  assert.ok(await waitFor(() => closedInside));
  await new Promise((r) => setTimeout(r, 20));
  assert.throws(() => ring.receive(), /closed/);
  ring.close();
});

test('peek() finds a flow\'s data among the waiting frames without taking them; receive() still gets every one', { skip }, async () => {
  // A kernel connection (its own listener answers), so the client's data
  // segments cross the veth with their checksum left to the device.
  const server = await serverIn(pair.responder, PORT);
  const rx = new BatchView();
  const ring = openRing(pair, { rxBatch: rx.buffer, lowLatency: true });
  const v3 = openRing(pair, { ports: [PORT + 1] });
  const out = new Uint8Array(64 * 1024);
  try {
    assert.equal(v3.peek(new Uint32Array(FLOW_WORDS), -1, out), -1, 'a TPACKET_V3 ring cannot look ahead');
    const clientPort = 40123;
    await runIn(pair.peer, `
      const s = require('net').connect({ host: ${JSON.stringify(pair.responderV4)}, port: ${PORT}, localPort: ${clientPort} });
      s.on('connect', () => { s.write('hello, '); setTimeout(() => s.end('peek'), 50); });
      s.on('close', () => process.exit(0));
      s.on('error', () => process.exit(1));
    `);
    const flow = v4Flow(clientPort);
    const other = v4Flow(clientPort + 1);
    const flows = new Uint32Array([...other, ...flow]);
    assert.ok(await waitFor(() => ring.peek(flows, -1, out) >= 0 && new Uint32Array(out.buffer)[0] >= 2), 'both data segments seen');
    const next = ring.peek(flows, -1, out);
    const words = new Uint32Array(out.buffer);
    const found: string[] = [];
    for (let r = 0, w = 1; r < words[0]; r++) {
      const [k, , length] = [words[w], words[w + 1], words[w + 2]];
      assert.equal(k, 1, 'flow index 1: the other flow has no data');
      found.push(Buffer.from(out.subarray((w + 3) * 4, (w + 3) * 4 + length)).toString());
      w += 3 + ((length + 3) >> 2);
    }
    assert.deepEqual(found, ['hello, ', 'peek']);
    assert.equal(ring.peek(flows, next, out), next, 'from where the last look ended: nothing new');
    assert.equal(new Uint32Array(out.buffer)[0], 0);
    // Nothing was taken, and the checksums the look completed are not completed twice.
    let data = '';
    drain(ring, rx, (i) => {
      if (rx.sport[i] === clientPort && rx.payloadLength[i] > 0) {
        data += Buffer.from(rx.payload.subarray(rx.payloadOffset[i], rx.payloadOffset[i] + rx.payloadLength[i])).toString();
      }
    });
    assert.equal(data, 'hello, peek');
    assert.equal(counter(ring.counters, 'dropBadTcpChecksum'), 0);
  } finally {
    ring.close();
    v3.close();
    await stop(server);
  }
});

test('receiveUrgent() takes what is not a SYN ahead of the SYNs before it; receive() gets each other frame once', { skip }, async () => {
  const server = await serverIn(pair.responder, PORT);
  const rx = new BatchView();
  const ring = openRing(pair, { rxBatch: rx.buffer, lowLatency: true });
  const v3 = openRing(pair, { ports: [PORT + 1] });
  const { kinds } = addon.constants;
  try {
    assert.equal(v3.receiveUrgent(), 0, 'a TPACKET_V3 ring takes nothing early');
    const clientPort = 40125;
    await runIn(pair.peer, `
      const s = require('net').connect({ host: ${JSON.stringify(pair.responderV4)}, port: ${PORT}, localPort: ${clientPort} });
      s.on('connect', () => { s.write('urgent'); setTimeout(() => s.end(), 50); });
      s.on('close', () => process.exit(0));
      s.on('error', () => process.exit(1));
    `);
    const mine = (i: number): boolean => rx.sport[i] === clientPort;
    let early: number[] = [];
    assert.ok(await waitFor(() => {
      const n = ring.receiveUrgent();
      for (let i = 0; i < n; i++) if (mine(i)) early.push(rx.kind[i]);
      return early.length >= 3;
    }), 'the final ACK and the data came early');
    assert.ok(!early.includes(kinds.syn), 'no SYN among them');
    assert.ok(early.every((k) => k === kinds.ack || k === kinds.rst));
    const framesAfterUrgent = counter(ring.counters, 'rxFrames');
    const rest: number[] = [];
    drain(ring, rx, (i) => { if (mine(i)) rest.push(rx.kind[i]); });
    assert.deepEqual(rest, [kinds.syn], 'receive() gets the SYN, and nothing twice');
    assert.equal(counter(ring.counters, 'rxFrames'), framesAfterUrgent + 1, 'each frame counted once');
    early = [];
    assert.equal(ring.receiveUrgent(), 0);
  } finally {
    ring.close();
    v3.close();
    await stop(server);
  }
});

test('gatewayMacs() gives the resolved MACs of the gateways that routes out of the interface name, each once', { skip }, async () => {
  const routed = createRoutedLab('ringgw', 76);
  const r = routed.responder;
  const ring = new addon.Ring({
    iface: r.iface, netns: r.ns.path, addrs: [r.v4, r.v6], ports: [PORT], cookies: 'on', secrets: CookieSecrets.create(0).view,
    rxBatch: new ArrayBuffer(addon.batchLayout.byteLength), txBatch: new ArrayBuffer(addon.batchLayout.byteLength),
  });
  const hex = (macs: Uint8Array): string[] =>
    Array.from({ length: macs.length / 6 }, (_, i) => Buffer.from(macs.subarray(i * 6, i * 6 + 6)).toString('hex')).sort();
  const gateway = Buffer.from(routed.gateway.mac).toString('hex');
  try {
    // Routes to the far network via the gateway (IPv4 and IPv6, one MAC);
    // nothing has resolved it yet: none, and the kernel is asked.
    assert.deepEqual(hex(ring.gatewayMacs()), []);
    assert.ok(counter(ring.counters, 'nextHopProbes') >= 1, 'the gateway\'s resolution was asked for');
    assert.ok(await waitFor(() => hex(ring.gatewayMacs()).length > 0), 'resolved');
    assert.deepEqual(hex(ring.gatewayMacs()), [gateway]);

    // An on-link host the responder has a neighbour entry for is no gateway.
    const mac = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').match(/../g)!.join(':');
    r.ns.ip(['neigh', 'replace', routed.peer.v4, 'lladdr', mac(routed.peer.mac), 'dev', r.iface, 'nud', 'permanent']);
    assert.deepEqual(hex(ring.gatewayMacs()), [gateway]);

    // The kernel's neighbour table is followed: the IPv4 gateway moves.
    const moved = '02aabbccdd01';
    r.ns.ip(['neigh', 'replace', routed.gateway.v4, 'lladdr', mac(Buffer.from(moved, 'hex')), 'dev', r.iface, 'nud', 'permanent']);
    assert.ok(await waitFor(() => hex(ring.gatewayMacs()).includes(moved)), 'the new MAC');
    assert.deepEqual(hex(ring.gatewayMacs()), [gateway, moved].sort());

    // And its routes: without the routes via the gateway, no gateway.
    r.ns.ip(['route', 'del', routed.farV4]);
    r.ns.ip(['-6', 'route', 'del', routed.farV6]);
    assert.ok(await waitFor(() => ring.gatewayMacs().length === 0), 'no route names a gateway');
  } finally {
    ring.close();
    routed.lab.destroy();
  }
  const source = openRing(pair, { nextHop: 'source' });
  try {
    assert.equal(source.gatewayMacs().length, 0, 'no mirror with nextHop \'source\'');
  } finally {
    source.close();
  }
  assert.throws(() => source.gatewayMacs(), /closed/);
});
