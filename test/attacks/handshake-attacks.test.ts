// Attacks on the wire against a protect()ed server, as crafted frames from
// the peer namespace (scapy), with the kernel's own TCP stack as the real
// client beside them. Each asserts that the server still serves, what was
// counted, and what the real client saw. Each runs on both backends: the
// packet rings behind the gate, and the XDP door (io 'xdp') in a lab whose
// peer veth passes the door's XDP_TX frames on (veth-xdp.ts); and over both
// IPv4 and IPv6 (the lab's 2001:db8:: addresses), whose parsing, flow keys
// and answers are separate paths in the door and in native/wire.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';
import { createPairLab, type PairLab } from '../../lib/lab/netns.js';
import { vethXdpUnavailableReason } from '../../lib/lab/veth-xdp.js';
import { doorUnavailableReason } from '../../lib/door/door.js';
import { protect, type Protection } from '../../lib/handoff/protect.js';
import { track } from '../helpers/children.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';

// Debian's python3 with python3-scapy (a pyenv python3 earlier on PATH may lack it).
const skip = craftedFramesUnavailableReason();
const BACKENDS = { packet: skip, xdp: skip ?? doorUnavailableReason() ?? vethXdpUnavailableReason() } as const;
type Io = keyof typeof BACKENDS;
const PORT = 80;
const CLIENT = fileURLToPath(new URL('../handoff/client.js', import.meta.url));
const labs: Partial<Record<Io, PairLab>> = {};

before(() => {
  if (BACKENDS.packet === undefined) labs.packet = createPairLab('atk', 5);
  if (BACKENDS.xdp === undefined) {
    labs.xdp = createPairLab('atkx', 95, { xdp: true });
    // A local sender's checksum offload leaves its segments unfinished where XDP sees them.
    labs.xdp.peer.exec('ethtool', ['-K', labs.xdp.peerIface, 'tx', 'off']);
  }
  for (const pair of Object.values(labs)) {
    // The crafted handshakes come from ports no socket of the peer's owns: its
    // kernel would answer our SYN-ACKs with RSTs. Only those ports' RSTs go.
    pair.peer.exec('nft', ['-f', '-'], `table inet sc_attack {
      chain out { type filter hook output priority 0; tcp sport 40000-40999 tcp flags rst drop; }
    }`);
  }
});
after(() => { for (const pair of Object.values(labs)) pair.lab.destroy(); });

