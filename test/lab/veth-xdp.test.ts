// The lab readied for an XDP responder (veth-xdp.ts), with a hairpin program
// on the responder's veth that swaps the MACs of frames of a test EtherType
// and sends them back with XDP_TX: in a pair lab (198.18.70.0/24) whose peer
// was readied they all come back to the peer, and in one that was not
// (198.18.71.0/24) veth drops them all (xdp_tx_errors). In the lab proper,
// with cpus split, the responder veth's NAPI is a thread pinned to the
// responder's CPU: a hairpin that answers only there answers every frame the
// peer sends from the network's CPU, the thread stays the same across a
// program's attach and detach, and GRO merges nothing (a packet socket on the
// responder sees no frame longer than the wire's). The switch profile's
// attacker gets its frames back across the bridge too.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPairLab, labUnavailableReason, type Namespace, type PairLab } from '../../lib/lab/netns.js';
import { buildLab, type Lab } from '../../lib/lab/topology.js';
import { vethXdpUnavailableReason } from '../../lib/lab/veth-xdp.js';
import { lineReader, withTimeout } from '../../lib/lab/kernel-listener.js';
import { track } from '../helpers/children.js';
import { PYTHON } from '../helpers/scapy.js';

const skip = labUnavailableReason() ?? vethXdpUnavailableReason();
if (skip) console.log(`# skipped: ${skip}`);
const FRAMES = 200;
const CPUS = { responder: 1, network: 0 };
const split = availableParallelism() >= 2;

// Hairpins frames of EtherType 0x88b5 (IEEE local experimental) with XDP_TX;
// with ON_CPU >= 0 only on that CPU (others are dropped). Everything else passes.
const HAIRPIN = `
struct xdp_md { unsigned int data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };
static unsigned int (*get_smp_processor_id)(void) = (void *)8;
__attribute__((section("xdp"), used)) int hairpin(struct xdp_md *ctx) {
  unsigned char *data = (unsigned char *)(long)ctx->data, *end = (unsigned char *)(long)ctx->data_end;
  if (data + 14 > end || data[12] != 0x88 || data[13] != 0xb5) return 2;
  if (ON_CPU >= 0 && get_smp_processor_id() != ON_CPU) return 1;
  for (int i = 0; i < 6; i++) { unsigned char t = data[i]; data[i] = data[i + 6]; data[i + 6] = t; }
  return 3;
}
char hairpin_license[] __attribute__((section("license"), used)) = "GPL";
`;

