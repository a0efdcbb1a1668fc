// Readies a lab veth pair for an XDP program on one end (the responder's),
// which the lab does not attach itself: the door attaches its own.
//
// What veth needs (drivers/net/veth.c), and so what this does:
//
// 1. A frame the responder's program sends back with XDP_TX, or redirects
//    into the veth (XDP_REDIRECT, ndo_xdp_xmit), goes into the *peer's*
//    receive ring (a 256-slot ptr_ring) and is delivered by the peer's NAPI.
//    A veth has NAPI only while it has an XDP program or GRO on; without it
//    those frames are dropped (xdp_tx_errors). GRO is not enough for
//    XDP_TX: veth kicks the peer's NAPI after an XDP_TX batch only when the
//    peer has an XDP program, so the frames fill the ring (counted as sent)
//    and stay there. So the peer gets an XDP program that passes every frame
//    (`passOnPeer`), compiled here by clang from the two lines below and
//    attached in native mode by iproute2; the object file is deleted once
//    loaded, the program goes with the peer's namespace. Its NAPI is left
//    unthreaded: it runs as a softirq in whatever kicks it, for XDP_TX inside
//    the responder's own NAPI, which so drains what it sends before it sends
//    more (a NAPI thread of its own would compete with its producer for a
//    CPU, and its ring would overflow into xdp_tx_errors).
//
//    The peer also gets a queue (`queueOnPeer`, pfifo of 1000 frames, a
//    NIC's default txqueuelen): veth sends into the responder's 256-slot
//    ring, and veth without a queue drops what finds that ring full, where
//    a NIC stops its transmit queue until the ring drains. With a queue,
//    veth stops it as a NIC does (a recent veth, as 6.18's; an older
//    one drops all the same), so what the peer's stack sends (the clients' SYNs, or the
//    switch's frames towards the responder) waits its turn instead of being
//    lost to a ring the flood keeps full. The generator bypasses queues
//    (PACKET_QDISC_BYPASS): its sends fail meanwhile (its txErrors).
//
// 2. The responder's program runs in its veth's NAPI poll, which is a
//    softirq on the CPU that kicked it, i.e. the sender's: without more,
//    every frame the generator sends is also run through the responder's
//    XDP program on the generator's core, so a full-speed row measures the
//    two together and the responder's CPU sits idle. RPS, which puts the
//    kernel's receive path on the responder's CPU (topology.ts), comes after
//    XDP and does not move it. A threaded NAPI does: `napiThread` makes the
//    responder veth's NAPI a kernel thread and pins it to the responder's
//    CPU. The generator's frames then wait in the responder's 256-slot ring
//    and, when that is full, are dropped at the sender (the generator's
//    veth counts tx_dropped, its send reports an error), as a NIC drops
//    what its receive ring has no room for. NAPI, and so the thread, exist
//    only while the veth has GRO or an XDP program, and a new program on a
//    veth without NAPI makes a new, unpinned thread; so the veth keeps GRO
//    on, with gro_max_size 0 so that GRO never merges two frames and packet
//    sockets still see wire-sized ones, and the thread keeps its CPU across
//    the door's attaches and detaches.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What this needs of a namespace (netns.ts's Namespace has it). */
export interface VethNamespace {
  ip(args: string[]): string;
  exec(command: string, args: string[]): string;
}

// 2 is XDP_PASS (enum xdp_action, linux/bpf.h); no headers, so clang is all it needs.
const PASS_SOURCE = `
__attribute__((section("xdp"), used)) int lab_xdp_pass(void *ctx) { return 2; }
char lab_license[] __attribute__((section("license"), used)) = "GPL";
`;

let checked: { reason?: string } | undefined;

/** Why the lab cannot ready veths for XDP here, if it cannot (for skips). */
export function vethXdpUnavailableReason(): string | undefined {
  checked ??= { reason: missingTool() };
  return checked.reason;
}

function missingTool(): string | undefined {
  try {
    execFileSync('ethtool', ['--version'], { stdio: 'ignore' });
  } catch {
    return "the lab's XDP preparation needs ethtool (apt-get install ethtool)";
  }
  const dir = mkdtempSync(join(tmpdir(), 'sc-xdp-'));
  try {
    compilePass(dir);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function compilePass(dir: string): string {
  const object = join(dir, 'pass.o');
  try {
    execFileSync('clang', ['-O2', '-target', 'bpf', '-c', '-x', 'c', '-', '-o', object], { input: PASS_SOURCE, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (error) {
    const e = error as { code?: string; stderr?: Buffer };
    const why = e.code === 'ENOENT' ? 'clang is not installed' : `clang failed: ${e.stderr?.toString().trim() ?? String(error)}`;
    throw new Error(`the lab's XDP pass program cannot be built: ${why} (apt-get install clang)`);
  }
  return object;
}

/** Attaches a pass-everything XDP program (native mode) to `iface`, the peer of the veth an XDP responder will use. */
export function passOnPeer(ns: VethNamespace, iface: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'sc-xdp-'));
  try {
    ns.ip(['link', 'set', 'dev', iface, 'xdpdrv', 'obj', compilePass(dir), 'sec', 'xdp']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Gives `iface` (the responder veth's other end) a transmit queue, so that veth holds back what finds the responder's ring full rather than drop it. */
export function queueOnPeer(ns: VethNamespace, iface: string): void {
  ns.exec('tc', ['qdisc', 'replace', 'dev', iface, 'root', 'pfifo', 'limit', String(PEER_QUEUE_FRAMES)]);
}

/** A NIC's default txqueuelen. */
const PEER_QUEUE_FRAMES = 1000;

/** Makes `iface`'s NAPI a kernel thread pinned to `cpu`; returns the thread's pid. */
export function napiThread(ns: VethNamespace, iface: string, cpu: number): number {
  ns.ip(['link', 'set', 'dev', iface, 'gro_max_size', '0']);
  ns.exec('ethtool', ['-K', iface, 'gro', 'on']);
  // The thread is named napi/<iface>-<napi id>, and other labs' veths have
  // the same names: ours is the one that appears when we turn threading on
  // (retried if another appeared at the same moment).
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = new Set(napiThreads(iface));
    setThreaded(ns, iface, 1);
    const fresh = napiThreads(iface).filter((pid) => !before.has(pid));
    if (fresh.length === 1) {
      execFileSync('taskset', ['-p', '-c', String(cpu), String(fresh[0])], { stdio: 'ignore' });
      return fresh[0];
    }
    setThreaded(ns, iface, 0);
  }
  throw new Error(`cannot tell ${iface}'s NAPI thread from other namespaces' (napi/${iface}-*)`);
}

function setThreaded(ns: VethNamespace, iface: string, on: 0 | 1): void {
  // `ip netns exec` mounts the namespace's own /sys.
  ns.exec('sh', ['-c', `echo ${on} > /sys/class/net/${iface}/threaded`]);
}

/** Pids of kernel threads (children of kthreadd, pid 2) named napi/<iface>-*. */
function napiThreads(iface: string): number[] {
  const prefix = `napi/${iface}-`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith(prefix)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: the comm may hold spaces, so split after its ')'.
      if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === '2') found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