// Crafted exchanges, run side by side on one sniffer: each a first
// segment (a SYN unless `flags` says otherwise, with the given options, or
// `rawOpts` as the option bytes, hex, whatever they mean); unless synOnly,
// the ACK of the SYN-ACK and then `data`. Over IPv6 (`v6`), `ext` puts an
// extension header between IPv6 and TCP in each segment. Prints, for each,
// what came back as JSON.
const SCAPY = `
import json, sys, time, threading
import logging
logging.getLogger('scapy.runtime').setLevel(logging.ERROR)
from scapy.all import IP, IPv6, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, TCP, AsyncSniffer, send, conf, Raw
conf.verb = 0
a = json.loads(sys.argv[1])
iface, src, dst, dport = a['iface'], a['src'], a['dst'], a['dport']
EXT = {'hbh': IPv6ExtHdrHopByHop, 'dest': IPv6ExtHdrDestOpt, 'frag': lambda: IPv6ExtHdrFragment(offset=0, m=0, id=7)}
seen = []
sniffer = AsyncSniffer(iface=iface, filter='tcp and src port %d' % dport, prn=seen.append, store=False)
sniffer.start()
time.sleep(0.3)
def segment(r, flags, seq, ack=0, data=b'', options=True):
    ip = IPv6(src=src, dst=dst) if a['v6'] else IP(src=src, dst=dst)
    if r.get('ext'):
        ip = ip/EXT[r['ext']]()
    opts = [(o[0], tuple(o[1]) if isinstance(o[1], list) else o[1]) for o in r.get('opts', [])] if options else []
    raw = bytes.fromhex(r.get('rawOpts', '')) if options else b''
    t = TCP(sport=r['sport'], dport=dport, flags=flags, seq=seq & 0xffffffff, ack=ack & 0xffffffff, options=opts)
    if raw:
        t.dataofs = 5 + len(raw) // 4
    return ip/t/Raw(raw + data) if raw + data else ip/t
results = [None] * len(a['runs'])
def run(i, r):
    mine = lambda p: p[TCP].dport == r['sport']
    seq = r.get('seq', 1000)
    send(segment(r, r.get('flags', 'S'), seq, r.get('ack', 0)), iface=iface)
    out = {}
    if not r.get('synOnly'):
        end = time.time() + 3
        synack = None
        while time.time() < end and synack is None:
            time.sleep(0.05)
            got = [p for p in seen if mine(p) and str(p[TCP].flags) == 'SA']
            synack = got[0] if got else None
        out['synack'] = synack is not None
        if synack is not None:
            ack = synack[TCP].seq + 1
            send(segment(r, 'A', seq + 1, ack, options=False), iface=iface)
            send(segment(r, 'PA', seq + 1, ack, r.get('data', '').encode(), options=False), iface=iface)
    results[i] = out
threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(a['runs'])]
for t in threads: t.start()
for t in threads: t.join()
time.sleep(max(r.get('waitS', 1.5) for r in a['runs']))
sniffer.stop()
for r, out in zip(a['runs'], results):
    mine = [p for p in seen if p[TCP].dport == r['sport']]
    out['reply'] = b''.join(bytes(p[Raw].load) for p in mine if Raw in p).decode('latin-1')
    out['rst'] = any('R' in str(p[TCP].flags) for p in mine)
    out['synacks'] = sum(1 for p in mine if str(p[TCP].flags) == 'SA')
    out['acks'] = sum(1 for p in mine if str(p[TCP].flags) == 'A')
    out['segments'] = len(mine)
print(json.dumps(results))
`;

interface Crafted { synack?: boolean; reply: string; rst: boolean; synacks: number; acks: number; segments: number }
interface Run {
  sport: number; opts?: Array<[string, number | number[]]>; rawOpts?: string; ext?: 'hbh' | 'dest' | 'frag';
  flags?: string; seq?: number; ack?: number; data?: string; synOnly?: boolean; waitS?: number;
}

/** One address family of a lab: the peer's address (src) and the responder's (dst). */
interface Wire { pair: PairLab; family: Family; src: string; dst: string }
type Family = 4 | 6;
const FAMILIES: Family[] = [4, 6];
const wireOf = (pair: PairLab, family: Family): Wire => ({
  pair, family, src: family === 6 ? pair.peerV6 : pair.peerV4, dst: family === 6 ? pair.responderV6 : pair.responderV4,
});
/** The responder's address as a URL's host. */
const urlHost = (w: Wire): string => (w.family === 6 ? `[${w.dst}]` : w.dst);

