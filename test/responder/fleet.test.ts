// Two hosts behind one service address, sharing a fleet key: a client's SYN
// is answered by host A and its final ACK (with data) lands on host B, which
// completes the handshake from A's cookie, as an event and as a protect()ed
// server's connection; a host with another key refuses it. Crafted frames
// from the client's namespace steer each segment to a host by its MAC.
//
//   client  cla0 ── ha0  host A   198.18.46.1 (the service address on both)
//           clb0 ── hb0  host B
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsLab, type Namespace } from '../../lib/lab/netns.js';
import { Responder } from '../../lib/responder/responder.js';
import { protect } from '../../lib/handoff/protect.js';
import type { Handshake } from '../../lib/engine/engine.js';
import { track } from '../helpers/children.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';

const skip = craftedFramesUnavailableReason();
const SERVICE = '198.18.46.1';
const CLIENT = '198.18.46.2';
const PORT = 80;

let lab: NetnsLab;
let client: Namespace;
let hostA: Namespace;
let hostB: Namespace;
let macA: string;
let macB: string;
const keys = mkdtempSync(join(tmpdir(), 'syncache-fleet-'));
const sharedKey = join(keys, 'shared.key');
const otherKey = join(keys, 'other.key');

before(() => {
  writeFileSync(sharedKey, randomBytes(32), { mode: 0o600 });
  writeFileSync(otherKey, randomBytes(32), { mode: 0o600 });
  if (skip) return;
  lab = new NetnsLab('fleet');
  client = lab.add('c');
  hostA = lab.add('a');
  hostB = lab.add('b');
  lab.link(client, 'cla0', hostA, 'ha0');
  lab.link(client, 'clb0', hostB, 'hb0');
  for (const [ns, iface] of [[hostA, 'ha0'], [hostB, 'hb0']] as const) ns.ip(['addr', 'add', `${SERVICE}/24`, 'dev', iface]);
  // The client has its address on both links (each host's kernel finds it by ARP).
  for (const iface of ['cla0', 'clb0']) client.ip(['addr', 'add', `${CLIENT}/24`, 'dev', iface]);
  // Each host's neighbour entry for the client, as ARP would make it (replies go to the routed next hop).
  for (const [ns, iface, clientIface] of [[hostA, 'ha0', 'cla0'], [hostB, 'hb0', 'clb0']] as const) {
    const mac = client.macOf(clientIface).reduce((t, x, i) => t + (i ? ':' : '') + x.toString(16).padStart(2, '0'), '');
    ns.ip(['neigh', 'replace', CLIENT, 'lladdr', mac, 'dev', iface, 'nud', 'permanent']);
  }
  macA = hostA.macOf('ha0').reduce((s, b, i) => s + (i ? ':' : '') + b.toString(16).padStart(2, '0'), '');
  macB = hostB.macOf('hb0').reduce((s, b, i) => s + (i ? ':' : '') + b.toString(16).padStart(2, '0'), '');
  // The crafted handshakes' ports belong to no socket of the client's: keep its kernel's RSTs home.
  client.exec('nft', ['-f', '-'], 'table inet sc_fleet {\n  chain out { type filter hook output priority 0; tcp sport 41000-41999 tcp flags rst drop; }\n}\n');
});
after(() => {
  lab?.destroy();
  rmSync(keys, { recursive: true, force: true });
});

