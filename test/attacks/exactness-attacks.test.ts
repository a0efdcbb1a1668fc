// Attacks on a half-open entry (issue 12, item 4), as crafted frames from
// the peer namespace (scapy) against a protect()ed server, with the
// kernel's TCP stack as the real client where one is needed:
// - a RST storm across the receive window: only seq == IRS+1 may drop the
//   entry; the rest of the window gets rate-limited challenge ACKs, the
//   outside is ignored; the entry keeps retransmitting and still completes;
// - a duplicate SYN with another ISN from another MAC on the real client's
//   4-tuple: the entry's IRS and peer stay, the SYN-ACK goes to the real
//   client only, and the real client's request is served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';
import { createPairLab, type PairLab } from '../../lib/lab/netns.js';
import { protect, type Protection } from '../../lib/handoff/protect.js';
import { CHALLENGE_ACK_LIMIT, CHALLENGE_ACK_WINDOW_MS } from '../../lib/engine/engine.js';
import { track } from '../helpers/children.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';

const skip = craftedFramesUnavailableReason();
const PORT = 80;
const CLIENT = fileURLToPath(new URL('../handoff/client.js', import.meta.url));
const SPOOF_MAC = '02:5c:00:00:00:66';
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('exa', 21);
  // The crafted handshakes use ports no socket of the peer's owns: its
  // kernel would answer our SYN-ACKs and challenge ACKs with RSTs.
  pair.peer.exec('nft', ['-f', '-'], `table inet sc_exact {
    chain out { type filter hook output priority 0; tcp sport 41000-41999 tcp flags rst drop; }
  }`);
});
after(() => pair?.lab.destroy());

