// The responder on real packets: a pair lab (peer and responder namespaces
// joined by a veth), the kernel's TCP stack as the client, nftables in the
// PEER namespace to drop the client's final ACK where a test needs a
// half-open entry, and an injected clock for the retransmit schedule.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createPairLab, labUnavailableReason, type Namespace, type PairLab } from '../../lib/lab/netns.js';
import { Responder, type ResponderOptions } from '../../lib/responder/responder.js';
import { ManualClock } from '../../lib/engine/clock.js';
import type { Handshake } from '../../lib/engine/engine.js';
import { addon } from '../../lib/native/addon.js';
import { labAddon } from '../../lib/lab/lab-addon.js';
import { track } from '../helpers/children.js';

const skip = labUnavailableReason();
const PORT = 80;
let pair: PairLab;

before(() => {
  if (skip) return;
  // Subnet 0: 198.18.0.1 / 2001:db8::1, the addresses of the malformed-frame corpus.
  pair = createPairLab('resp', 0);
});
after(() => pair?.lab.destroy());

function open(extra: Partial<ResponderOptions> = {}): Promise<Responder> {
  return Responder.open({
    iface: pair.responderIface,
    netns: pair.responder.path,
    addrs: [pair.responderV4, pair.responderV6],
    ports: [PORT],
    ...extra,
  } as ResponderOptions);
}

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}


/**
 * A kernel TCP client in the peer namespace. It prints `connected <localPort>`
 * on connect, then obeys stdin lines: `send TEXT`, `rst`, `end`.
 */
function client(host: string, port = PORT): { child: ChildProcess; connected: Promise<number>; command(line: string): void; exited: Promise<void> } {
  const [cmd, args] = pair.peer.wrap(process.execPath, ['-e', `
    const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port} });
    s.on('connect', () => console.log('connected ' + s.localPort));
    s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });
    require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
      if (l.startsWith('send ')) s.write(l.slice(5));
      else if (l === 'rst') { s.resetAndDestroy(); setTimeout(() => process.exit(0), 50); }
      else if (l === 'end') { s.destroy(); process.exit(0); }
    });
    setTimeout(() => process.exit(0), 20000);
  `]);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  track(child);
  const exited = new Promise<void>((resolve) => child.on('exit', () => { resolve(); }));
  const connected = new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const m = /connected (\d+)/.exec(String(d));
      if (m) resolve(Number(m[1]));
      else if (String(d).startsWith('error')) reject(new Error(String(d).trim()));
    });
  });
  return { child, connected, exited, command: (line) => child.stdin!.write(`${line}\n`) };
}

/** nftables in the peer namespace: drop the client's pure ACKs to PORT, count SYN-ACKs it receives. */
function peerFilter(ns: Namespace): { synAcks(): number; allowAcks(): void; remove(): void } {
  const table = 'sctest';
  ns.exec('nft', [`
    table inet ${table} {
      chain out { type filter hook output priority 0; tcp dport ${PORT} tcp flags & (fin|syn|rst|psh|ack) == ack drop; }
      chain in { type filter hook input priority 0; tcp sport ${PORT} tcp flags & (syn|ack) == (syn|ack) counter; }
    }`]);
  return {
    synAcks() {
      const out = JSON.parse(ns.exec('nft', ['-j', 'list', 'chain', 'inet', table, 'in'])) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> };
      for (const item of out.nftables) for (const e of item.rule?.expr ?? []) if (e.counter) return e.counter.packets;
      return 0;
    },
    allowAcks() {
      ns.exec('nft', ['flush', 'chain', 'inet', table, 'out']);
    },
    remove() {
      ns.exec('nft', ['delete', 'table', 'inet', table]);
    },
  };
}

test('an address that is not on the interface is refused with a clear error, and nothing is left installed', { skip }, async () => {
  // 198.18.0.99 is in the lab's subnet but on no interface; 198.18.0.2 is the peer's.
  for (const addr of ['198.18.0.99', '198.18.0.2', '2001:db8::99']) {
    await assert.rejects(open({ addrs: [pair.responderV4, addr] }), (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, 'EADDRNOTAVAIL', error.message);
      assert.match(error.message, new RegExp(`^${addr.replace(/\./g, '\\.')} is not configured on ${pair.responderIface} in netns ${pair.responder.name}: .*ip addr add`));
      return true;
    });
  }
  assert.equal(pair.responder.exec('nft', ['list', 'tables']).trim(), '');
});

