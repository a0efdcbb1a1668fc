// protect()'s calm behind the door, on real packets in a pair lab: below the
// calm rate the kernel's own listener (protect()'s, with the handoffs' mark)
// makes the connections and the server gets them as from its own accept;
// above it syncache answers as always; both at once serve every client.
// What the wire can do to it: a forged ACK meets the listener's lookup and
// is not reset by it; kernel cookie ACKs (the listener's own syncookies)
// pass; spoofed SYNs and RSTs on a calm connection do not reset it. And the
// edges of the contract: close() leaves no listener, io 'packet' refuses a
// calm rate, a port someone else listens on is refused with nothing left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { vethXdpUnavailableReason } from '../../lib/lab/veth-xdp.js';
import { doorUnavailableReason } from '../../lib/door/door.js';
import { protect, DEFAULT_CALM_RATE, type ProtectOptions } from '../../lib/handoff/protect.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';
import { track } from '../helpers/children.js';
import { keepAliveClient } from '../helpers/keep-alive-client.js';
import { waitFor } from '../native/ring-helpers.js';
import { syncacheMetrics } from '../../lib/metrics/prometheus.js';

const skip = labUnavailableReason() ?? doorUnavailableReason() ?? vethXdpUnavailableReason();
const PORT = 8080;
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('calm', 105, { xdp: true });
  // A local sender's checksum offload leaves its segments unfinished where XDP sees them.
  pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tx', 'off']);
  // Crafted handshakes come from ports no socket of the peer's owns: its
  // kernel would answer our SYN-ACKs with RSTs. Only those ports' RSTs go.
  pair.peer.exec('nft', ['-f', '-'], 'table inet sc_calm { chain out { type filter hook output priority 0; tcp sport 41000-41999 tcp flags rst drop; }; }');
});
after(() => pair?.lab.destroy());

function options(extra: Partial<ProtectOptions> = {}): ProtectOptions {
  return { iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4, pair.responderV6], ports: [PORT], io: 'xdp', ...extra };
}

/** `count` GETs from the peer's kernel stack, `parallel` at a time, each on its own connection; resolves with the bodies that came back. */
function getFromPeer(host: string, count: number, parallel = 1): Promise<string[]> {
  const script = `
    const http = require('node:http');
    const bodies = [];
    let started = 0, done = 0;
    const one = () => {
      if (started === ${count}) return;
      const i = started++;
      const req = http.get({ host: ${JSON.stringify(host)}, port: ${PORT}, path: '/' + i, agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => { bodies.push(body); next(); });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => { bodies.push('error ' + (e.code ?? e.message)); next(); });
    };
    const next = () => { if (++done === ${count}) console.log(JSON.stringify(bodies)); else one(); };
    for (let i = 0; i < ${parallel}; i++) one();`;
  const child = track(spawn(...pair.peer.wrap(process.execPath, ['-e', script]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim() === '' ? [] : JSON.parse(out) as string[])));
}

/** Runs a scapy script in the peer namespace. */
function scapy(lines: string[]): string {
  return pair.peer.exec(PYTHON, ['-c', ['import logging', "logging.getLogger('scapy.runtime').setLevel(logging.ERROR)", 'from scapy.all import *', 'conf.verb = 0', ...lines].join('\n')]);
}

/** scapy in the peer namespace while this process's event loop runs (syncache answers on this thread); resolves with what it printed. */
function scapyAsync(lines: string[]): Promise<string> {
  const child = track(spawn(...pair.peer.wrap(PYTHON, ['-c', ['import logging', "logging.getLogger('scapy.runtime').setLevel(logging.ERROR)", 'from scapy.all import *', 'conf.verb = 0', ...lines].join('\n')]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out)));
}

const server = (): http.Server => http.createServer((req, res) => res.end(`reply ${req.url}`));

test('calm behind the door: below the rate the kernel\'s listener makes every connection (IPv4 and IPv6), the server serves them, syncache hands none over', { skip }, async () => {
  const srv = server();
  const p = await protect(srv, options());
  try {
    for (const host of [pair.responderV4, pair.responderV6]) {
      const bodies = await getFromPeer(host, 10);
      assert.deepEqual(bodies, Array.from({ length: 10 }, (_, i) => `reply /${i}`));
    }
    const h = p.stats();
    const s = p.responder.stats();
    assert.equal(h.calm, DEFAULT_CALM_RATE);
    assert.equal(h.calmConnections, 20, JSON.stringify(h));
    assert.equal(h.handoffs, 0, 'syncache made no socket');
    assert.equal(s.doorCalm, 20, `every SYN went to the kernel: ${JSON.stringify(s)}`);
    assert.equal(s.added + s.sendcookie, 0, 'syncache answered no SYN');
    assert.ok(s.doorKernelSocket >= 2 * h.calmConnections, `the final ACK and the request of each reached the kernel socket: ${JSON.stringify(s)}`);
    const metrics = await syncacheMetrics(p).metrics();
    assert.match(metrics, new RegExp(`^syncache_calm_connections_total ${h.calmConnections}$`, 'm'));
    assert.match(metrics, /^syncache_calm_rate 10000$/m);
    assert.match(metrics, new RegExp(`^syncache_door_calm_total ${s.doorCalm}$`, 'm'));

  } finally {
    await p.close();
  }
  assert.doesNotMatch(pair.responder.exec('ss', ['-Hltn', `sport = :${PORT}`]), /LISTEN/, 'close() left no listener');
});

