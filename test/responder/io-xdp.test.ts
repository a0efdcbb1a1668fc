// io: 'xdp' - the XDP door in front of an AF_XDP ring - on real packets in a
// pair lab whose peer veth passes XDP_TX frames on (veth-xdp.ts): kernel
// clients complete handshakes as events in 'only' (the door answers their
// SYNs in the driver) and 'on' (the ring's engine answers); protect() serves
// them as kernel sockets with no gate; the door's counters add into stats();
// 'auto' takes it, also with one worker on the one queue; 'xdp' with more
// workers than receive queues refuses in one line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { vethXdpUnavailableReason } from '../../lib/lab/veth-xdp.js';
import { doorUnavailableReason } from '../../lib/door/door.js';
import { Responder } from '../../lib/responder/responder.js';
import { protect, type ProtectOptions } from '../../lib/handoff/protect.js';
import { DoorFlows } from '../../lib/door/flows.js';
import type { Door } from '../../lib/door/door.js';
import { FLOW_WORDS, writeFlowWords } from '../../lib/native/flow-words.js';
import type { Handshake } from '../../lib/engine/engine.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';
import { track } from '../helpers/children.js';
import { pythonGet, retransReport } from '../helpers/python-get.js';

const skip = labUnavailableReason() ?? doorUnavailableReason() ?? vethXdpUnavailableReason();
const PORT = 8080;
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('ioxdp', 85, { xdp: true });
  // A local sender's checksum offload leaves its segments unfinished where XDP sees them.
  pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tx', 'off']);
});
after(() => pair?.lab.destroy());

