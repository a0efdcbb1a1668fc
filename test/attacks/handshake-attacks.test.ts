// Attacks on the wire against a protect()ed server, as crafted frames from
// the peer namespace (scapy), with the kernel's own TCP stack as the real
// client beside them. Each asserts that the server still serves, what was
// counted, and what the real client saw. Each runs on both backends: the
// packet rings behind the gate, and the XDP door (io 'xdp') in a lab whose
// peer veth passes the door's XDP_TX frames on (veth-xdp.ts).
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

// One crafted exchange: a SYN with the given options; unless synOnly, the
// ACK of the SYN-ACK and then `data`; prints what came back as JSON.
const SCAPY = `
import json, sys, time
from scapy.all import IP, TCP, AsyncSniffer, send, conf, Raw
conf.verb = 0
a = json.loads(sys.argv[1])
iface, src, dst, sport, dport, seq = a['iface'], a['src'], a['dst'], a['sport'], a['dport'], a['seq']
opts = [(o[0], tuple(o[1]) if isinstance(o[1], list) else o[1]) for o in a['opts']]
seen = []
sniffer = AsyncSniffer(iface=iface, filter='tcp and src port %d and dst port %d' % (dport, sport), prn=seen.append, store=False)
sniffer.start()
time.sleep(0.3)
ip = IP(src=src, dst=dst)
send(ip/TCP(sport=sport, dport=dport, flags='S', seq=seq, options=opts), iface=iface)
out = {}
if not a.get('synOnly'):
    end = time.time() + 3
    synack = None
    while time.time() < end and synack is None:
        time.sleep(0.05)
        got = [p for p in seen if str(p[TCP].flags) == 'SA']
        synack = got[0] if got else None
    out['synack'] = synack is not None
    if synack is not None:
        ack = synack[TCP].seq + 1
        send(ip/TCP(sport=sport, dport=dport, flags='A', seq=seq + 1, ack=ack), iface=iface)
        send(ip/TCP(sport=sport, dport=dport, flags='PA', seq=seq + 1, ack=ack)/Raw(a['data'].encode()), iface=iface)
time.sleep(a.get('waitS', 1.5))
sniffer.stop()
out['reply'] = b''.join(bytes(p[Raw].load) for p in seen if Raw in p).decode('latin-1')
out['rst'] = any('R' in str(p[TCP].flags) for p in seen)
out['synacks'] = sum(1 for p in seen if str(p[TCP].flags) == 'SA')
out['acks'] = sum(1 for p in seen if str(p[TCP].flags) == 'A')
print(json.dumps(out))
`;

interface Crafted { synack?: boolean; reply: string; rst: boolean; synacks: number; acks: number }

