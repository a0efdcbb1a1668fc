// ICMP errors reach the shard of the flow they quote. With workers, each
// shard's ring is a member of one PACKET_FANOUT group; an ICMP unreachable
// from the peer carries the peer's and our addresses and no ports, so a
// hash of its own header sends every such error to one shard, whatever
// flow it quotes. Here: SYNs on several flows from the peer namespace
// (scapy), an entry each, spread over two shards; then, for each SYN-ACK,
// an ICMP host unreachable quoting it. Every entry's own shard must mark it
// (unreachmarked), none may be ignored for want of an entry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPairLab, type PairLab } from '../../lib/lab/netns.js';
import { Responder } from '../../lib/responder/responder.js';
import { track } from '../helpers/children.js';
import { PYTHON, craftedFramesUnavailableReason } from '../helpers/scapy.js';

// Debian's python3 with python3-scapy (a pyenv python3 earlier on PATH may lack it).
const skip = craftedFramesUnavailableReason();
const PORT = 80;
const FLOWS = 12;
const FIRST_PORT = 42001;
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('icmp', 28);
  // The peer's kernel would answer our SYN-ACKs with RSTs (no socket of its
  // own), and a RST at IRS+1 drops the entry: not on these ports.
  pair.peer.exec('nft', ['-f', '-'], `table inet sc_icmp {
    chain out { type filter hook output priority 0; tcp sport ${FIRST_PORT}-${FIRST_PORT + FLOWS - 1} tcp flags rst drop; }
  }`);
});
after(() => pair?.lab.destroy());

// SYNs from the given ports; for each SYN-ACK, an ICMP host unreachable
// (ICMPv6 address unreachable) quoting its IP header and first 8 TCP bytes
// (as a router would). Prints
// how many SYN-ACKs were quoted back.
const SCAPY = `
import json, sys, time
from scapy.all import IP, IPv6, TCP, ICMP, ICMPv6DestUnreach, Raw, AsyncSniffer, send, conf
conf.verb = 0
a = json.loads(sys.argv[1])
L3 = IPv6 if a['v6'] else IP
seen = []
sniffer = AsyncSniffer(iface=a['iface'], filter='tcp and src port %d' % a['dport'], prn=seen.append, store=False)
sniffer.start()
time.sleep(0.3)
for sport in a['sports']:
    send(L3(src=a['src'], dst=a['dst'])/TCP(sport=sport, dport=a['dport'], flags='S', seq=1000), iface=a['iface'])
end = time.time() + 5
while time.time() < end and len({p[TCP].dport for p in seen if str(p[TCP].flags) == 'SA'}) < len(a['sports']):
    time.sleep(0.05)
sniffer.stop()
quoted = {}
for p in seen:
    if str(p[TCP].flags) == 'SA' and p[TCP].dport not in quoted:
        quoted[p[TCP].dport] = bytes(p[L3])[:48 if a['v6'] else 28]
for q in quoted.values():
    error = ICMPv6DestUnreach(code=3) if a['v6'] else ICMP(type=3, code=1)
    send(L3(src=a['src'], dst=a['dst'])/error/Raw(q), iface=a['iface'])
print(json.dumps({'quoted': len(quoted)}))
`;

function synsThenUnreachables(v6: boolean, sports: number[]): Promise<{ quoted: number }> {
  const input = JSON.stringify({
    iface: pair.peerIface, v6, src: v6 ? pair.peerV6 : pair.peerV4, dst: v6 ? pair.responderV6 : pair.responderV4, dport: PORT, sports,
  });
  const child = track(spawn(...pair.peer.wrap(PYTHON, ['-c', SCAPY, input]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => child.on('close', () => {
    try { resolve(JSON.parse(out) as { quoted: number }); } catch { reject(new Error(`scapy printed ${JSON.stringify(out)}`)); }
  }));
}

async function waitFor(what: string, check: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const v6 of [false, true]) test(`workers: 2 - an ${v6 ? 'ICMPv6' : 'ICMP'} unreachable reaches the shard whose entry it quotes`, { skip, timeout: 60_000 }, async () => {
  const r = await Responder.open({
    iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4, pair.responderV6], ports: [PORT],
    syncookies: 'off', workers: 2, gate: false,
  });
  try {
    const sports = Array.from({ length: FLOWS }, (_, i) => FIRST_PORT + i);
    const { quoted } = await synsThenUnreachables(v6, sports);
    assert.equal(quoted, FLOWS, 'every SYN was answered');
    const sum = (name: string): number => r.stats()[name];
    await waitFor('every ICMP handled', () => sum('unreachmarked') + sum('unreachignored') >= FLOWS);
    const shards = r.statsByShard();
    const added = shards.map((s) => s.added);
    assert.equal(sum('added'), FLOWS);
    assert.ok(added.every((n) => n > 0), `the flows spread over both shards (added ${added.join(', ')})`);
    assert.deepEqual(shards.map((s) => s.unreachmarked), added, 'each shard marked exactly its own entries');
    assert.equal(sum('unreachignored'), 0);
  } finally {
    await r.close();
  }
});