// SYN to host A through one link; the ACK of A's SYN-ACK, with data, to host
// B through the other; prints whether the SYN-ACK came and what B's side sent back.
const SCAPY = `
import json, sys, time
from scapy.all import Ether, IP, TCP, Raw, AsyncSniffer, sendp, conf
conf.verb = 0
a = json.loads(sys.argv[1])
seen_a, seen_b = [], []
flt = 'tcp and src port %d and dst port %d' % (a['dport'], a['sport'])
sa = AsyncSniffer(iface='cla0', filter=flt, prn=seen_a.append, store=False)
sb = AsyncSniffer(iface='clb0', filter=flt, prn=seen_b.append, store=False)
sa.start(); sb.start()
time.sleep(0.3)
ip = IP(src=a['src'], dst=a['dst'])
sendp(Ether(dst=a['macA'])/ip/TCP(sport=a['sport'], dport=a['dport'], flags='S', seq=5000, options=[('MSS', 1460), ('SAckOK', b''), ('Timestamp', (1000, 0)), ('WScale', 7)]), iface='cla0')
end = time.time() + 3
synack = None
while time.time() < end and synack is None:
    time.sleep(0.05)
    got = [p for p in seen_a if str(p[TCP].flags) == 'SA']
    synack = got[0] if got else None
out = {'synack': synack is not None}
if synack is not None:
    ack = synack[TCP].seq + 1
    ts = ('Timestamp', (1001, synack[TCP].options and dict((o[0], o[1]) for o in synack[TCP].options).get('Timestamp', (0, 0))[0]))
    sendp(Ether(dst=a['macB'])/ip/TCP(sport=a['sport'], dport=a['dport'], flags='PA', seq=5001, ack=ack, options=[ts])/Raw(a['data'].encode()), iface='clb0')
time.sleep(a.get('waitS', 1.5))
sa.stop(); sb.stop()
out['reply'] = b''.join(bytes(p[Raw].load) for p in seen_b if Raw in p).decode('latin-1')
print(json.dumps(out))
`;

function steer(sport: number, data: string): Promise<{ synack: boolean; reply: string }> {
  const input = JSON.stringify({ src: CLIENT, dst: SERVICE, sport, dport: PORT, macA, macB, data });
  const child = track(spawn(...client.wrap(PYTHON, ['-c', SCAPY, input]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => child.on('close', () => {
    try { resolve(JSON.parse(out)); } catch { reject(new Error(`scapy printed ${JSON.stringify(out)}`)); }
  }));
}

function responderOn(ns: Namespace, iface: string, keyFile: string): Promise<Responder> {
  return Responder.open({ iface, netns: ns.path, addrs: [SERVICE], ports: [PORT], syncookies: 'only', secrets: { keyFile } });
}

async function waitFor(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && !check()) await new Promise((r) => setTimeout(r, 10));
  return check();
}

test('host B completes, as an event, a handshake whose SYN host A answered', { skip }, async () => {
  const a = await responderOn(hostA, 'ha0', sharedKey);
  const b = await responderOn(hostB, 'hb0', sharedKey);
  try {
    const onB: Handshake[] = [];
    const onA: Handshake[] = [];
    b.on('handshake', (h) => onB.push(h));
    a.on('handshake', (h) => onA.push(h));
    const got = await steer(41001, 'hello');
    assert.equal(got.synack, true, 'host A answered the SYN');
    assert.ok(await waitFor(() => onB.length === 1), 'host B completed the handshake');
    assert.equal(onB[0].remotePort, 41001);
    assert.equal(onB[0].viaCookie, true);
    assert.equal(onB[0].mss, 1460);
    assert.equal(onB[0].sackPermitted, true);
    assert.deepEqual(onA, []);
    assert.equal(b.stats().recvcookie, 1);
  } finally {
    await a.close();
    await b.close();
  }
});

test('host B serves, behind protect(), a connection whose SYN host A answered', { skip }, async () => {
  const a = await responderOn(hostA, 'ha0', sharedKey);
  const server = http.createServer((req, res) => res.end('served by B\n'));
  const b = await protect(server, { iface: 'hb0', netns: hostB.path, addrs: [SERVICE], ports: [PORT], syncookies: 'only', secrets: { keyFile: sharedKey } });
  try {
    const got = await steer(41002, 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(got.synack, true);
    assert.match(got.reply, /^HTTP\/1\.1 200[^]*served by B/);
    assert.equal(b.stats().handoffs, 1);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a host with another key refuses the cookie', { skip }, async () => {
  const a = await responderOn(hostA, 'ha0', sharedKey);
  const b = await responderOn(hostB, 'hb0', otherKey);
  try {
    const onB: Handshake[] = [];
    b.on('handshake', (h) => onB.push(h));
    const got = await steer(41003, 'hello');
    assert.equal(got.synack, true);
    assert.ok(await waitFor(() => b.stats().failcookie >= 1), 'host B counted the bad cookie');
    assert.deepEqual(onB, []);
  } finally {
    await a.close();
    await b.close();
  }
});