function craft(pair: PairLab, args: { sport: number; opts: Array<[string, number | number[]]>; data?: string; synOnly?: boolean; seq?: number; waitS?: number }): Promise<Crafted> {
  const input = JSON.stringify({
    iface: pair.peerIface, src: pair.peerV4, dst: pair.responderV4, dport: PORT, seq: 1000, data: '', ...args,
  });
  const child = track(spawn(...pair.peer.wrap(PYTHON, ['-c', SCAPY, input]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => child.on('close', () => {
    try { resolve(JSON.parse(out) as Crafted); } catch { reject(new Error(`scapy printed ${JSON.stringify(out)}`)); }
  }));
}

/** curl from the peer: the status line's code, or an error. */
function curl(pair: PairLab): Promise<string> {
  const child = track(spawn(...pair.peer.wrap('curl', ['-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://${pair.responderV4}/`]), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

async function withServer(pair: PairLab, io: Io, body: (p: Protection, errors: Error[]) => Promise<void>, server: net.Server = http.createServer((req, res) => res.end('ok'))): Promise<void> {
  const p = await protect(server, {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on', io,
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
from scapy.all import IP, TCP, AsyncSniffer, send, conf
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
ip = IP(src=a['src'], dst=a['dst'])
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
async function watch(pair: PairLab, sport: number): Promise<{ send: (segments: Segment[]) => Promise<Replies> }> {
  const input = JSON.stringify({ iface: pair.peerIface, src: pair.peerV4, dst: pair.responderV4, sport, dport: PORT });
  const child = track(spawn(...pair.peer.wrap(PYTHON, ['-c', WATCH, input]), { stdio: ['pipe', 'pipe', 'inherit'] }));
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
async function echoClient(pair: PairLab, first: string): Promise<{ port: number; say: (text: string) => Promise<string>; end: () => void }> {
  const client = track(spawn(...pair.peer.wrap(process.execPath, [CLIENT, pair.responderV4, String(PORT), 'hold', first]), { stdio: ['pipe', 'pipe', 'inherit'] }));
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

for (const io of Object.keys(BACKENDS) as Io[]) {
  const skip = BACKENDS[io];
  const on = `(io '${io}')`;
  const lab = (): PairLab => labs[io]!;

  test(`${on} a handshake whose SYN has MSS 0 is served with the default MSS; the server lives on`, { skip }, async () => {
    await withServer(lab(), io, async (p, errors) => {
      const got = await craft(lab(), { sport: 40001, opts: [['MSS', 0]], data: 'GET / HTTP/1.0\r\n\r\n' });
      assert.equal(got.synack, true);
      assert.match(got.reply, /^HTTP\/1\.1 200/);
      assert.equal(p.stats().handoffs, 1);
      assert.deepEqual(p.stats().handoffFailedBy, {});
      assert.equal(await curl(lab()), '200');
      assert.deepEqual(errors, []);
    });
  });

  test(`${on} a SYN from source port 0 is dropped and counted; the server lives on`, { skip }, async () => {
    await withServer(lab(), io, async (p, errors) => {
      const before = p.responder.stats().dropBadSource;
      const got = await craft(lab(), { sport: 0, opts: [['MSS', 1460]], synOnly: true, waitS: 1 });
      assert.equal(got.synacks, 0);
      assert.ok(await waitFor(() => p.responder.stats().dropBadSource > before));
      assert.equal(await curl(lab()), '200');
      assert.deepEqual(errors, []);
    });
  });

  test(`${on} a spoofed SYN with a new ISN on a live connection is left to its socket: the client is not reset, data flows both ways`, { skip }, async () => {
    await withServer(lab(), io, async (p, errors) => {
      const client = await echoClient(lab(), 'one');
      // The attacker: a SYN on the client's 4-tuple with a new ISN and timestamps.
      const spoofed = await craft(lab(), { sport: client.port, seq: 0x7000000, opts: [['MSS', 1460], ['Timestamp', [123456, 0]]], synOnly: true, waitS: 0.5 });
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
      const client = await echoClient(lab(), 'one');
      const watcher = await watch(lab(), client.port);
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
      const watcher = await watch(lab(), port);
      const child = track(spawn(...lab().peer.wrap('curl', ['-sS', '-m', '10', '--local-port', String(port), '-o', '/dev/null', '-w', '%{http_code}', `http://${lab().responderV4}/`]), { stdio: ['ignore', 'pipe', 'inherit'] }));
      let code = '';
      child.stdout!.on('data', (d) => (code += d));
      await new Promise((resolve) => child.on('close', resolve));
      assert.equal(code, '200');
      assert.ok(await waitFor(() => p.stats().handoffs === 1 && p.stats().open === 0), 'the connection was served and closed');
      const refused = p.responder.stats().synOnTimeWait;
      // A SYN on that 4-tuple whose timestamp is a minute older than the old
      // connection's: an old duplicate, though its ISN lies beyond anything
      // the old connection used.
      const [old] = await watcher.send([{ flags: 'S', isn: 0x10000000, opts: [['MSS', 1460], ['Timestamp', [(nowMs() - 60_000) >>> 0, 0]]] }]);
      assert.ok(!old.some((r) => r.flags === 'SA'), 'the old SYN reopened the closed connection');
      assert.ok(await waitFor(() => p.responder.stats().synOnTimeWait > refused));
      // One whose timestamp is newer: a new connection, answered.
      const fresh = await craft(lab(), { sport: port, seq: 0x2000, opts: [['MSS', 1460], ['Timestamp', [(nowMs() + 1000) >>> 0, 0]]], synOnly: true, waitS: 0.5 });
      assert.ok(fresh.synacks >= 1, 'the newer SYN was not answered');
      assert.equal(await curl(lab()), '200');
      assert.deepEqual(errors, []);
    }));
  });

  test(`${on} after a refused SYN on a just-closed connection, the peer's retransmitted FIN still gets its TIME_WAIT's ACK; the peer then reopens the 4-tuple`, { skip }, async () => {
    // The server closes first, so its socket is the one in TIME_WAIT.
    const server = net.createServer((s) => { s.on('data', () => s.end('bye')); s.on('error', () => {}); });
    await withPlainTimestamps(lab(), () => withServer(lab(), io, async (p, errors) => {
      const port = 40700;
      const watcher = await watch(lab(), port);
      const connect = (): Promise<string> => {
        const script = `
          const s = require('node:net').connect({ host: ${JSON.stringify(lab().responderV4)}, port: ${PORT}, localPort: ${port} }, () => s.write('hi'));
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