/** Connects from the peer's kernel stack (node in the namespace); resolves with its exit output. */
function connectFromPeer(host: string, count: number): Promise<string> {
  const script = `
    const net = require('node:net');
    let done = 0, ok = 0;
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect({ host: ${JSON.stringify(host)}, port: ${PORT}, timeout: 3000 }, () => { ok++; s.destroy(); if (++done === ${count}) console.log(ok); });
      s.on('error', () => { if (++done === ${count}) console.log(ok); });
      s.on('timeout', () => s.destroy(new Error('timeout')));
    }`;
  const child = track(spawn(...pair.peer.wrap(process.execPath, ['-e', script]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

for (const syncookies of ['only', 'on'] as const) {
  test(`io 'xdp', syncookies '${syncookies}': kernel clients complete handshakes over IPv4 and IPv6`, { skip }, async () => {
    const r = await Responder.open({
      iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4, pair.responderV6], ports: [PORT],
      syncookies, io: 'xdp',
    });
    try {
      assert.equal(r.backend, 'xdp');
      let events = 0;
      r.on('handshake', () => { events++; });
      assert.equal(await connectFromPeer(pair.responderV4, 10), '10');
      assert.equal(await connectFromPeer(pair.responderV6, 10), '10');
      const s = r.stats();
      assert.equal(events, 20, JSON.stringify(s));
      assert.equal(s.completed, 20);
      if (syncookies === 'only') assert.ok(s.synackssent >= 20 && s.doorRedirected >= 20, `the door answered the SYNs and handed on the ACKs: ${JSON.stringify(s)}`);
      else assert.ok(s.added >= 20 && s.doorRedirected >= 40, `the engine took the SYNs from the ring: ${JSON.stringify(s)}`);
    } finally {
      await r.close();
    }
    assert.doesNotMatch(pair.responder.ip(['link', 'show', 'dev', pair.responderIface]), /prog\/xdp/, 'the door left with close()');
  });
}

test("io 'xdp': protect() serves kernel sockets with no gate; a second connection on a closed 4-tuple opens anew", { skip }, async () => {
  const server = http.createServer((req, res) => res.end('door'));
  const p = await protect(server, {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on', io: 'xdp', calm: 0,
  });
  try {
    assert.equal(p.responder.backend, 'xdp');
    assert.equal(pair.responder.exec('nft', ['list', 'tables']).trim(), '', 'no gate behind the door');
    // A request from source port 45000; the client ends with a RST, so no
    // TIME_WAIT of its own keeps the port from the next.
    const request = (): Promise<string> => {
      const script = `
        const s = require('node:net').connect({ host: ${JSON.stringify(pair.responderV4)}, port: ${PORT}, localPort: 45000 }, () => s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
        let got = '';
        s.on('data', (d) => { got += d; if (got.endsWith('door')) { console.log('door'); s.resetAndDestroy(); } });
        s.on('error', (e) => console.log(e.message));
        s.setTimeout(5000, () => { console.log('timeout'); s.destroy(); });`;
      const child = track(spawn(...pair.peer.wrap(process.execPath, ['-e', script]), { stdio: ['ignore', 'pipe', 'inherit'] }));
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
    };
    assert.equal(await request(), 'door');
    // The same 4-tuple again, while it lingers as handed over: the new SYN
    // reaches userspace (not the kernel, which has no listener) and opens a
    // new connection there.
    assert.equal(await request(), 'door');
    assert.equal(p.stats().handoffs, 2);
  } finally {
    await p.close();
  }
});

for (const syncookies of ['on', 'only'] as const) {
  test(`io 'xdp', syncookies '${syncookies}': a request sent right behind the final ACK reaches the server without a retransmit`, { skip }, async () => {
    const server = http.createServer((req, res) => res.end('ok'));
    const p = await protect(server, {
      iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies, io: 'xdp', calm: 0,
    });
    try {
      const script = pythonGet({ from: pair.peerV4, to: pair.responderV4, port: PORT }, { requests: 20, retrans: true, timeoutS: 5 });
      const child = track(spawn(...pair.peer.wrap('python3', ['-c', script]), { stdio: ['ignore', 'pipe', 'inherit'] }));
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      await new Promise((resolve) => child.on('close', resolve));
      const report = retransReport(out);
      assert.deepEqual(report.bodies, Array.from({ length: 20 }, () => 'ok'), out);
      assert.equal(report.retransmitted, 0, 'the client retransmitted nothing');
      assert.equal(p.stats().handoffs, 20);
    } finally {
      await p.close();
    }
  });
}

test("io: 'xdp' with more workers than receive queues refuses in one line; 'auto' takes the door here (one worker too); a bad io is a TypeError", { skip }, async () => {
  const base = { iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT] };
  await assert.rejects(Responder.open({ ...base, io: 'xdp', workers: 2 }), {
    code: 'ENOTSUP', message: /^io 'xdp': the door gives each worker a receive queue of its own and scr0 has 1: use workers 1 or fewer, set the queues \(ethtool -L scr0 combined 2\) or use io 'packet'$/,
  });
  await assert.rejects(Responder.open({ ...base, io: 'fast' as never }), { name: 'TypeError', message: /io must be 'packet', 'xdp' or 'auto'/ });
  const r = await Responder.open({ ...base, io: 'auto' });
  try {
    assert.equal(r.backend, 'xdp');
  } finally {
    await r.close();
  }
  const one = await Responder.open({ ...base, io: 'auto', workers: 1 });
  try {
    assert.equal(one.backend, 'xdp', 'one worker reads the one queue');
  } finally {
    await one.close();
  }
  const w = await Responder.open({ ...base, io: 'auto', workers: 2 });
  try {
    assert.equal(w.backend, 'packet', "'auto' falls back to the packet backend where the door cannot serve");
  } finally {
    await w.close();
  }
});


// An attacker who completes handshakes by the million and keeps them open
// fills the door's handed-over map (DOOR_HANDED_MAX entries): filled here
// directly, with made-up flows, through the door's own flow maps. The map
// cannot list a new flow then, but the flow's socket is live by the time it
// tries (out of repair, with the mark, whose segments the door passes) and
// may have acknowledged data already - the request right behind the final
// ACK: closing it then lost that request (the client, acknowledged, waited
// for a reply that never came; seen once in CI). The connection stays,
// counted.
test("io 'xdp': with the door's handed-over map full a handed socket still serves its connection (its mark passes its segments), counted handedoverfull; no reset, nothing lost", { skip, timeout: 120_000 }, async () => {
  const server = http.createServer((req, res) => res.end('room'));
  const p = await protect(server, {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on', io: 'xdp', calm: 0,
  });
  const errors: Error[] = [];
  p.on('handoffError', (e) => errors.push(e));
  const door = (p.responder as unknown as { door: Door }).door;
  const flows = new DoorFlows(door.flowMaps);
  const words = new Uint32Array(FLOW_WORDS);
  const fake = (i: number): Uint32Array => writeFlowWords({
    family: 4, remoteAddress: `198.19.${(i >> 8) & 255}.${i & 255}`, remotePort: 1024 + (i >> 16), localAddress: pair.responderV4, localPort: PORT,
  }, words);
  let filled = 0;
  try {
    for (;; filled++) {
      try {
        flows.handOver(fake(filled), filled);
      } catch (error) {
        assert.match((error as Error).message, /the door's handed-over map is full/);
        break;
      }
    }
    assert.equal(filled, 1 << 20, 'the map holds DOOR_HANDED_MAX flows');
    for (let round = 0; round < 3; round++) {
      const out = await new Promise<string>((resolve, reject) => {
        const script = `
          const s = require('node:net').connect({ host: ${JSON.stringify(pair.responderV4)}, port: ${PORT} }, () => s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'));
          let got = '';
          s.on('data', (d) => { got += d; });
          s.on('end', () => console.log(got.endsWith('room') ? 'room' : JSON.stringify(got)));
          s.on('error', (e) => console.log(e.code ?? e.message));
          s.setTimeout(20000, () => { console.log('timeout'); s.destroy(); });`;
        const child = track(spawn(...pair.peer.wrap(process.execPath, ['-e', script]), { stdio: ['ignore', 'pipe', 'inherit'] }));
        let text = '';
        child.stdout!.on('data', (d) => (text += d));
        child.on('error', reject);
        child.on('close', () => resolve(text.trim()));
      });
      assert.equal(out, 'room', `served in full, no reset: ${JSON.stringify({ ...p.stats(), ...p.responder.stats() })}`);
    }
    assert.equal(p.stats().handoffs, 3);
    assert.equal(p.stats().handoffFailed, 0, JSON.stringify(p.stats()));
    assert.ok(p.responder.stats().handedoverfull >= 3, JSON.stringify(p.responder.stats()));
    assert.deepEqual(errors.map((e) => e.message), []);
  } finally {
    for (let i = 0; i < filled; i++) flows.takeBack(fake(i));
    flows.close();
    await p.close();
  }
});

// A connection handed over before the door was attached - by an earlier
// protect() in this process, or a restarted service whose sockets are still
// closing - is not in this door's map; its segments pass to its kernel socket
// all the same (its SO_MARK), instead of reaching userspace as a forged ACK.
for (const family of [4, 6] as const) test(`io 'xdp', IPv${family}: a connection handed over through an earlier door goes on being served after a new protect() attaches its own (doorKernelSocket), spoofed RSTs on it notwithstanding`, { skip: skip ?? craftedFramesUnavailableReason() }, async () => {
  const host = family === 4 ? pair.responderV4 : pair.responderV6;
  const server = http.createServer((req, res) => res.end(`reply ${req.url}`));
  const base: ProtectOptions = { iface: pair.responderIface, netns: pair.responder.path, addrs: [host], ports: [PORT], syncookies: 'on', io: 'xdp', calm: 0 };
  const first = await protect(server, base);
  let handed: Handshake | undefined;
  first.on('handoff', (_socket, h) => { handed = h; });
  const request1 = 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n';
  const script = `
    const s = require('node:net').connect({ host: ${JSON.stringify(host)}, port: ${PORT} }, () => s.write(${JSON.stringify(request1)}));
    s.setEncoding('utf8');
    s.on('data', (d) => { if (d.includes('reply /')) console.log(d.slice(d.indexOf('reply /'))); });
    s.on('error', (e) => console.log(e.code ?? e.message));
    process.stdin.once('data', () => s.write('GET /2 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
    s.setTimeout(10000, () => { console.log('timeout'); s.destroy(); process.exit(0); });`;
  const child = track(spawn(...pair.peer.wrap(process.execPath, ['-e', script]), { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines: string[] = [];
  let waiting: (() => void) | undefined;
  createInterface({ input: child.stdout! }).on('line', (l) => { lines.push(l); waiting?.(); });
  // The client's next line, or 'no line' after 15 s.
  const nextLine = async (): Promise<string> => {
    const until = Date.now() + 15_000;
    while (lines.length === 0 && Date.now() < until) {
      await new Promise<void>((resolve) => { waiting = resolve; setTimeout(resolve, 250); });
    }
    return lines.shift() ?? 'no line';
  };
  let second: Awaited<ReturnType<typeof protect>> | undefined;
  try {
    assert.equal(await nextLine(), 'reply /1');
    await first.close();
    second = await protect(server, base);
    // Spoofed RSTs on the old connection's 4-tuple, in its window (not at its
    // edge) and far out of it: the door passes them to the socket, whose own
    // RFC 5961 checks ignore them (a challenge ACK at most).
    const rcvNext = (handed!.irs + 1 + request1.length) >>> 0;
    const ip = family === 4 ? 'IP' : 'IPv6';
    const rsts = [(rcvNext + 1000) >>> 0, (rcvNext + 2 ** 30) >>> 0]
      .map((seq) => `send(${ip}(src='${handed!.remoteAddress}', dst='${host}')/TCP(sport=${handed!.remotePort}, dport=${PORT}, flags='R', seq=${seq}))`);
    pair.peer.exec(PYTHON, ['-c', ['import logging', "logging.getLogger('scapy.runtime').setLevel(logging.ERROR)", 'from scapy.all import IP, IPv6, TCP, send, conf', 'conf.verb = 0', ...rsts].join('\n')]);
    child.stdin!.write('go\n');
    assert.equal(await nextLine(), 'reply /2', 'the old connection is still served');
    const s = second.responder.stats();
    assert.ok(s.doorKernelSocket >= 3, `the RSTs and the request went to the socket: ${JSON.stringify(s)}`);
    assert.equal(s.failcookie, 0, 'its segments were not taken for forged cookie ACKs');
  } finally {
    child.kill();
    await second?.close();
  }
});