/** Crafted exchanges from the peer, side by side; what came back for each. */
function crafts(w: Wire, runs: Run[]): Promise<Crafted[]> {
  const input = JSON.stringify({ iface: w.pair.peerIface, v6: w.family === 6, src: w.src, dst: w.dst, dport: PORT, runs });
  const child = track(spawn(...w.pair.peer.wrap(PYTHON, ['-c', SCAPY, input]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => child.on('close', () => {
    try { resolve(JSON.parse(out) as Crafted[]); } catch { reject(new Error(`scapy printed ${JSON.stringify(out)}`)); }
  }));
}

async function craft(w: Wire, run: Run): Promise<Crafted> {
  return (await crafts(w, [run]))[0];
}

/** curl from the peer (with `args` before the URL): the status line's code, or an error. */
function curl(w: Wire, args: string[] = []): Promise<string> {
  const child = track(spawn(...w.pair.peer.wrap('curl', ['-gsS', '-m', '10', ...args, '-o', '/dev/null', '-w', '%{http_code}', `http://${urlHost(w)}/`]), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

/**
 * `body` with `server` protect()ed on both of the responder's addresses
 * (syncookies 'on' unless `syncookies` says). Behind the door without calm:
 * syncache answers every handshake, which is what these attack (the calm
 * listener's own attacks are in test/handoff/calm.test.ts).
 */
async function withServer(pair: PairLab, io: Io, body: (p: Protection, errors: Error[]) => Promise<void>, server: net.Server = http.createServer((req, res) => res.end('ok')), syncookies: 'on' | 'only' = 'on'): Promise<void> {
  const p = await protect(server, {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4, pair.responderV6], ports: [PORT], syncookies, io, calm: 0,
  });
  assert.equal(p.responder.backend, io);
  const errors: Error[] = [];
  p.on('error', (e) => errors.push(e));
  try {
    await body(p, errors);
  } finally {
    await p.close();
  }
}

/**
 * `body` with the peer also a gateway the responder routes a prefix through
 * (and a permanent neighbour entry for it): the owner then writes the peer's
 * MAC as a reply MAC, and with cookies only the door answers the peer's SYNs
 * itself instead of handing them to userspace.
 */
/** The door answered every SYN since `before` itself: none went to userspace unanswered, no SYN-ACK went through the ring. */
function assertDoorAnswered(before: Record<string, number>, after: Record<string, number>): void {
  assert.equal(after.doorSynNotViaGateway - before.doorSynNotViaGateway, 0, 'the door left SYNs from the gateway to userspace');
  assert.equal(after.txFrames - before.txFrames, 0, 'SYN-ACKs went through the ring, not the door');
  assert.ok(after.synackssent > before.synackssent);
}

async function withGatewayPeer(pair: PairLab, body: () => Promise<void>): Promise<void> {
  const mac = Array.from(pair.peer.macOf(pair.peerIface), (b) => b.toString(16).padStart(2, '0')).join(':');
  const { responder, responderIface: dev } = pair;
  const routes = [[pair.peerV4, '198.18.105.0/24'], [pair.peerV6, '2001:db8:69::/64']];
  for (const [via, prefix] of routes) {
    responder.ip(['neigh', 'replace', via, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']);
    responder.ip(['route', 'add', prefix, 'via', via, 'dev', dev]);
  }
  try {
    await body();
  } finally {
    for (const [via, prefix] of routes) {
      responder.ip(['route', 'del', prefix]);
      responder.ip(['neigh', 'del', via, 'dev', dev]);
    }
  }
}

async function waitFor(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && !check()) await new Promise((r) => setTimeout(r, 10));
  return check();
}

// Watches one 4-tuple (sport, the client's; dport, ours) from its start:
// prints "ready" once capturing, then, for one stdin line (a JSON list of
// segments), sends them one after another, each placed by what was seen so
// far (seq: from the client's next sequence, or isn: from its SYN's ISN;
// ack: from ours), and prints what we sent back after each: [[{flags, ack}]],
// ack counted from the client's next sequence.
const WATCH = `
import json, sys, time
import logging
logging.getLogger('scapy.runtime').setLevel(logging.ERROR)
from scapy.all import IP, IPv6, TCP, AsyncSniffer, send, conf
conf.verb = 0
a = json.loads(sys.argv[1])
sport, dport = a['sport'], a['dport']
seen = []
sniffer = AsyncSniffer(iface=a['iface'], filter='tcp and port %d and port %d' % (sport, dport),
                       prn=lambda p: seen.append((time.time(), p)), store=False,
                       started_callback=lambda: print('ready', flush=True))
sniffer.start()
def after(p):
    t = p[TCP]
    f = str(t.flags)
    return (t.seq + len(bytes(t.payload)) + ('S' in f) + ('F' in f)) & 0xffffffff
segments = json.loads(sys.stdin.readline())
ups = [p for _, p in seen if p[TCP].sport == sport]
downs = [p for _, p in seen if p[TCP].sport == dport]
isn = next((p[TCP].seq for p in ups if str(p[TCP].flags) == 'S'), 0)
client, server = after(ups[-1]), after(downs[-1])
ip = IPv6(src=a['src'], dst=a['dst']) if a['v6'] else IP(src=a['src'], dst=a['dst'])
out = []
for g in segments:
    seq = isn + g['isn'] if 'isn' in g else client + g.get('seq', 0)
    ack = server + g.get('ack', 0) if 'A' in g['flags'] else 0
    opts = [(o[0], tuple(o[1]) if isinstance(o[1], list) else o[1]) for o in g.get('opts', [])]
    sent = time.time()
    send(ip/TCP(sport=sport, dport=dport, flags=g['flags'], seq=seq & 0xffffffff, ack=ack & 0xffffffff, options=opts), iface=a['iface'])
    time.sleep(g.get('waitS', 0.5))
    out.append([{'flags': str(p[TCP].flags), 'ack': ((p[TCP].ack - client + 2**31) & 0xffffffff) - 2**31}
                for t, p in seen if t > sent and p[TCP].sport == dport])
sniffer.stop()
print(json.dumps(out), flush=True)
`;

interface Segment { flags: string; seq?: number; isn?: number; ack?: number; opts?: Array<[string, number | number[]]>; waitS?: number }
type Replies = Array<Array<{ flags: string; ack: number }>>;

/** Starts watching the 4-tuple of client port `sport`; send() places and sends segments once the connection has gone its way. */
async function watch(w: Wire, sport: number): Promise<{ send: (segments: Segment[]) => Promise<Replies> }> {
  const input = JSON.stringify({ iface: w.pair.peerIface, v6: w.family === 6, src: w.src, dst: w.dst, sport, dport: PORT });
  const child = track(spawn(...w.pair.peer.wrap(PYTHON, ['-c', WATCH, input]), { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  assert.equal(first.value, 'ready', 'the watcher started');
  return {
    send: async (segments) => {
      child.stdin!.end(`${JSON.stringify(segments)}\n`);
      const got = await lines.next();
      return JSON.parse(String(got.value)) as Replies;
    },
  };
}

/** A kernel client (the peer's hold client, test/handoff/client.ts) of an echo server; `say` sends and waits for the whole echo so far. */
async function echoClient(w: Wire, first: string): Promise<{ port: number; say: (text: string) => Promise<string>; end: () => void }> {
  const client = track(spawn(...w.pair.peer.wrap(process.execPath, [CLIENT, w.dst, String(PORT), 'hold', first]), { stdio: ['pipe', 'pipe', 'inherit'] }));
  const events: Array<{ event: string; port?: number; got?: string; code?: string }> = [];
  createInterface({ input: client.stdout! }).on('line', (l) => events.push(JSON.parse(l)));
  assert.ok(await waitFor(() => events.some((e) => e.event === 'connected')), 'the client connected');
  let total = first.length;
  const expect = async (): Promise<string> => {
    events.length = 0;
    client.stdin!.write(`expect ${total}\n`);
    assert.ok(await waitFor(() => events.length > 0), 'the client heard back');
    assert.equal(events.length, 1);
    assert.equal(events[0].event, 'result', JSON.stringify(events));
    return events[0].got!;
  };
  const port = events.find((e) => e.event === 'connected')!.port!;
  assert.equal(await expect(), first, 'the first echo came back');
  return {
    port,
    say: async (text) => { total += text.length; client.stdin!.write(`send ${text}\n`); return expect(); },
    end: () => client.stdin!.end('end\n'),
  };
}

const echoServer = (): net.Server => net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); });

/** CLOCK_MONOTONIC in ms: the peer's TSval with net.ipv4.tcp_timestamps = 2 (no random offset). */
const nowMs = (): number => Number(process.hrtime.bigint() / 1_000_000n) >>> 0;

/** `body` with the peer's timestamps on its monotonic clock, so a test can write an older or newer one. */
async function withPlainTimestamps(pair: PairLab, body: () => Promise<void>): Promise<void> {
  pair.peer.sysctl('net.ipv4.tcp_timestamps', 2);
  try {
    await body();
  } finally {
    pair.peer.sysctl('net.ipv4.tcp_timestamps', 1);
  }
}

for (const io of Object.keys(BACKENDS) as Io[]) for (const family of FAMILIES) {
  const skip = BACKENDS[io];
  const on = `(io '${io}', IPv${family})`;
  const lab = (): PairLab => labs[io]!;
  const wire = (): Wire => wireOf(lab(), family);

  test(`${on} a handshake whose SYN has MSS 0 is served with the default MSS; the server lives on`, { skip }, async () => {
    await withServer(lab(), io, async (p, errors) => {
      const got = await craft(wire(), { sport: 40001, opts: [['MSS', 0]], data: 'GET / HTTP/1.0\r\n\r\n' });
      assert.equal(got.synack, true);
      assert.match(got.reply, /^HTTP\/1\.1 200/);
      assert.equal(p.stats().handoffs, 1);
      assert.deepEqual(p.stats().handoffFailedBy, {});
      assert.equal(await curl(wire()), '200');
      assert.deepEqual(errors, []);
    });
  });

  test(`${on} SYNs with hostile options are served (huge window shift, tiny MSS, MSS 0 or of a wrong length) or dropped and counted (option lengths 0, 1, past the header); cookies only, answered by the door itself on io 'xdp'`, { skip }, async () => {
    await withGatewayPeer(lab(), () => withServer(lab(), io, async (p, errors) => {
      // A kernel client first: served, and its batch has the owner write the
      // peer's MAC as a reply MAC, so the door answers the SYNs below itself.
      assert.equal(await curl(wire()), '200');
      const before = p.responder.stats();
      const get = 'GET / HTTP/1.0\r\n\r\n';
      // Linux's SYN layout (MSS, SACK-permitted, timestamps, NOP, window shift), which the door reads in place.
      const linux = (mss: string, shift: string): string => `0204${mss}` + '0402' + '080a0000000100000000' + '01' + `0303${shift}`;
      const served: Run[] = [
        { sport: 40010, rawOpts: linux('05b4', 'ff'), data: get }, // Linux's layout, window shift 255
        { sport: 40011, rawOpts: linux('0000', '07'), data: get }, // Linux's layout, MSS 0
        { sport: 40012, rawOpts: '02040001', data: get }, // MSS 1: raised to 88
        { sport: 40013, rawOpts: '02030000', data: get }, // an MSS of 3 bytes, skipped, then EOL
        { sport: 40014, rawOpts: '0303ff01' + '0101080a' + '00000001' + '00000000', data: get }, // odd order, shift 255
      ];
      const malformed: Run[] = [
        { sport: 40015, rawOpts: '0101080a', synOnly: true, waitS: 0.5 }, // timestamps of 10 bytes in 2
        { sport: 40016, rawOpts: '02000000', synOnly: true, waitS: 0.5 }, // length 0
        { sport: 40017, rawOpts: '03010000', synOnly: true, waitS: 0.5 }, // length 1
        { sport: 40018, rawOpts: '01010102', synOnly: true, waitS: 0.5 }, // a kind with no length byte
      ];
      const got = await crafts(wire(), [...served, ...malformed]);
      served.forEach((run, i) => {
        assert.equal(got[i].synack, true, `no SYN-ACK for ${run.rawOpts}`);
        assert.match(got[i].reply, /^HTTP\/1\.1 200/, `not served: ${run.rawOpts}: ${JSON.stringify(got[i])}`);
        assert.equal(got[i].rst, false, run.rawOpts);
      });
      malformed.forEach((run, i) => assert.equal(got[served.length + i].segments, 0, `answered ${run.rawOpts}: ${JSON.stringify(got[served.length + i])}`));
      assert.ok(await waitFor(() => p.responder.stats().dropBadOptionLength - before.dropBadOptionLength >= malformed.length));
      const after = p.responder.stats();
      assert.equal(after.dropBadOptionLength - before.dropBadOptionLength, malformed.length);
      assert.equal(p.stats().handoffs, 1 + served.length);
      assert.deepEqual(p.stats().handoffFailedBy, {});
      if (io === 'xdp') assertDoorAnswered(before, after);
      assert.equal(await curl(wire()), '200');
      assert.deepEqual(errors, []);
    }, undefined, 'only'));
  });

  if (family === 6) {
    test(`${on} SYNs behind IPv6 extension headers: hop-by-hop or destination options are walked and served; an atomic fragment is dropped and counted`, { skip }, async () => {
      await withGatewayPeer(lab(), () => withServer(lab(), io, async (p, errors) => {
        assert.equal(await curl(wire()), '200');
        const before = p.responder.stats();
        const get = 'GET / HTTP/1.0\r\n\r\n';
        const [hbh, dest, frag] = await crafts(wire(), [
          { sport: 40020, ext: 'hbh', opts: [['MSS', 1400], ['WScale', 7]], data: get },
          { sport: 40021, ext: 'dest', opts: [['MSS', 1400], ['Timestamp', [5, 0]]], data: get },
          { sport: 40022, ext: 'frag', opts: [['MSS', 1400]], synOnly: true, waitS: 0.5 },
        ]);
        assert.match(hbh.reply, /^HTTP\/1\.1 200/, JSON.stringify(hbh));
        assert.match(dest.reply, /^HTTP\/1\.1 200/, JSON.stringify(dest));
        assert.equal(frag.segments, 0, JSON.stringify(frag));
        assert.ok(await waitFor(() => p.responder.stats().dropFragment > before.dropFragment));
        assert.equal(p.stats().handoffs, 3);
        if (io === 'xdp') assertDoorAnswered(before, p.responder.stats());
        assert.equal(await curl(wire()), '200');
        assert.deepEqual(errors, []);
      }, undefined, 'only'));
    });
  }

  for (const syncookies of ['on', 'only'] as const) {
    test(`${on} forged cookie ACKs where no entry exists (bare, with data, with FIN) are dropped and counted (failcookie), unanswered; syncookies '${syncookies}'${syncookies === 'only' ? ", checked by the door itself on io 'xdp'" : ''}`, { skip }, async () => {
      await withServer(lab(), io, async (p, errors) => {
        const all = p.responder.stats();
        const before = all.failcookie;
        const redirected = all.doorRedirected;
        const forged: Run[] = [
          { sport: 40030, flags: 'A', seq: 0x1234567, ack: 0x89abcdef },
          { sport: 40031, flags: 'PA', seq: 0x2345678, ack: 0x9abcdef0, data: 'GET / HTTP/1.0\r\n\r\n' },
          { sport: 40032, flags: 'FA', seq: 0x3456789, ack: 0xabcdef01 },
        ].map((r) => ({ ...r, synOnly: true, waitS: 0.5 }));
        const got = await crafts(wire(), forged);
        got.forEach((g, i) => assert.equal(g.segments, 0, `answered ${forged[i].flags}: ${JSON.stringify(g)}`));
        // At least these: an earlier test's kernel connection in LAST_ACK may
        // retransmit its FIN now, and the peer's ACK of it is one more ACK
        // this server has no entry for.
        const moved = (): string => JSON.stringify(Object.fromEntries(Object.entries(p.responder.stats()).filter(([k, v]) => v !== all[k]).map(([k, v]) => [k, v - all[k]])));
        assert.ok(await waitFor(() => p.responder.stats().failcookie - before >= forged.length), moved());
        // Behind the door, with cookies only, no entry can exist: the door checks them itself; else userspace does.
        if (io === 'xdp') {
          const handedOn = p.responder.stats().doorRedirected - redirected;
          if (syncookies === 'only') assert.equal(handedOn, 0, 'the door handed forged ACKs to userspace');
          else assert.ok(handedOn >= forged.length, `the door checked cookies it should have left to userspace: ${handedOn}`);
        }
        // A real client's cookie ACK passes the same checks.
        assert.equal(await curl(wire()), '200');
        assert.equal(p.stats().handoffs, 1);
        assert.deepEqual(errors, []);
      }, undefined, syncookies);
    });
  }

  test(`${on} a SYN from source port 0 is dropped and counted; the server lives on`, { skip }, async () => {
    await withServer(lab(), io, async (p, errors) => {
      const before = p.responder.stats().dropBadSource;
      const got = await craft(wire(), { sport: 0, opts: [['MSS', 1460]], synOnly: true, waitS: 1 });
      assert.equal(got.synacks, 0);
      assert.ok(await waitFor(() => p.responder.stats().dropBadSource > before));
      assert.equal(await curl(wire()), '200');
      assert.deepEqual(errors, []);
    });
  });

  test(`${on} a spoofed SYN with a new ISN on a live connection is left to its socket: the client is not reset, data flows both ways`, { skip }, async () => {
    await withServer(lab(), io, async (p, errors) => {
      const client = await echoClient(wire(), 'one');
      // The attacker: a SYN on the client's 4-tuple with a new ISN and timestamps.
      const spoofed = await craft(wire(), { sport: client.port, seq: 0x7000000, opts: [['MSS', 1460], ['Timestamp', [123456, 0]]], synOnly: true, waitS: 0.5 });
      assert.equal(spoofed.synacks, 0, 'syncache answered the spoofed SYN');
      assert.equal(spoofed.rst, false);
      // Behind the door the SYN reaches the socket, which answers with a
      // challenge ACK (RFC 5961 4); the gate drops every SYN.
      if (io === 'xdp') assert.ok(spoofed.acks >= 1, 'the socket sent no challenge ACK');
      assert.ok(await waitFor(() => p.responder.stats().synOnLiveFlow >= 1));
      // The real client goes on: its next request gets its answer, no reset.
      assert.equal(await client.say('two'), 'onetwo');
      client.end();
      assert.deepEqual(errors, []);
      assert.equal(p.responder.stats().rstssent, 0);
    }, echoServer());
  });

  test(`${on} spoofed RSTs on a live connection, in the window but not at its edge and out of it, do not reset it (RFC 5961 3)`, { skip }, async () => {
    await withServer(lab(), io, async (p, errors) => {
      const client = await echoClient(wire(), 'one');
      const watcher = await watch(wire(), client.port);
      assert.equal(await client.say('two'), 'onetwo');
      const [inWindow, outOfWindow] = await watcher.send([
        { flags: 'R', seq: 1000 },
        { flags: 'R', seq: 0x40000000 },
      ]);
      assert.ok(inWindow.some((r) => r.flags === 'A' && r.ack === 0), `no challenge ACK for the RST in the window: ${JSON.stringify(inWindow)}`);
      assert.ok(!outOfWindow.some((r) => r.flags.includes('R')), JSON.stringify(outOfWindow));
      assert.equal(await client.say('three'), 'onetwothree');
      client.end();
      assert.equal(p.stats().handoffs, 1);
      assert.deepEqual(errors, []);
    }, echoServer());
  });

  test(`${on} a SYN older than the closed connection on its 4-tuple does not reopen it (RFC 6191); a newer one does`, { skip }, async () => {
    await withPlainTimestamps(lab(), () => withServer(lab(), io, async (p, errors) => {
      const port = 40600;
      const watcher = await watch(wire(), port);
      assert.equal(await curl(wire(), ['--local-port', String(port)]), '200');
      assert.ok(await waitFor(() => p.stats().handoffs === 1 && p.stats().open === 0), 'the connection was served and closed');
      const refused = p.responder.stats().synOnTimeWait;
      // A SYN on that 4-tuple whose timestamp is a minute older than the old
      // connection's: an old duplicate, though its ISN lies beyond anything
      // the old connection used.
      const [old] = await watcher.send([{ flags: 'S', isn: 0x10000000, opts: [['MSS', 1460], ['Timestamp', [(nowMs() - 60_000) >>> 0, 0]]] }]);
      assert.ok(!old.some((r) => r.flags === 'SA'), 'the old SYN reopened the closed connection');
      assert.ok(await waitFor(() => p.responder.stats().synOnTimeWait > refused));
      // One whose timestamp is newer: a new connection, answered.
      const fresh = await craft(wire(), { sport: port, seq: 0x2000, opts: [['MSS', 1460], ['Timestamp', [(nowMs() + 1000) >>> 0, 0]]], synOnly: true, waitS: 0.5 });
      assert.ok(fresh.synacks >= 1, 'the newer SYN was not answered');
      assert.equal(await curl(wire()), '200');
      assert.deepEqual(errors, []);
    }));
  });

  test(`${on} after a refused SYN on a just-closed connection, the peer's retransmitted FIN still gets its TIME_WAIT's ACK; the peer then reopens the 4-tuple`, { skip }, async () => {
    // The server closes first, so its socket is the one in TIME_WAIT.
    const server = net.createServer((s) => { s.on('data', () => s.end('bye')); s.on('error', () => {}); });
    await withPlainTimestamps(lab(), () => withServer(lab(), io, async (p, errors) => {
      const port = 40700;
      const watcher = await watch(wire(), port);
      const connect = (): Promise<string> => {
        const script = `
          const s = require('node:net').connect({ host: ${JSON.stringify(wire().dst)}, port: ${PORT}, localPort: ${port} }, () => s.write('hi'));
          let got = '';
          s.on('data', (d) => { got += d; });
          s.on('close', () => console.log(got));
          s.on('error', (e) => console.log(e.message));
          s.setTimeout(5000, () => { console.log('timeout'); s.destroy(); });`;
        const child = track(spawn(...lab().peer.wrap(process.execPath, ['-e', script]), { stdio: ['ignore', 'pipe', 'inherit'] }));
        let out = '';
        child.stdout!.on('data', (d) => (out += d));
        return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
      };
      assert.equal(await connect(), 'bye');
      assert.ok(await waitFor(() => p.stats().handoffs === 1 && p.stats().open === 0), 'the connection was served and closed');
      const refused = p.responder.stats().synOnTimeWait;
      // A spoofed SYN that RFC 6191 refuses (an older timestamp, an ISN
      // behind the old connection's), then the peer's FIN once more, as if
      // the TIME_WAIT's ACK of it had been lost.
      const [syn, fin] = await watcher.send([
        { flags: 'S', isn: -1000, opts: [['MSS', 1460], ['Timestamp', [(nowMs() - 60_000) >>> 0, 0]]] },
        { flags: 'FA', seq: -1, waitS: 1 },
      ]);
      assert.ok(!syn.some((r) => r.flags === 'SA'), 'the refused SYN was answered');
      assert.ok(await waitFor(() => p.responder.stats().synOnTimeWait > refused));
      assert.ok(fin.some((r) => r.flags === 'A' && r.ack === 0), `the TIME_WAIT did not ACK the FIN again: ${JSON.stringify(fin)}`);
      // The peer itself, later (a newer timestamp, an ISN further on): a new connection.
      assert.equal(await connect(), 'bye');
      assert.equal(p.stats().handoffs, 2);
      assert.deepEqual(errors, []);
    }, server));
  });
}