test('calm behind the door: above the rate syncache answers the rest, and every client is served', { skip }, async () => {
  const srv = server();
  // 10 SYNs a second: one per 100 ms window passes to the kernel.
  const p = await protect(srv, options({ calm: 10 }));
  try {
    const bodies = await getFromPeer(pair.responderV4, 60, 20);
    assert.equal(bodies.length, 60);
    assert.deepEqual([...bodies].sort(), Array.from({ length: 60 }, (_, i) => `reply /${i}`).sort());
    const h = p.stats();
    const s = p.responder.stats();
    assert.equal(h.calmConnections + h.handoffs, 60, JSON.stringify(h));
    assert.ok(h.handoffs >= 30, `the burst went past the rate, so syncache took most: ${JSON.stringify(h)}`);
    assert.ok(s.doorCalm >= 1 && s.doorCalm === h.calmConnections, `the first SYNs of a window went to the kernel: ${JSON.stringify(s)}`);
  } finally {
    await p.close();
  }
});

test('calm behind the door: a SYN flood above the rate stays with syncache (the kernel\'s listener sees a window\'s worth), clients served during and after it', { skip: skip ?? craftedFramesUnavailableReason() }, async () => {
  const srv = server();
  const p = await protect(srv, options({ calm: 100 }));
  try {
    // 3000 SYNs from ports no socket has, as fast as scapy sends them (thousands a second, far above 100).
    const flood = track(spawn(...pair.peer.wrap(PYTHON, ['-c', [
      'import logging', "logging.getLogger('scapy.runtime').setLevel(logging.ERROR)", 'from scapy.all import *', 'conf.verb = 0',
      `send([IP(src='${pair.peerV4}', dst='${pair.responderV4}')/TCP(sport=20000 + i, dport=${PORT}, flags='S', seq=i) for i in range(3000)])`,
    ].join('\n')]), { stdio: 'ignore' }));
    const during = getFromPeer(pair.responderV4, 5);
    await new Promise((resolve) => flood.on('close', resolve));
    assert.deepEqual(await during, Array.from({ length: 5 }, (_, i) => `reply /${i}`));
    const s = p.responder.stats();
    assert.ok(s.added + s.sendcookie >= 2500, `syncache answered the flood: ${JSON.stringify(s)}`);
    assert.ok(s.doorCalm < 600, `the kernel saw no more than a few windows' worth: ${JSON.stringify(s)}`);
    // Calm again one window after the flood.
    const calmBefore = p.stats().calmConnections;
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.deepEqual(await getFromPeer(pair.responderV4, 3), ['reply /0', 'reply /1', 'reply /2']);
    assert.equal(p.stats().calmConnections, calmBefore + 3, 'after the flood the kernel takes handshakes again');
  } finally {
    await p.close();
  }
});

// What the wire can do to the calm path.

test('calm behind the door: forged ACKs (bare, with data, with FIN) for no connection meet the listener\'s lookup, are not passed to it (it would reset them) and go unanswered, counted failcookie, IPv4 and IPv6', { skip: skip ?? craftedFramesUnavailableReason() }, async () => {
  const p = await protect(server(), options());
  try {
    const before = p.responder.stats();
    for (const [ip, dst] of [['IP', pair.responderV4], ['IPv6', pair.responderV6]]) {
      const answers = scapy([
        `forged = [TCP(sport=41030, dport=${PORT}, flags='A', seq=0x1234567, ack=0x89abcdef), TCP(sport=41031, dport=${PORT}, flags='PA', seq=0x2345678, ack=0x9abcdef0)/b'GET / HTTP/1.0\\r\\n\\r\\n', TCP(sport=41032, dport=${PORT}, flags='FA', seq=0x3456789, ack=0xabcdef01)]`,
        `print(sum(1 for f in forged if sr1(${ip}(dst='${dst}')/f, timeout=0.7) is not None))`,
      ]).trim();
      assert.equal(answers, '0', `no reply (a RST from the listener) to any of them over ${ip}`);
    }
    // (scapy ran synchronously: the ring is read from now on.)
    assert.ok(await waitFor(() => p.responder.stats().failcookie - before.failcookie >= 6), `syncache dropped them: ${JSON.stringify(p.responder.stats())}`);
    const s = p.responder.stats();
    assert.equal(s.doorKernelSocket - before.doorKernelSocket, 0, 'none went to the kernel');
    assert.deepEqual(await getFromPeer(pair.responderV4, 1), ['reply /0'], 'a real client is still served');
  } finally {
    await p.close();
  }
});