test('a kernel client connects over IPv4 and IPv6 and the event carries its options', { skip }, async () => {
  const r = await open({ syncookies: 'off' });
  try {
    for (const [host, mss] of [[pair.responderV4, 1460], [pair.responderV6, 1440]] as const) {
      const got = new Promise<Handshake>((resolve) => r.once('handshake', resolve));
      const c = client(host);
      const localPort = await c.connected;
      const h = await got;
      assert.equal(h.remoteAddress, host === pair.responderV4 ? pair.peerV4 : pair.peerV6);
      assert.equal(h.localAddress, host);
      assert.equal(h.remotePort, localPort);
      assert.equal(h.localPort, PORT);
      assert.equal(h.family, host === pair.responderV4 ? 4 : 6);
      assert.equal(h.mss, mss);
      assert.ok(h.wscale >= 0, 'Linux sends a window scale');
      assert.equal(h.sackPermitted, true);
      assert.ok(h.timestamps !== null, 'Linux sends timestamps');
      assert.equal(h.viaCookie, false);
      assert.equal(h.retransmits, 0);
      assert.ok(h.ackTime >= h.synTime);
      c.command('end');
      await c.exited;
    }
    const s = r.stats();
    assert.equal(s.completed, 2);
    assert.equal(r.cacheSize, 0);
  } finally {
    await r.close();
  }
});

