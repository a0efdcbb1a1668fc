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

const skip = labUnavailableReason() ?? doorUnavailableReason() ?? vethXdpUnavailableReason();
const PORT = 8080;
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('calm', 105, { xdp: true });
  // A local sender's checksum offload leaves its segments unfinished where XDP sees them.
  pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tx', 'off']);
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
export function scapy(lines: string[]): string {
  return pair.peer.exec(PYTHON, ['-c', ['import logging', "logging.getLogger('scapy.runtime').setLevel(logging.ERROR)", 'from scapy.all import *', 'conf.verb = 0', ...lines].join('\n')]);
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
    assert.ok(s.doorKernelSocket >= 40, `the final ACK and the request of each reached the kernel socket: ${JSON.stringify(s)}`);
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