test("calm behind the door: when the kernel's listener answers with its own cookies (tcp_syncookies=2), their ACKs pass to it and the connections are made, IPv4 and IPv6", { skip }, async () => {
  const sysctl = 'net.ipv4.tcp_syncookies';
  const was = pair.responder.exec('sysctl', ['-n', sysctl]).trim();
  pair.responder.sysctl(sysctl, 2);
  const p = await protect(server(), options());
  try {
    for (const host of [pair.responderV4, pair.responderV6]) {
      assert.deepEqual(await getFromPeer(host, 5), Array.from({ length: 5 }, (_, i) => `reply /${i}`));
    }
    const s = p.responder.stats();
    assert.equal(p.stats().calmConnections, 10);
    assert.equal(s.failcookie, 0, `no kernel cookie ACK was taken for a forged one of ours: ${JSON.stringify(s)}`);
  } finally {
    await p.close();
    pair.responder.sysctl(sysctl, Number(was));
  }
});

test('calm behind the door: spoofed SYNs and RSTs on a connection the kernel\'s listener made are its socket\'s to judge (RFC 5961): the client is not reset and is served again', { skip: skip ?? craftedFramesUnavailableReason() }, async () => {
  const p = await protect(http.createServer({ keepAlive: true }, (req, res) => res.end('ok')), options());
  const client = keepAliveClient(pair, PORT);
  try {
    assert.equal(await client.get(), 'status 200');
    assert.equal(p.stats().calmConnections, 1, 'the first SYN of a window is the kernel\'s');
    const peer = pair.responder.exec('ss', ['-Htn', 'state', 'established', `( sport = :${PORT} )`]).trim().split(/\s+/).pop()!;
    const peerPort = Number(peer.slice(peer.lastIndexOf(':') + 1));
    assert.ok(peerPort > 0, `the client's port from ss: ${peer}`);
    const base = `IP(src='${pair.peerV4}', dst='${pair.responderV4}')/TCP(sport=${peerPort}, dport=${PORT}`;
    scapy([
      `send(${base}, flags='S', seq=0x10000000))`,
      ...Array.from({ length: 8 }, (_, i) => `send(${base}, flags='R', seq=${(i * 0x1fffffff + 12345) >>> 0}))`),
    ]);
    assert.equal(await client.get(), 'status 200', 'the connection lives on');
    assert.equal(p.stats().handoffs, 0, 'syncache made no socket for the spoofed SYN');
  } finally {
    client.end();
    await p.close();
  }
});

test('calm behind the door: a SYN resent after the rate went up still reaches the kernel that holds its handshake, which answers with the same ISN (syncache would answer with another, and the request socket reset the client that ACKs it)', { skip: skip ?? craftedFramesUnavailableReason() }, async () => {
  // 10 SYNs a second: the first of a 100 ms window is the kernel's, the rest syncache's.
  const p = await protect(server(), options({ calm: 10 }));
  try {
    const isns = (await scapyAsync([
      `syn = IP(dst='${pair.responderV4}')/TCP(sport=41200, dport=${PORT}, flags='S', seq=1000)`,
      'first = sr1(syn, timeout=1)',
      // 20 SYNs of other ports, then the resent one, in one burst: the window is past the rate when it arrives.
      `ans, _ = sr([IP(dst='${pair.responderV4}')/TCP(sport=41201 + i, dport=${PORT}, flags='S', seq=2000) for i in range(20)] + [syn], timeout=0.5)`,
      'again = next((r for q, r in ans if q[TCP].sport == 41200), None)',
      "print(first[TCP].seq if first else 'none', again[TCP].seq if again else 'none')",
    ])).trim().split(' ');
    assert.notEqual(isns[0], 'none', 'the kernel answered the first SYN');
    assert.equal(isns[1], isns[0], 'the resent SYN got the kernel\'s SYN-ACK again');
    assert.ok(await waitFor(() => p.responder.stats().added + p.responder.stats().sendcookie >= 1), 'the SYNs in between were syncache\'s');
  } finally {
    await p.close();
  }
});

test("calm: protect() with io 'packet' refuses a calm rate before anything opens; a port someone else listens on is refused with the door gone", { skip }, async () => {
  await assert.rejects(protect(server(), options({ io: 'packet', calm: 100 })), /options\.calm needs the XDP door/);
  await assert.rejects(protect(server(), options({ calm: -1 })), /options\.calm must be an integer from 0 to 100000000/);
  const squatter = track(spawn(...pair.responder.wrap(process.execPath, ['-e', `require('net').createServer().listen(${PORT}, ${JSON.stringify(pair.responderV4)}, () => console.log('ready'))`]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  try {
    await new Promise((resolve) => squatter.stdout!.once('data', resolve));
    await assert.rejects(protect(server(), options()), /binding the calm listener: Address already in use \(EADDRINUSE\)\. something else listens on this address and port: stop it, or pass calm: 0/);
    assert.doesNotMatch(pair.responder.ip(['link', 'show', 'dev', pair.responderIface]), /prog\/xdp/, 'the door left');
    const p = await protect(server(), options({ calm: 0 }));
    await p.close();
  } finally {
    squatter.kill();
  }
});
