// Attacks on the wire against a protect()ed server, as crafted frames from
// the peer namespace (scapy), with the kernel's own TCP stack as the real
// client beside them. Each asserts that the server still serves, what was
// counted, and what the real client saw.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';
import { createPairLab, type PairLab } from '../../lib/lab/netns.js';
import { protect, type Protection } from '../../lib/handoff/protect.js';
import { track } from '../helpers/children.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';

// Debian's python3 with python3-scapy (a pyenv python3 earlier on PATH may lack it).
const skip = craftedFramesUnavailableReason();
const PORT = 80;
const CLIENT = fileURLToPath(new URL('../handoff/client.js', import.meta.url));
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('atk', 5);
  // The crafted handshakes come from ports no socket of the peer's owns: its
  // kernel would answer our SYN-ACKs with RSTs. Only those ports' RSTs go.
  pair.peer.exec('nft', ['-f', '-'], `table inet sc_attack {
    chain out { type filter hook output priority 0; tcp sport 40000-40999 tcp flags rst drop; }
  }`);
});
after(() => pair?.lab.destroy());

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
print(json.dumps(out))
`;

interface Crafted { synack?: boolean; reply: string; rst: boolean; synacks: number }

function craft(args: { sport: number; opts: Array<[string, number | number[]]>; data?: string; synOnly?: boolean; seq?: number; waitS?: number }): Promise<Crafted> {
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
function curl(): Promise<string> {
  const child = track(spawn(...pair.peer.wrap('curl', ['-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://${pair.responderV4}/`]), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

async function withServer(body: (p: Protection, errors: Error[]) => Promise<void>, server: net.Server = http.createServer((req, res) => res.end('ok'))): Promise<void> {
  const p = await protect(server, {
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on',
  });
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

test('a handshake whose SYN has MSS 0 is served with the default MSS; the server lives on', { skip }, async () => {
  await withServer(async (p, errors) => {
    const got = await craft({ sport: 40001, opts: [['MSS', 0]], data: 'GET / HTTP/1.0\r\n\r\n' });
    assert.equal(got.synack, true);
    assert.match(got.reply, /^HTTP\/1\.1 200/);
    assert.equal(p.stats().handoffs, 1);
    assert.deepEqual(p.stats().handoffFailedBy, {});
    assert.equal(await curl(), '200');
    assert.deepEqual(errors, []);
  });
});

test('a SYN from source port 0 is dropped and counted; the server lives on', { skip }, async () => {
  await withServer(async (p, errors) => {
    const before = p.responder.stats().dropBadSource;
    const got = await craft({ sport: 0, opts: [['MSS', 1460]], synOnly: true, waitS: 1 });
    assert.equal(got.synacks, 0);
    assert.ok(await waitFor(() => p.responder.stats().dropBadSource > before));
    assert.equal(await curl(), '200');
    assert.deepEqual(errors, []);
  });
});

test('a spoofed SYN with a new ISN on a live connection is left to its socket: the client is not reset', { skip }, async () => {
  const echo = net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); });
  await withServer(async (p, errors) => {
    const client = track(spawn(...pair.peer.wrap(process.execPath, [CLIENT, pair.responderV4, String(PORT), 'hold', 'one']), { stdio: ['pipe', 'pipe', 'inherit'] }));
    const events: Array<{ event: string; port?: number; got?: string; code?: string }> = [];
    createInterface({ input: client.stdout! }).on('line', (l) => events.push(JSON.parse(l)));
    assert.ok(await waitFor(() => events.some((e) => e.event === 'connected')), 'the client connected');
    const port = events.find((e) => e.event === 'connected')!.port!;
    client.stdin!.write('expect 3\n');
    assert.ok(await waitFor(() => events.some((e) => e.event === 'result')), 'the first echo came back');
    // The attacker: a SYN on the client's 4-tuple with a new ISN and timestamps.
    const spoofed = await craft({ sport: port, seq: 0x7000000, opts: [['MSS', 1460], ['Timestamp', [123456, 0]]], synOnly: true, waitS: 0.5 });
    assert.equal(spoofed.synacks, 0, 'syncache answered the spoofed SYN');
    assert.ok(await waitFor(() => p.responder.stats().synOnLiveFlow >= 1));
    // The real client goes on: its next request gets its answer, no reset.
    events.length = 0;
    client.stdin!.write('send two\nexpect 6\n');
    assert.ok(await waitFor(() => events.some((e) => e.event !== 'connected')), 'the client heard back');
    assert.deepEqual(events.filter((e) => e.event !== 'connected'), [{ event: 'result', got: 'onetwo' }]);
    client.stdin!.end('end\n');
    assert.deepEqual(errors, []);
    assert.equal(p.responder.stats().rstssent, 0);
  }, echo);
});

test('a SYN older than the closed connection on its 4-tuple does not reopen it (RFC 6191); a newer one does', { skip }, async () => {
  // The peer's timestamps without a random offset: its TSval is its
  // CLOCK_MONOTONIC in ms, which this process reads too.
  pair.peer.sysctl('net.ipv4.tcp_timestamps', 2);
  const nowMs = (): number => Number(process.hrtime.bigint() / 1_000_000n) >>> 0;
  try {
    await withServer(async (p, errors) => {
      const port = 40600;
      const child = track(spawn(...pair.peer.wrap('curl', ['-sS', '-m', '10', '--local-port', String(port), '-o', '/dev/null', '-w', '%{http_code}', `http://${pair.responderV4}/`]), { stdio: ['ignore', 'pipe', 'inherit'] }));
      let code = '';
      child.stdout!.on('data', (d) => (code += d));
      await new Promise((resolve) => child.on('close', resolve));
      assert.equal(code, '200');
      assert.ok(await waitFor(() => p.stats().handoffs === 1 && p.stats().open === 0), 'the connection was served and closed');
      const refused = p.responder.stats().synOnTimeWait;
      // A SYN on that 4-tuple whose timestamp is a minute older than the old connection's: an old duplicate.
      const old = await craft({ sport: port, seq: 0x1000, opts: [['MSS', 1460], ['Timestamp', [(nowMs() - 60_000) >>> 0, 0]]], synOnly: true, waitS: 0.5 });
      assert.equal(old.synacks, 0, 'the old SYN reopened the closed connection');
      assert.ok(await waitFor(() => p.responder.stats().synOnTimeWait > refused));
      // One whose timestamp is newer: a new connection, answered.
      const fresh = await craft({ sport: port, seq: 0x2000, opts: [['MSS', 1460], ['Timestamp', [(nowMs() + 1000) >>> 0, 0]]], synOnly: true, waitS: 0.5 });
      assert.ok(fresh.synacks >= 1, 'the newer SYN was not answered');
      assert.equal(await curl(), '200');
      assert.deepEqual(errors, []);
    });
  } finally {
    pair.peer.sysctl('net.ipv4.tcp_timestamps', 1);
  }
});
