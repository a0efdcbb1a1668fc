// Replies go where the kernel would send them: to the next hop the
// responder's routing and neighbour tables give for the client's address,
// not to the source MAC its SYN carried. A host on the segment (the peer)
// sends SYNs with a spoofed source address and its own MAC, as crafted
// frames; captures in the peer's, the owner's and the gateway's namespaces
// say whose MAC each SYN-ACK was addressed to. Kernel clients are served: on
// the segment, behind the router, and behind an ingress-only router (a SYN
// whose source MAC has no way back to the client; the kernel's route does).
// Lab: lib/lab/routed.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createRoutedLab, type RoutedHost, type RoutedLab } from '../../lib/lab/routed.js';
import { protect, type Protection } from '../../lib/handoff/protect.js';
import { track } from '../helpers/children.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';
import { doorUnavailableReason } from '../../lib/door/door.js';
import { passOnPeer, vethXdpUnavailableReason } from '../../lib/lab/veth-xdp.js';

const hasCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = craftedFramesUnavailableReason() ??
  (hasCurl ? undefined : 'curl is not installed');
const PORT = 80;
let lab: RoutedLab;

before(() => {
  if (skip) return;
  lab = createRoutedLab('nexthop', 40);
  // The owner's kernel answers a SYN-ACK it never asked for with a RST;
  // keep it quiet so each spoofed SYN gets its SYN-ACK retransmitted alike.
  lab.owner.ns.exec('nft', ['-f', '-'], `table inet sc_quiet {
    chain out { type filter hook output priority 0; tcp sport 41000-41999 tcp flags rst drop; }
  }`);
});
after(() => lab?.lab.destroy());

// sniff: counts SYN-ACKs from the responder's port to `sport`, by Ethernet
// destination, until stdin ends; prints "ready" once capturing, then JSON.
// send: `tries` copies of one SYN (a client's retransmissions), 1 s apart.
const SCAPY = `
import json, sys, time
from scapy.all import Ether, IP, IPv6, TCP, AsyncSniffer, sendp, conf
conf.verb = 0
a = json.loads(sys.argv[1])
if a['mode'] == 'sniff':
    seen = []
    f = 'tcp and src port %d and dst port %d' % (a['port'], a['sport'])
    s = AsyncSniffer(iface=a['iface'], filter=f, prn=seen.append, store=False,
                     started_callback=lambda: print('ready', flush=True))
    s.start()
    sys.stdin.read()
    s.stop()
    by = {}
    for p in seen:
        if str(p[TCP].flags) == 'SA':
            by[p[Ether].dst] = by.get(p[Ether].dst, 0) + 1
    print(json.dumps(by), flush=True)
else:
    l3 = IP(src=a['src'], dst=a['dst']) if ':' not in a['src'] else IPv6(src=a['src'], dst=a['dst'])
    syn = Ether(src=a['srcMac'], dst=a['dstMac'])/l3/TCP(sport=a['sport'], dport=a['port'], flags='S', seq=12345, options=[('MSS', 1460)])
    for i in range(a['tries']):
        sendp(syn, iface=a['iface'])
        time.sleep(1)
`;

const macText = (mac: Uint8Array) => Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');

function scapy(host: RoutedHost, args: object): ChildProcess {
  return track(spawn(...host.ns.wrap(PYTHON, ['-c', SCAPY, JSON.stringify({ iface: host.iface, port: PORT, ...args })]),
    { stdio: ['pipe', 'pipe', 'inherit'] }));
}

interface Capture { stop(): Promise<Record<string, number>> }

/** Starts a capture in `host`'s namespace; resolves once it is capturing. */
async function capture(host: RoutedHost, sport: number): Promise<Capture> {
  const child = scapy(host, { mode: 'sniff', sport });
  let out = '';
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  child.stdout!.on('data', (d) => {
    out += d;
    if (out.includes('ready')) ready();
  });
  const done = new Promise<Record<string, number>>((resolve, reject) => child.on('close', () => {
    try { resolve(JSON.parse(out.slice(out.indexOf('ready') + 5))); } catch { reject(new Error(`capture printed ${JSON.stringify(out)}`)); }
  }));
  await Promise.race([started, done]);
  return { stop: () => { child.stdin!.end(); return done; } };
}

/** The peer sends SYNs from `src` with its own MAC; returns the SYN-ACKs each observer saw, by destination MAC. */
async function spoof(src: string, sport: number, observers: RoutedHost[]): Promise<Array<Record<string, number>>> {
  const captures = await Promise.all(observers.map((o) => capture(o, sport)));
  const dst = src.includes(':') ? lab.responder.v6 : lab.responder.v4;
  const sender = scapy(lab.peer, {
    mode: 'send', src, dst, sport, tries: 3, srcMac: macText(lab.peer.mac), dstMac: macText(lab.responder.mac),
  });
  await new Promise((r) => sender.on('close', r));
  return Promise.all(captures.map((c) => c.stop()));
}