async function waitFor(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function runScapy(script: string, args: object): Promise<Record<string, unknown>> {
  const child = track(spawn(...pair.peer.wrap(PYTHON, ['-c', script, JSON.stringify(args)]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => child.on('close', () => {
    try { resolve(JSON.parse(out) as Record<string, unknown>); } catch { reject(new Error(`scapy printed ${JSON.stringify(out)}`)); }
  }));
}

async function withServer(body: (p: Protection, errors: Error[]) => Promise<void>, server: net.Server): Promise<void> {
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

// A SYN; once its SYN-ACK is in, RSTs at the given offsets from IRS+1 (one
// burst), then wait for a retransmitted SYN-ACK; then the final ACK and a
// request. Prints what came back.
const RST_STORM = `
import json, sys, time
from scapy.all import IP, TCP, Raw, AsyncSniffer, send, conf
conf.verb = 0
a = json.loads(sys.argv[1])
iface, src, dst, sport, dport, seq = a['iface'], a['src'], a['dst'], a['sport'], a['dport'], a['seq']
seen = []
sniffer = AsyncSniffer(iface=iface, filter='tcp and src port %d and dst port %d' % (dport, sport), prn=seen.append, store=False)
sniffer.start()
time.sleep(0.3)
ip = IP(src=src, dst=dst)
send(ip/TCP(sport=sport, dport=dport, flags='S', seq=seq, options=[('MSS', 1460)]), iface=iface)
def synacks():
    return [p for p in seen if str(p[TCP].flags) == 'SA']
end = time.time() + 3
while time.time() < end and not synacks():
    time.sleep(0.02)
out = {'synack': len(synacks()) > 0}
if out['synack']:
    iss = synacks()[0][TCP].seq
    started = time.time()
    send([ip/TCP(sport=sport, dport=dport, flags='R', seq=(seq + 1 + k) % 2**32) for k in a['offsets']], iface=iface)
    out['stormS'] = time.time() - started
    end = time.time() + 4
    while time.time() < end and len(synacks()) < 2:
        time.sleep(0.05)
    out['retransmitted'] = len(synacks()) >= 2
    ack = iss + 1
    send(ip/TCP(sport=sport, dport=dport, flags='A', seq=seq + 1, ack=ack), iface=iface)
    send(ip/TCP(sport=sport, dport=dport, flags='PA', seq=seq + 1, ack=ack)/Raw(a['data'].encode()), iface=iface)
    end = time.time() + 4
    while time.time() < end and not any(Raw in p for p in seen):
        time.sleep(0.05)
    time.sleep(0.3)
    out['challengeAcks'] = sum(1 for p in seen if str(p[TCP].flags) == 'A' and Raw not in p and p[TCP].seq == ack and p[TCP].ack == seq + 1)
sniffer.stop()
out['reply'] = b''.join(bytes(p[Raw].load) for p in seen if Raw in p).decode('latin-1')
print(json.dumps(out))
`;

test('a RST storm across the window leaves a half-open entry alive: challenge ACKs, rate-limited; outside ignored; it retransmits and completes', { skip }, async (t) => {
  await withServer(async (p, errors) => {
    // 200 in the window but not IRS+1 (1 to 65535 after it), 50 past it, 10 before it.
    const inside = Array.from({ length: 200 }, (_, k) => 1 + Math.floor((k * 65534) / 199));
    const outside = [...Array.from({ length: 50 }, (_, k) => 65536 + k * 1000), ...Array.from({ length: 10 }, (_, k) => -1 - k * 7)];
    const before = p.responder.stats();
    const got = await runScapy(RST_STORM, {
      iface: pair.peerIface, src: pair.peerV4, dst: pair.responderV4, sport: 41001, dport: PORT, seq: 5000,
      offsets: [...inside, ...outside], data: 'GET / HTTP/1.0\r\n\r\n',
    });
    const s = p.responder.stats();
    const d = (name: string): number => s[name] - before[name];
    assert.equal(got.synack, true);
    assert.equal(got.retransmitted, true, `the entry survived to retransmit its SYN-ACK (${JSON.stringify({ reset: d('reset'), challengeack: d('challengeack') })})`);
    assert.match(String(got.reply), /^HTTP\/1\.1 200/, 'the handshake completed and the request was served');
    t.diagnostic(`storm of ${inside.length + outside.length} RSTs in ${Number(got.stormS).toFixed(2)} s: challengeack ${d('challengeack')}, challengeacklimited ${d('challengeacklimited')}, rstignored ${d('rstignored')}`);
    assert.equal(d('reset'), 0);
    // At most CHALLENGE_ACK_LIMIT per window the storm touched.
    const windows = Math.ceil((Number(got.stormS) * 1000) / CHALLENGE_ACK_WINDOW_MS) + 1;
    assert.ok(d('challengeack') >= 1 && d('challengeack') <= windows * CHALLENGE_ACK_LIMIT, `challengeack ${d('challengeack')} in ${got.stormS} s`);
    assert.equal(d('challengeack') + d('challengeacklimited'), inside.length);
    assert.equal(d('rstignored'), outside.length);
    assert.equal(got.challengeAcks, d('challengeack'), 'each challenge ACK reached the peer');
    assert.equal(d('recvcookie'), 0, 'completed through its entry, not a cookie');
    assert.deepEqual(errors, []);
  }, http.createServer((req, res) => res.end('ok')));
});

// A duplicate SYN on the 4-tuple with another ISN, from another MAC, and
// the SYN-ACKs seen on the wire after it (by destination MAC).
const SPOOFED_DUP_SYN = `
import json, sys, time
from scapy.all import Ether, IP, TCP, AsyncSniffer, sendp, conf
conf.verb = 0
a = json.loads(sys.argv[1])
seen = []
sniffer = AsyncSniffer(iface=a['iface'], filter='tcp and src port %d and dst port %d' % (a['dport'], a['sport']), prn=seen.append, store=False, promisc=True)
sniffer.start()
time.sleep(0.3)
frame = Ether(src=a['spoofMac'], dst=a['dstMac'])/IP(src=a['src'], dst=a['dst'])/TCP(sport=a['sport'], dport=a['dport'], flags='S', seq=a['seq'], options=[('MSS', 1460), ('Timestamp', (999999, 0))])
sendp(frame, iface=a['iface'])
time.sleep(1.0)
sniffer.stop()
sa = [p for p in seen if str(p[TCP].flags) == 'SA']
print(json.dumps({'toSpoofer': sum(1 for p in sa if p[Ether].dst == a['spoofMac']), 'toClient': sum(1 for p in sa if p[Ether].dst != a['spoofMac']), 'acks': [p[TCP].ack for p in sa]}))
`;

test('a duplicate SYN with a new ISN from a spoofing host rewrites nothing: the real client\'s handshake completes and its request is served', { skip }, async () => {
  const echo = net.createServer((sock) => { sock.on('data', (d) => sock.write(d)); sock.on('error', () => {}); });
  await withServer(async (p, errors) => {
    // Hold the real client's handshake half-open: its pure ACKs are dropped until the spoof is done.
    pair.peer.exec('nft', ['-f', '-'], `table inet sc_hold_ack {
      chain out { type filter hook output priority 0; tcp dport ${PORT} tcp flags & (fin|syn|rst|psh|ack) == ack drop; }
    }`);
    let filtered = true;
    const unfilter = (): void => { if (filtered) { filtered = false; pair.peer.exec('nft', ['delete', 'table', 'inet', 'sc_hold_ack']); } };
    try {
      const client = track(spawn(...pair.peer.wrap(process.execPath, [CLIENT, pair.responderV4, String(PORT), 'hold']), { stdio: ['pipe', 'pipe', 'inherit'] }));
      const events: Array<{ event: string; port?: number; got?: string }> = [];
      createInterface({ input: client.stdout! }).on('line', (l) => events.push(JSON.parse(l)));
      await waitFor(() => events.some((e) => e.event === 'connected'), 'the client to connect');
      const port = events.find((e) => e.event === 'connected')!.port!;
      assert.equal(p.responder.cacheSize, 1, 'its entry is half-open');
      const dupsyn = p.responder.stats().dupsyn;
      const mac = [...pair.responder.macOf(pair.responderIface)].map((b) => b.toString(16).padStart(2, '0')).join(':');
      const spoof = await runScapy(SPOOFED_DUP_SYN, {
        iface: pair.peerIface, spoofMac: SPOOF_MAC, dstMac: mac, src: pair.peerV4, dst: pair.responderV4, sport: port, dport: PORT, seq: 0x7000000,
      });
      assert.equal(p.responder.stats().dupsyn, dupsyn + 1);
      assert.equal(spoof.toSpoofer, 0, 'a SYN-ACK went to the spoofing MAC');
      assert.ok(Number(spoof.toClient) >= 1, 'the SYN-ACK is resent to the real client (the timer may add its own retransmit)');
      assert.ok((spoof.acks as number[]).every((ack) => ack !== 0x7000001), 'the SYN-ACK acks the stored IRS, not the spoofed ISN');
      unfilter();
      events.length = 0;
      client.stdin!.write('send one\nexpect 3\n');
      await waitFor(() => events.some((e) => e.event === 'result' || e.event === 'error'), 'the echo');
      assert.deepEqual(events, [{ event: 'result', got: 'one' }]);
      client.stdin!.end('end\n');
      assert.equal(p.stats().handoffs, 1);
      assert.deepEqual(errors, []);
    } finally {
      unfilter();
    }
  }, echo);
});

// A SYN; once its SYN-ACK is in, a RST at exactly IRS+1 and then the final
// ACK (whose ack still carries the entry's cookie ISS) and a request.
const RESET_THEN_ACK = `
import json, sys, time
from scapy.all import IP, TCP, Raw, AsyncSniffer, send, conf
conf.verb = 0
a = json.loads(sys.argv[1])
iface, src, dst, sport, dport, seq = a['iface'], a['src'], a['dst'], a['sport'], a['dport'], a['seq']
seen = []
sniffer = AsyncSniffer(iface=iface, filter='tcp and src port %d and dst port %d' % (dport, sport), prn=seen.append, store=False)
sniffer.start()
time.sleep(0.3)
ip = IP(src=src, dst=dst)
send(ip/TCP(sport=sport, dport=dport, flags='S', seq=seq, options=[('MSS', 1460)]), iface=iface)
end = time.time() + 3
while time.time() < end and not any(str(p[TCP].flags) == 'SA' for p in seen):
    time.sleep(0.02)
sa = [p for p in seen if str(p[TCP].flags) == 'SA']
out = {'synack': len(sa) > 0}
if sa:
    send(ip/TCP(sport=sport, dport=dport, flags='R', seq=seq + 1), iface=iface)
    time.sleep(0.3)
    ack = sa[0][TCP].seq + 1
    send(ip/TCP(sport=sport, dport=dport, flags='A', seq=seq + 1, ack=ack), iface=iface)
    send(ip/TCP(sport=sport, dport=dport, flags='PA', seq=seq + 1, ack=ack)/Raw(a['data'].encode()), iface=iface)
    time.sleep(1.5)
sniffer.stop()
out['reply'] = b''.join(bytes(p[Raw].load) for p in seen if Raw in p).decode('latin-1')
print(json.dumps(out))
`;

test('a RST at exactly IRS+1 drops the entry, and its cookie no longer completes while the cache never ran out (spuriouscookie)', { skip }, async () => {
  await withServer(async (p, errors) => {
    const before = p.responder.stats();
    const got = await runScapy(RESET_THEN_ACK, {
      iface: pair.peerIface, src: pair.peerV4, dst: pair.responderV4, sport: 41002, dport: PORT, seq: 9000, data: 'GET / HTTP/1.0\r\n\r\n',
    });
    const s = p.responder.stats();
    const d = (name: string): number => s[name] - before[name];
    assert.equal(got.synack, true);
    assert.equal(d('reset'), 1);
    assert.equal(p.responder.cacheSize, 0);
    assert.equal(d('spuriouscookie'), 2, 'the final ACK and the request behind it');
    assert.equal(d('recvcookie'), 0);
    assert.equal(p.stats().handoffs, 0);
    assert.equal(got.reply, '');
    assert.deepEqual(errors, []);
  }, http.createServer((req, res) => res.end('ok')));
});