test("a completed connection's later segments (data, FIN) are skipped, not taken for new handshakes", { skip }, async () => {
  const r = await open({ syncookies: 'on', ports: [PORT + 2] });
  try {
    let events = 0;
    r.on('handshake', () => { events++; });
    const c = client(pair.responderV4, PORT + 2);
    await c.connected;
    await waitFor(() => events === 1);
    c.command('send more data');
    c.command('end');
    await c.exited;
    await waitFor(() => r.stats().skippedHandedOver >= 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(events, 1);
    const s = r.stats();
    assert.equal(s.completed, 1);
    assert.equal(s.recvcookie, 0);
  } finally {
    await r.close();
  }
});

test('with the final ACK dropped, SYN-ACKs are retransmitted at 1, 2 and 4 s and the entry goes stale', { skip }, async () => {
  const clock = new ManualClock(5_000_000);
  const r = await open({ syncookies: 'off', clock });
  let filter: ReturnType<typeof peerFilter> | undefined;
  try {
    const f = (filter = peerFilter(pair.peer));
    const c = client(pair.responderV4);
    await c.connected;
    await waitFor(() => f.synAcks() === 1);
    assert.equal(r.cacheSize, 1);
    const schedule: Array<[number, number]> = [[999, 1], [1, 2], [1999, 2], [1, 3], [4000, 4]];
    for (const [advance, expected] of schedule) {
      clock.advance(advance);
      r.tick();
      await waitFor(() => f.synAcks() >= expected);
      assert.equal(f.synAcks(), expected, `after +${advance} ms`);
    }
    clock.advance(8000);
    r.tick();
    const s = r.stats();
    assert.equal(s.retransmitted, 3);
    assert.equal(s.stale, 1);
    assert.equal(r.cacheSize, 0);
    c.command('end');
    await c.exited;
  } finally {
    filter?.remove();
    await r.close();
  }
});

test('a client RST in window drops its entry', { skip }, async () => {
  const r = await open({ syncookies: 'off' });
  let filter: ReturnType<typeof peerFilter> | undefined;
  try {
    filter = peerFilter(pair.peer);
    const c = client(pair.responderV4);
    await c.connected;
    await waitFor(() => r.cacheSize === 1);
    c.command('rst');
    await waitFor(() => r.stats().reset === 1);
    assert.equal(r.cacheSize, 0);
    await c.exited;
  } finally {
    filter?.remove();
    await r.close();
  }
});

test('syncookies=only: no state, the handshake completes with wscale and SACK recovered from the cookie', { skip }, async () => {
  const r = await open({ syncookies: 'only' });
  try {
    const got = new Promise<Handshake>((resolve) => r.once('handshake', resolve));
    const c = client(pair.responderV4);
    await c.connected;
    const h = await got;
    assert.equal(h.viaCookie, true);
    assert.equal(h.mss, 1460);
    assert.ok(h.wscale >= 0 && h.wscale <= 14);
    assert.equal(h.sackPermitted, true);
    assert.equal(r.cacheSize, 0);
    assert.equal(r.stats().recvcookie, 1);
    c.command('end');
    await c.exited;
  } finally {
    await r.close();
  }
});

test('syncookies=on: an ACK whose entry was evicted completes through its cookie', { skip }, async () => {
  const r = await open({ syncookies: 'on', hashSize: 1, bucketLimit: 1 });
  let filter: ReturnType<typeof peerFilter> | undefined;
  try {
    filter = peerFilter(pair.peer);
    const first = client(pair.responderV4);
    await first.connected;
    await waitFor(() => r.cacheSize === 1);
    const second = client(pair.responderV4);
    await second.connected;
    await waitFor(() => r.stats().bucketoverflow === 1);
    const got = new Promise<Handshake>((resolve) => r.once('handshake', resolve));
    first.command('send hello');
    const h = await got;
    assert.equal(h.viaCookie, true);
    assert.equal(h.payloadLength, 5);
    assert.equal(h.sackPermitted, true);
    assert.ok(h.wscale >= 0);
    first.command('end');
    second.command('end');
    await Promise.all([first.exited, second.exited]);
  } finally {
    filter?.remove();
    await r.close();
  }
});

test('a cookie whose secrets have rotated out is refused', { skip }, async () => {
  const r = await open({ syncookies: 'only' });
  let filter: ReturnType<typeof peerFilter> | undefined;
  try {
    filter = peerFilter(pair.peer);
    const c = client(pair.responderV4);
    await c.connected;
    await waitFor(() => r.stats().sendcookie === 1);
    r.secrets.rotate();
    r.secrets.rotate();
    c.command('send late');
    await waitFor(() => r.stats().failcookie >= 1);
    assert.equal(r.stats().completed, 0);
    c.command('end');
    await c.exited;
  } finally {
    filter?.remove();
    await r.close();
  }
});

test('malformed frames are counted and dropped, and the responder still answers', { skip }, async () => {
  const corpus = JSON.parse(readFileSync(new URL('../../../test/fixtures/malformed-frames.json', import.meta.url), 'utf8')) as { frames: Array<{ hex: string; counter: string }> };
  const r = await open({ syncookies: 'on' });
  try {
    const before = r.stats();
    // A raw packet socket in the peer namespace sends the corpus as it is.
    // Addressed to the responder's MAC: the ring's filter drops frames for
    // other hosts (PACKET_OTHERHOST) before the parser sees them.
    const mac = Buffer.from(pair.responder.macOf(pair.responderIface)).toString('hex');
    const hex = corpus.frames.map((f) => (f.hex.length >= 12 ? mac + f.hex.slice(12) : f.hex));
    pair.peer.exec('python3', ['-c', `
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((${JSON.stringify(pair.peerIface)}, 0))
for h in sys.stdin.read().split():
    try:
        s.send(bytes.fromhex(h))
    except OSError:
        pass  # shorter than an Ethernet header: the kernel will not send it
    time.sleep(0.001)
`], hex.join('\n'));
    const expected = new Map<string, number>();
    for (const f of corpus.frames) expected.set(f.counter, (expected.get(f.counter) ?? 0) + 1);
    await new Promise((res) => setTimeout(res, 200));
    const after = r.stats();
    const delta = (name: string) => after[name] - before[name];
    const drops = addon.counterNames.filter((n) => n.startsWith('drop'));
    let dropped = 0;
    for (const name of drops) {
      assert.ok(delta(name) <= (expected.get(name) ?? 0), `${name}: ${delta(name)} more than the corpus holds`);
      dropped += delta(name);
    }
    // Every frame the filter let through bumped exactly one counter, and none was accepted as a handshake.
    const parsed = delta('parsedSyn') + delta('parsedAck') + delta('parsedRst') + delta('parsedUnreach');
    assert.equal(dropped + parsed, delta('rxFrames'));
    assert.ok(dropped > 0);
    assert.equal(delta('completed'), 0);
    // Still answering.
    const got = new Promise<Handshake>((resolve) => r.once('handshake', resolve));
    const c = client(pair.responderV4);
    await c.connected;
    await got;
    c.command('end');
    await c.exited;
  } finally {
    await r.close();
  }
});

test('a flood of 10 x cacheLimit distinct SYNs leaves the cache at its limit and memory flat', { skip }, async () => {
  const cacheLimit = 1024;
  const r = await open({ syncookies: 'off', hashSize: 256, bucketLimit: 4, cacheLimit });
  try {
    const flood = () => labAddon.flood({
      iface: pair.peerIface, netns: pair.peer.path, dstMac: pair.responder.macOf(pair.responderIface),
      dstAddr: pair.responderV4, dstPort: PORT, srcNet: '198.19.0.0/16', rate: 30 * cacheLimit, seconds: 0.5,
    });
    const first = await flood();
    assert.ok(first.sent >= 10 * cacheLimit, `sent ${first.sent}`);
    await waitFor(() => r.stats().parsedSyn >= first.sent * 0.99, 5000).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(r.stats())}`); });
    assert.equal(r.cacheSize, cacheLimit);
    global.gc?.();
    const heap = process.memoryUsage().heapUsed;
    const second = await flood();
    await waitFor(() => r.stats().parsedSyn >= (first.sent + second.sent) * 0.99);
    global.gc?.();
    assert.equal(r.cacheSize, cacheLimit);
    const grew = process.memoryUsage().heapUsed - heap;
    assert.ok(grew < 8 * 1024 * 1024, `heap grew ${grew} bytes over a second flood of ${second.sent} SYNs`);
    const s = r.stats();
    assert.ok(s.bucketoverflow + s.cacheoverflow > 0);
    assert.equal(s.synackssent - s.retransmitted, s.parsedSyn, 'every SYN answered');
  } finally {
    await r.close();
  }
});

test('poll() reads the ring while this thread is busy: SYNs that land meanwhile are answered without the event loop', { skip }, async () => {
  const r = await open({ syncookies: 'only', lowLatency: true });
  try {
    const before = r.stats();
    // The generator sends from a thread-pool thread while this one spins:
    // the ring's own callbacks cannot run, only poll() reads it.
    const flood = labAddon.flood({
      iface: pair.peerIface, netns: pair.peer.path, dstMac: pair.responder.macOf(pair.responderIface),
      dstAddr: pair.responderV4, dstPort: PORT, srcNet: '198.19.0.0/16', rate: 20_000, seconds: 0.3,
    });
    // Counts what the flood sent (SYNs), not rows: a straggler of an earlier
    // test (an ACK) may be a row too.
    let handled = 0;
    const end = Date.now() + 3000;
    while (r.stats().parsedSyn - before.parsedSyn < 200 && Date.now() < end) handled += r.poll();
    const after = r.stats();
    assert.ok(after.parsedSyn - before.parsedSyn >= 200, `poll() read ${after.parsedSyn - before.parsedSyn} SYNs in 3 s of spinning`);
    assert.ok(handled >= after.parsedSyn - before.parsedSyn, 'every SYN was read by poll()');
    assert.ok(after.synackssent - before.synackssent >= 200, 'answered, not only read');
    await flood;
  } finally {
    await r.close();
  }
  assert.equal(r.poll(), 0, 'a closed responder reads nothing');
});

test('poll() leaves the ring to the event loop while the cache is paused (a flood)', { skip }, async () => {
  const r = await open({ syncookies: 'on', lowLatency: true, cacheLimit: 64, hashSize: 64, bucketLimit: 4 });
  try {
    const flood = labAddon.flood({
      iface: pair.peerIface, netns: pair.peer.path, dstMac: pair.responder.macOf(pair.responderIface),
      dstAddr: pair.responderV4, dstPort: PORT, srcNet: '198.19.0.0/16', rate: 20_000, seconds: 0.5,
    });
    const end = Date.now() + 3000;
    while (r.stats().pauses === 0 && Date.now() < end) r.poll();
    assert.equal(r.stats().pauses, 1, 'the cache ran out and paused');
    // The flood goes on; poll() takes none of it.
    let handled = 0;
    const spin = Date.now() + 100;
    while (Date.now() < spin) handled += r.poll();
    assert.equal(handled, 0);
    await flood;
  } finally {
    await r.close();
  }
});

test('workers: 2 - SYN and ACK of each flow land in one shard, counters add up', { skip }, async () => {
  // Its own port: FINs that earlier tests' clients still retransmit go to PORT.
  const port = PORT + 1;
  const r = await open({ syncookies: 'off', workers: 2, ports: [port] });
  try {
    let completed = 0;
    r.on('handshake', () => { completed++; });
    const clients = Array.from({ length: 20 }, (_, i) => client(i % 2 ? pair.responderV6 : pair.responderV4, port));
    await Promise.all(clients.map((c) => c.connected));
    await waitFor(() => completed === 20);
    // In syncookies=off an ACK that reached the other shard could never complete.
    assert.equal(r.stats().ackunknown, 0, JSON.stringify(r.stats()));
    for (const c of clients) c.command('end');
    await Promise.all(clients.map((c) => c.exited));
    await waitFor(() => r.stats().completed === 20, 2000);
    assert.equal(r.stats().added, 20);
  } finally {
    await r.close();
  }
});