function routeStats(p: Protection): string {
  const s = p.responder.stats() as unknown as Record<string, number>;
  const names = ['parsedSyn', 'added', 'sendcookie', 'txFrames', 'replyUnresolved', 'replyViaKernel', 'replyNoRoute', 'nextHopProbes', 'nextHopReloads'];
  return JSON.stringify(Object.fromEntries(names.map((n) => [n, s[n]])));
}

function curl(from: RoutedHost, host: string, source?: string): Promise<string> {
  const url = host.includes(':') ? `http://[${host}]:${PORT}/` : `http://${host}:${PORT}/`;
  const bind = source ? ['--interface', source] : [];
  const child = track(spawn(...from.ns.wrap('curl', ['-sS', '-m', '10', ...bind, '-o', '/dev/null', '-w', '%{http_code}', url]), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

async function withServer(body: (p: Protection) => Promise<void>, door = false): Promise<void> {
  const server = http.createServer((req, res) => res.end('ok'));
  const p = await protect(server, {
    iface: lab.responder.iface, netns: lab.responder.ns.path, addrs: [lab.responder.v4, lab.responder.v6],
    ports: [PORT], ...(door ? { syncookies: 'only', io: 'xdp' } : { syncookies: 'on' }),
  });
  const errors: Error[] = [];
  p.on('error', (e) => errors.push(e));
  try {
    await body(p);
    assert.deepEqual(errors, []);
  } finally {
    await p.close();
  }
}

for (const family of [4, 6] as const) {
  const v = (h: RoutedHost) => (family === 4 ? h.v4 : h.v6);

  test(`IPv${family}: a SYN spoofing an off-link source is answered through the gateway, not to the spoofer's MAC`, { skip }, async () => {
    await withServer(async (p) => {
      // Nothing known about the gateway: the first SYN-ACK goes out through
      // the kernel's IP output, which resolves the gateway and holds the
      // reply meanwhile (counted); the kernel is asked to resolve it too.
      lab.responder.ns.ip(['neigh', 'flush', 'dev', lab.responder.iface]);
      const far = family === 4 ? lab.farUnusedV4 : lab.farUnusedV6;
      const [atPeer, atGateway] = await spoof(far, 41000 + family, [lab.peer, lab.gateway]);
      assert.equal(atPeer[macText(lab.peer.mac)] ?? 0, 0, `the spoofer received the SYN-ACK (and its cookie): ${JSON.stringify(atPeer)}`);
      assert.ok((atGateway[macText(lab.gateway.mac)] ?? 0) >= 1, `no SYN-ACK reached the gateway: ${JSON.stringify(atGateway)} ${routeStats(p)}`);
      const s = p.responder.stats();
      assert.ok(s.replyViaKernel >= 1 && s.nextHopProbes >= 1, routeStats(p));
    });
  });

  test(`IPv${family}: a SYN spoofing an on-link host's address is answered to that host's MAC`, { skip }, async () => {
    await withServer(async (p) => {
      const [atPeer, atOwner] = await spoof(v(lab.owner), 41010 + family, [lab.peer, lab.owner]);
      assert.equal(atPeer[macText(lab.peer.mac)] ?? 0, 0, `the spoofer received the owner's SYN-ACK: ${JSON.stringify(atPeer)}`);
      assert.ok((atOwner[macText(lab.owner.mac)] ?? 0) >= 1, `no SYN-ACK reached the owner: ${JSON.stringify(atOwner)} ${routeStats(p)}`);
    });
  });

  test(`IPv${family}: a route change is followed at once; a reject route answers nothing`, { skip }, async () => {
    const net = family === 4 ? lab.farV4 : lab.farV6;
    const far = family === 4 ? lab.farUnusedV4 : lab.farUnusedV6;
    const ipf = family === 4 ? ['-4'] : ['-6'];
    await withServer(async (p) => {
      try {
        // The owner becomes the far network's gateway.
        lab.responder.ns.ip([...ipf, 'route', 'replace', net, 'via', v(lab.owner), 'dev', lab.responder.iface]);
        const [atOwner, atGateway] = await spoof(far, 41020 + family, [lab.owner, lab.gateway]);
        assert.ok((atOwner[macText(lab.owner.mac)] ?? 0) >= 1, `no SYN-ACK reached the new gateway: ${JSON.stringify(atOwner)} ${routeStats(p)}`);
        assert.equal(atGateway[macText(lab.gateway.mac)] ?? 0, 0, 'a SYN-ACK went to the old gateway');
        lab.responder.ns.ip([...ipf, 'route', 'replace', 'blackhole', net]);
        const before = p.responder.stats().replyNoRoute;
        const seen = await spoof(far, 41030 + family, [lab.peer, lab.owner, lab.gateway]);
        assert.deepEqual(seen, [{}, {}, {}], 'a SYN-ACK was sent through a blackhole route');
        assert.ok(p.responder.stats().replyNoRoute > before, routeStats(p));
      } finally {
        lab.responder.ns.ip([...ipf, 'route', 'replace', net, 'via', v(lab.gateway), 'dev', lab.responder.iface]);
      }
    });
  });

  test(`IPv${family}: kernel clients on the segment, behind the router and behind an ingress-only router are served`, { skip }, async () => {
    await withServer(async (p) => {
      assert.equal(await curl(lab.peer, v(lab.responder)), '200', 'on the segment');
      assert.equal(await curl(lab.remote, v(lab.responder)), '200', 'through the router');
      // Its SYN arrives from the ingress router's MAC, which has no way
      // back: only the route (through the gateway) reaches the client.
      const viaIngress = family === 4 ? lab.remoteViaIngressV4 : lab.remoteViaIngressV6;
      assert.equal(await curl(lab.remote, v(lab.responder), viaIngress), '200', 'in through the ingress router, back through the gateway');
      assert.equal(p.stats().handoffs, 3);
    });
  });
}

test("a client that already knows our MAC, and that we know nothing of, is answered at once through the kernel's output", { skip }, async () => {
  await withServer(async (p) => {
    // The peer's stack has our MAC (as after we resolved it earlier), so it
    // sends no ARP request that would teach us its own; we have no entry.
    lab.peer.ns.ip(['neigh', 'replace', lab.responder.v4, 'lladdr', macText(lab.responder.mac), 'nud', 'permanent', 'dev', lab.peer.iface]);
    lab.responder.ns.ip(['neigh', 'flush', 'dev', lab.responder.iface]);
    const synRetrans = (): number => Number(/TcpExtTCPSynRetrans\s+(\d+)/.exec(lab.peer.ns.exec('nstat', ['-asz', 'TcpExtTCPSynRetrans']))?.[1] ?? 0);
    try {
      const retransBefore = synRetrans();
      const before = p.responder.stats().replyViaKernel;
      assert.equal(await curl(lab.peer, lab.responder.v4), '200');
      assert.ok(p.responder.stats().replyViaKernel > before, routeStats(p));
      assert.equal(synRetrans() - retransBefore, 0, 'the client had to retransmit its SYN');
    } finally {
      lab.peer.ns.ip(['neigh', 'del', lab.responder.v4, 'dev', lab.peer.iface]);
    }
  });
});

test("spoofed on-link sources: the kernel's output takes at most its rate of unresolved replies, the rest are counted and dropped", { skip }, async () => {
  await withServer(async (p) => {
    lab.responder.ns.ip(['neigh', 'flush', 'dev', lab.responder.iface]);
    const before = p.responder.stats();
    const burst = `
import sys
from scapy.all import Ether, IP, TCP, sendp, conf
conf.verb = 0
frames = [Ether(src=sys.argv[1], dst=sys.argv[2])/IP(src='198.18.40.%d' % (100 + i % 100), dst=sys.argv[3])/TCP(sport=42000 + i, dport=${PORT}, flags='S', seq=i) for i in range(400)]
sendp(frames, iface=sys.argv[4])
`;
    const child = track(spawn(...lab.peer.ns.wrap(PYTHON, ['-c', burst, macText(lab.peer.mac), macText(lab.responder.mac), lab.responder.v4, lab.peer.iface]), { stdio: 'inherit' }));
    await new Promise((r) => child.on('close', r));
    const deadline = Date.now() + 5000;
    const answered = (): number => {
      const s = p.responder.stats();
      return (s.replyViaKernel - before.replyViaKernel) + (s.replyUnresolved - before.replyUnresolved) + (s.txFrames - before.txFrames);
    };
    while (answered() < 400 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const s = p.responder.stats();
    const viaKernel = s.replyViaKernel - before.replyViaKernel;
    const dropped = s.replyUnresolved - before.replyUnresolved;
    assert.ok(answered() >= 400, `every SYN's reply is accounted for: ${routeStats(p)}`);
    assert.ok(viaKernel >= 1, routeStats(p));
    assert.ok(dropped >= 1, `the rate held: ${viaKernel} through the kernel, ${dropped} dropped`);
  });
});

test("the XDP door (io 'xdp', cookies only): a SYN spoofing an off-link source from an on-link host's MAC is answered through the gateway, not to the spoofer", { skip: skip ?? doorUnavailableReason() ?? vethXdpUnavailableReason() }, async () => {
  // XDP_TX frames from the responder's veth reach the switch only through a program there.
  passOnPeer(lab.switchNs, 'scsr0');
  try {
    await withServer(async (p) => {
      assert.equal(p.responder.backend, 'xdp');
      for (const family of [4, 6] as const) {
        const far = family === 4 ? lab.farUnusedV4 : lab.farUnusedV6;
        const [atPeer, atGateway] = await spoof(far, 41040 + family, [lab.peer, lab.gateway]);
        assert.equal(atPeer[macText(lab.peer.mac)] ?? 0, 0, `IPv${family}: the spoofer received the door's SYN-ACK (and its cookie): ${JSON.stringify(atPeer)}`);
        assert.ok((atGateway[macText(lab.gateway.mac)] ?? 0) >= 1, `IPv${family}: no SYN-ACK reached the gateway: ${JSON.stringify(atGateway)} ${routeStats(p)}`);
      }
      assert.ok(p.responder.stats().doorSynNotViaGateway >= 2, routeStats(p));
    }, true);
  } finally {
    lab.switchNs.ip(['link', 'set', 'dev', 'scsr0', 'xdp', 'off']);
  }
});
