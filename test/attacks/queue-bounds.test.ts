// Attacks on the responder's queues, as crafted frames from the peer
// namespace (scapy) against a protect()ed server, with the kernel's own TCP
// stack (curl) as the real client after them: data far past the window
// behind a final ACK, and frames too big for a ring slot. Each asserts that
// the process lives, what was counted, what the server got, and that curl is
// still served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';
import { createPairLab, type PairLab } from '../../lib/lab/netns.js';
import { protect, type Protection } from '../../lib/handoff/protect.js';
import { protectFor } from '../../lib/handoff/split.js';
import { track } from '../helpers/children.js';
import { Shard } from '../../lib/responder/shard.js';
import { C, Stats } from '../../lib/engine/stats.js';
import { resolveConfig } from '../../lib/engine/config.js';
import { CookieSecrets } from '../../lib/engine/cookie-secrets.js';
import { systemClock } from '../../lib/engine/clock.js';
import { addon } from '../../lib/native/addon.js';
import { writeFlowWords } from '../../lib/native/flow-words.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';

// Debian's python3 with python3-scapy (a pyenv python3 earlier on PATH may lack it).
const skip = craftedFramesUnavailableReason();
const PORT = 80;
let pair: PairLab;
let dir: string;

before(() => {
  if (skip) return;
  pair = createPairLab('qbound', 35);
  dir = mkdtempSync(join(tmpdir(), 'sc-qbound-'));
  // The crafted handshakes come from ports no socket of the peer's owns: its
  // kernel would answer our SYN-ACKs with RSTs. Only those ports' RSTs go.
  pair.peer.exec('nft', ['-f', '-'], `table inet sc_qbound {
    chain out { type filter hook output priority 0; tcp sport 41000-41999 tcp flags rst drop; }
  }`);
});
after(() => {
  pair?.lab.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// A handshake, then (once the file `go` exists) the final ACK and `segments`
// segments of `size` bytes right behind it, sent in one go; writes the file
// `sent` when they are out. Prints a line when the SYN-ACK came.
const FLOOD_BEHIND_ACK = `
import json, os, sys, time
from scapy.all import IP, TCP, AsyncSniffer, send, conf, Raw
conf.verb = 0
a = json.loads(sys.argv[1])
seen = []
sniffer = AsyncSniffer(iface=a['iface'], filter='tcp and src port %d and dst port %d' % (a['dport'], a['sport']), prn=seen.append, store=False)
sniffer.start()
time.sleep(0.3)
ip = IP(src=a['src'], dst=a['dst'])
seq = 5000
send(ip/TCP(sport=a['sport'], dport=a['dport'], flags='S', seq=seq, options=[('MSS', 1460)]), iface=a['iface'])
end = time.time() + 5
synack = None
while time.time() < end and synack is None:
    time.sleep(0.02)
    got = [p for p in seen if str(p[TCP].flags) == 'SA']
    synack = got[0] if got else None
print(json.dumps({'synack': synack is not None, 'window': synack[TCP].window if synack else 0}), flush=True)
if synack is None:
    sniffer.stop()
    sys.exit(0)
while not os.path.exists(a['go']):
    time.sleep(0.01)
ack = synack[TCP].seq + 1
frames = [ip/TCP(sport=a['sport'], dport=a['dport'], flags='A', seq=seq + 1, ack=ack)]
for k in range(a['segments']):
    frames.append(ip/TCP(sport=a['sport'], dport=a['dport'], flags='PA', seq=seq + 1 + k * a['size'], ack=ack)/Raw(b'x' * a['size']))
send(frames, iface=a['iface'])
open(a['sent'], 'w').close()
sniffer.stop()
`;

/** Blocks this thread (the responder's too) until `file` exists: frames pile up in the ring meanwhile. */
function blockUntilExists(file: string, ms = 30_000): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const end = Date.now() + ms;
  while (!existsSync(file) && Date.now() < end) Atomics.wait(cell, 0, 0, 5);
}

/** curl from the peer: the status line's code, or an error. */
function curl(): Promise<string> {
  const child = track(spawn(...pair.peer.wrap('curl', ['-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://${pair.responderV4}/`]), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

async function waitFor(check: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && !check()) await new Promise((r) => setTimeout(r, 10));
  return check();
}

async function withServer(server: net.Server, body: (p: Protection, errors: Error[]) => Promise<void>): Promise<void> {
  const p = await protect(server, {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on',
  });
  const errors: Error[] = [];
  p.on('error', (e) => errors.push(e));
  p.on('handoffError', (e) => errors.push(e));
  try {
    await body(p, errors);
  } finally {
    await p.close();
  }
}

test('data far past the advertised window behind the final ACK: the socket gets the window\'s worth, the rest is counted; curl is served', { skip }, async () => {
  const SEGMENTS = 120;
  const SIZE = 1400; // 168,000 bytes behind the final ACK, 2.5 windows
  // Bytes the server read on the attacker's connection (keyed by peer port).
  // Everyone else gets an HTTP answer to the first thing they send.
  let attackerBytes = 0;
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket); // handed-over sockets stay with the server: closed at the end
    socket.on('error', () => {});
    if (socket.remotePort === 41001) socket.on('data', (d) => (attackerBytes += d.length));
    else socket.once('data', () => socket.end('HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  });
  await withServer(server, async (p, errors) => {
    const go = join(dir, 'go'), sent = join(dir, 'sent');
    const input = JSON.stringify({
      iface: pair.peerIface, src: pair.peerV4, dst: pair.responderV4, sport: 41001, dport: PORT,
      segments: SEGMENTS, size: SIZE, go, sent,
    });
    const child = track(spawn(...pair.peer.wrap(PYTHON, ['-c', FLOOD_BEHIND_ACK, input]), { stdio: ['ignore', 'pipe', 'inherit'] }));
    const lines = createInterface({ input: child.stdout! });
    const first = await new Promise<{ synack: boolean; window: number }>((resolve) => lines.once('line', (l) => resolve(JSON.parse(l))));
    assert.equal(first.synack, true, 'the handshake got its SYN-ACK');
    const window = first.window;
    assert.equal(window, p.responder.config.window);
    // Everything the attacker sends lands in the ring before one frame of it
    // is read: the final ACK and all the data behind it in one batch.
    writeFileSync(go, '');
    blockUntilExists(sent);
    assert.ok(existsSync(sent), 'scapy sent its frames');
    assert.ok(await waitFor(() => p.stats().handoffs >= 1), 'the attacker\'s connection was handed over');
    assert.ok(await waitFor(() => p.responder.stats().holdoverwindow > 0), 'the data past the window was counted');
    assert.ok(await waitFor(() => attackerBytes >= window), `the server read the window's worth (${attackerBytes} bytes)`);
    assert.equal(attackerBytes, window, 'not a byte past the advertised window reached the socket');
    assert.equal(await curl(), '200');
    assert.deepEqual(errors, []);
  }).finally(() => {
    for (const s of sockets) s.destroy();
  });
});

// One frame of `size` bytes of TCP payload to the protected port.
const JUMBO = `
import json, sys
from scapy.all import IP, TCP, send, conf, Raw
conf.verb = 0
a = json.loads(sys.argv[1])
send(IP(src=a['src'], dst=a['dst'])/TCP(sport=41002, dport=a['dport'], flags='A', seq=1, ack=1)/Raw(b'j' * a['size']), iface=a['iface'])
`;

test('a jumbo frame longer than a ring slot is counted as truncated, never parsed as if whole; curl is served', { skip }, async () => {
  for (const [ns, iface] of [[pair.peer, pair.peerIface], [pair.responder, pair.responderIface]] as const) {
    ns.ip(['link', 'set', iface, 'mtu', '9000']);
  }
  try {
    await withServer(http.createServer((req, res) => res.end('ok')), async (p, errors) => {
      const before = p.responder.stats();
      const input = JSON.stringify({ iface: pair.peerIface, src: pair.peerV4, dst: pair.responderV4, dport: PORT, size: 8000 });
      const r = spawnSync(...pair.peer.wrap(PYTHON, ['-c', JUMBO, input]), { stdio: ['ignore', 'ignore', 'inherit'] });
      assert.equal(r.status, 0, 'scapy sent the jumbo frame');
      assert.ok(await waitFor(() => p.responder.stats().truncatedFrames > before.truncatedFrames), 'the truncated frame was counted');
      const after = p.responder.stats();
      assert.equal(after.dropBadIpLength, before.dropBadIpLength, 'not misread as a bad IP length');
      assert.equal(after.parsedAck, before.parsedAck, 'not parsed');
      assert.equal(await curl(), '200');
      assert.deepEqual(errors, []);
    });
  } finally {
    for (const [ns, iface] of [[pair.peer, pair.peerIface], [pair.responder, pair.responderIface]] as const) {
      ns.ip(['link', 'set', iface, 'mtu', '1500']);
    }
  }
});

test('privilege split: a child that stops reading gets at most the relay backlog; past it connections are closed and counted; it serves again once it reads', { skip }, async () => {
  const script = fileURLToPath(new URL('../fixtures/handed-server.js', import.meta.url));
  const child = track(fork(script, [], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] }));
  await new Promise<void>((resolve) => createInterface({ input: child.stdout! }).once('line', () => resolve()));
  const p = await protectFor(child, {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT],
  }, 1);
  const errors: Error[] = [];
  p.on('error', (e) => errors.push(e));
  try {
    child.kill('SIGSTOP'); // reads nothing from its IPC channel from now on
    // One after another, each handed over before the next starts: the first
    // is written to the channel, the second waits for the child's ack (the
    // backlog of 1), the third finds it full.
    const waiting: Array<Promise<string>> = [];
    for (let k = 1; k <= 3; k++) {
      waiting.push(curl());
      assert.ok(await waitFor(() => p.stats().handoffs === k), `connection ${k} handed over`);
    }
    assert.ok(await waitFor(() => p.stats().relayQueueFull >= 1), 'a connection was turned away');
    child.kill('SIGCONT');
    const codes = await Promise.all(waiting);
    assert.equal(codes[0], '200', 'the first is served once the child reads');
    assert.notEqual(codes[2], '200', 'the third was closed');
    assert.equal(codes.filter((c) => c === '200').length, 3 - p.stats().relayQueueFull);
    assert.equal(await curl(), '200', 'served again');
    assert.deepEqual(errors, []);
  } finally {
    child.kill('SIGCONT');
    await p.close();
    child.kill('SIGTERM');
  }
});

// A kernel client that writes `bytes` at once on connecting and prints what the server answers.
const UPLOAD = `
const net = require('node:net');
const [host, port, bytes] = process.argv.slice(1);
const s = net.connect(Number(port), host, () => s.write(Buffer.alloc(Number(bytes), 0x61)));
let got = '';
s.on('data', (d) => (got += d));
s.on('end', () => { process.stdout.write(got); s.end(); });
s.on('error', (e) => { process.stdout.write('error ' + e.code); });
`;

test('a kernel client\'s first flight as one GSO frame bigger than a ring slot: counted as truncated, and the server still gets every byte', { skip }, async () => {
  const BYTES = 100_000;
  const server = net.createServer((socket) => {
    let n = 0;
    socket.on('error', () => {});
    socket.on('data', (d) => {
      n += d.length;
      if (n >= BYTES) socket.end(`got ${n}`);
    });
  });
  // veth passes the peer's TSO segments whole: the responder's ring sees frames of up to 64 KiB.
  pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tso', 'on', 'gso', 'on']);
  await withServer(server, async (p, errors) => {
    const before = p.responder.stats().truncatedFrames;
    const child = track(spawn(...pair.peer.wrap(process.execPath, ['-e', UPLOAD, pair.responderV4, String(PORT), String(BYTES)]), { stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await new Promise((resolve) => child.on('close', resolve));
    assert.equal(out, `got ${BYTES}`);
    const after = p.responder.stats();
    console.log(`truncated ${after.truncatedFrames - before}, dropBadIpLength ${after.dropBadIpLength}, skippedHandedOver ${after.skippedHandedOver}, lateinjected ${after.lateinjected}`);
    assert.ok(after.truncatedFrames > before, 'the big frames were counted');
    assert.equal(after.dropBadIpLength, 0, 'none misread as a bad IP length');
    assert.deepEqual(errors, []);
  });
});

test('the ring\'s set of handed-over flows is bounded: past its size a flow is counted (handedoverfull), not silently left unmarked', { skip }, () => {
  const stats = new Stats();
  const shard = new Shard({
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT],
    config: resolveConfig({}), secrets: CookieSecrets.create(0).view, clock: systemClock, stats, onHandshake: () => true,
  });
  try {
    const max = addon.constants.handedOverFlowsMax;
    const flow = { family: 4 as const, remoteAddress: pair.peerV4, remotePort: 1, localAddress: pair.responderV4, localPort: PORT, irs: 1 };
    const words = writeFlowWords(flow);
    const peerPort = addon.flowLayout.peerPort;
    const peerAddress = addon.flowLayout.peerAddress;
    // Distinct flows: 2^16 ports x as many peer addresses as it takes.
    for (let i = 0; i <= max; i++) {
      words[peerPort] = i & 0xffff;
      words[peerAddress] = 0xc6130000 + (i >>> 16); // only keys: nothing is sent to them
      shard.mark(flow, true, words);
    }
    assert.equal(stats.values[C.handedoverfull], 1);
  } finally {
    shard.close();
  }
});