function attachHairpin(ns: Namespace, iface: string, onCpu = -1): void {
  const dir = mkdtempSync(join(tmpdir(), 'sc-hairpin-'));
  try {
    const object = join(dir, 'hairpin.o');
    execFileSync('clang', ['-O2', '-target', 'bpf', `-DON_CPU=${onCpu}`, '-c', '-x', 'c', '-', '-o', object], { input: HAIRPIN });
    ns.ip(['link', 'set', 'dev', iface, 'xdpdrv', 'obj', object, 'sec', 'xdp']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The veth's XDP counters (ethtool -S), by name without the rx_queue_0_ prefix. */
function xdpCounters(ns: Namespace, iface: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of ns.exec('ethtool', ['-S', iface]).matchAll(/^\s*rx_queue_0_(\w+): (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} within 5000 ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Sends argv[3] frames of EtherType 0x88b5 to MAC argv[2] on argv[1], prints
// "sent", then reads how many to wait for (up to 5 s) and prints how many
// distinct ones came back addressed to us.
const PEER = `
import socket, struct, sys, time
iface, dst, n = sys.argv[1], bytes.fromhex(sys.argv[2]), int(sys.argv[3])
rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
rx.setsockopt(263, 23, 1)  # PACKET_IGNORE_OUTGOING
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
rx.bind((iface, 0x88b5))
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind((iface, 0))
me = tx.getsockname()[4]
for i in range(n):
    tx.send(dst + me + struct.pack('!HI', 0x88b5, i) + bytes(42))
print('sent', flush=True)
expect = int(sys.stdin.readline())
back = set()
deadline = time.time() + 5
rx.settimeout(0.05)
while True:
    try:
        f = rx.recv(2048)
        if f[:6] == me:
            back.add(struct.unpack('!I', f[14:18])[0])
    except (socket.timeout, BlockingIOError):
        if len(back) >= expect or time.time() > deadline:
            break
print(len(back), flush=True)
`;

/**
 * Sends FRAMES hairpin frames from `from` to `to`'s MAC, waits until the
 * responder's counters say `settled`, and returns how many came back.
 */
async function hairpinRound(from: { ns: Namespace; iface: string; cpu?: number }, to: Uint8Array, settled: () => boolean, expect: number): Promise<number> {
  const hex = Buffer.from(to).toString('hex');
  const args = [PYTHON, '-c', PEER, from.iface, hex, String(FRAMES)];
  const [cmd, argv] = from.ns.wrap('taskset', ['-c', String(from.cpu ?? 0), ...args]);
  const child = track(spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = lineReader(child);
  assert.equal(await withTimeout(lines.next(), 10000, 'the peer sending'), 'sent');
  await until('the responder counting the frames', settled);
  child.stdin!.end(`${expect}\n`);
  return Number(await withTimeout(lines.next(), 10000, 'the peer counting'));
}

describe('a pair lab readied for XDP', { skip }, () => {
  let ready: PairLab;
  let bare: PairLab;
  before(() => {
    ready = createPairLab('vxdp', 70, { xdp: true });
    bare = createPairLab('vxdpbare', 71);
  });
  after(() => {
    ready?.lab.destroy();
    bare?.lab.destroy();
  });

  it('puts a pass program on the peer; frames the responder hairpins with XDP_TX all come back', async () => {
    assert.match(ready.peer.ip(['link', 'show', ready.peerIface]), /prog\/xdp id \d+ name lab_xdp_pass/);
    attachHairpin(ready.responder, ready.responderIface);
    const counters = () => xdpCounters(ready.responder, ready.responderIface);
    const back = await hairpinRound({ ns: ready.peer, iface: ready.peerIface }, ready.responder.macOf(ready.responderIface), () => counters().xdp_tx >= FRAMES, FRAMES);
    assert.equal(back, FRAMES);
    assert.equal(counters().xdp_tx, FRAMES);
    assert.equal(counters().xdp_tx_errors, 0);
  });

  it('without it, veth drops every hairpinned frame', async () => {
    attachHairpin(bare.responder, bare.responderIface);
    const counters = () => xdpCounters(bare.responder, bare.responderIface);
    const back = await hairpinRound({ ns: bare.peer, iface: bare.peerIface }, bare.responder.macOf(bare.responderIface), () => counters().xdp_tx_errors >= FRAMES, 0);
    assert.equal(back, 0);
    assert.equal(counters().xdp_tx_errors, FRAMES);
    assert.equal(counters().xdp_tx ?? 0, 0);
  });
});

describe('the lab readied for XDP, cpus split', { skip: skip ?? (split ? undefined : 'needs 2 CPUs') }, () => {
  let lab: Lab;
  before(() => {
    lab = buildLab({ tag: 'vxdplab', profile: 'pair', cpus: CPUS, xdp: true });
  });
  after(() => {
    lab?.destroy();
  });

  it('runs the responder veth\'s NAPI as a thread on the responder\'s CPU, where its XDP program runs', async () => {
    const { responder } = lab;
    const thread = lab.xdp!.napiThread!;
    assert.equal(thread.cpu, CPUS.responder);
    assert.match(readFileSync(`/proc/${thread.pid}/comm`, 'utf8'), new RegExp(`^napi/${responder.iface}-`));
    assert.match(readFileSync(`/proc/${thread.pid}/status`, 'utf8'), new RegExp(`^Cpus_allowed_list:\\s+${CPUS.responder}$`, 'm'));
    attachHairpin(responder.ns, responder.iface, CPUS.responder);
    const counters = () => xdpCounters(responder.ns, responder.iface);
    const back = await hairpinRound({ ns: lab.attacker.ns, iface: lab.attacker.iface, cpu: CPUS.network }, responder.mac, () => counters().xdp_tx + (counters().xdp_drops ?? 0) >= FRAMES, FRAMES);
    assert.equal(counters().xdp_drops ?? 0, 0, 'no frame ran through the program on another CPU');
    assert.equal(back, FRAMES);
  });

  it('keeps the thread across a program\'s attach and detach', () => {
    const { responder } = lab;
    const pid = lab.xdp!.napiThread!.pid;
    responder.ns.ip(['link', 'set', 'dev', responder.iface, 'xdpdrv', 'off']);
    attachHairpin(responder.ns, responder.iface);
    responder.ns.ip(['link', 'set', 'dev', responder.iface, 'xdpdrv', 'off']);
    assert.match(readFileSync(`/proc/${pid}/comm`, 'utf8'), new RegExp(`^napi/${responder.iface}-`));
    assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), new RegExp(`^Cpus_allowed_list:\\s+${CPUS.responder}$`, 'm'));
  });

  it('merges nothing: a packet socket on the responder sees wire-sized frames of a bulk TCP transfer', async () => {
    const { responder, client } = lab;
    const sink = `
import socket, threading, sys
ps = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
ps.setsockopt(263, 23, 1)
ps.bind((sys.argv[1], 0))
longest = [0]
def snoop():
    while True:
        longest[0] = max(longest[0], len(ps.recv(70000)))
threading.Thread(target=snoop, daemon=True).start()
ls = socket.socket()
ls.bind((sys.argv[2], 5001))
ls.listen()
print('ready', flush=True)
c, _ = ls.accept()
total = 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    total += len(b)
print(total, longest[0], flush=True)
`;
    const [cmd, argv] = responder.ns.wrap(PYTHON, ['-c', sink, responder.iface, responder.v4]);
    const child = track(spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] }));
    const lines = lineReader(child);
    assert.equal(await withTimeout(lines.next(), 10000, 'the sink listening'), 'ready');
    client.ns.exec(PYTHON, ['-c', `import socket\ns = socket.create_connection(('${responder.v4}', 5001))\nfor _ in range(8): s.sendall(bytes(1 << 19))\ns.close()`]);
    const [total, longest] = (await withTimeout(lines.next(), 10000, 'the sink counting'))!.split(' ').map(Number);
    assert.equal(total, 8 << 19);
    assert.ok(longest > 0 && longest <= 1514, `longest frame ${longest}`);
  });
});

describe('the switch lab readied for XDP', { skip }, () => {
  let lab: Lab;
  before(() => {
    lab = buildLab({ tag: 'vxdpsw', xdp: true });
  });
  after(() => {
    lab?.destroy();
  });

  it('passes on the switch port, so hairpinned frames cross the bridge back to the attacker', async () => {
    const sw = lab.switch!;
    assert.equal(lab.xdp!.passOn.iface, sw.ports.responder);
    assert.equal(lab.xdp!.napiThread, undefined, 'no thread without cpus');
    const { responder } = lab;
    attachHairpin(responder.ns, responder.iface);
    const counters = () => xdpCounters(responder.ns, responder.iface);
    const back = await hairpinRound({ ns: lab.attacker.ns, iface: lab.attacker.iface }, responder.mac, () => counters().xdp_tx >= FRAMES, FRAMES);
    assert.equal(back, FRAMES);
    assert.equal(counters().xdp_tx_errors, 0);
  });

  it('gives the switch port a queue, so veth holds back what finds the responder\'s ring full instead of dropping it', () => {
    const { ns, iface } = lab.xdp!.passOn;
    assert.match(ns.exec('tc', ['qdisc', 'show', 'dev', iface]), /^qdisc pfifo \S+ root .*limit 1000p/m);
  });
});
