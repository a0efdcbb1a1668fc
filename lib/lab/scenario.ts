// One flood run in a fresh lab, against syncache or against the kernel's own
// listener (net.ipv4.tcp_syncookies=2): the built-in generator floods from
// the attacker, the kernel's TCP stack connects from the client, and both
// sides are counted the same way (SYNs the generator sent, SYN-ACKs that
// reached the attacker), so the two targets compare as a ratio.
import { availableParallelism } from 'node:os';
import type { CookieMode } from '../native/addon.js';
import { labAddon } from './lab-addon.js';
import { Responder } from '../responder/responder.js';
import { buildLab, type LabProfile } from './topology.js';
import type { IoChoice } from '../responder/io-choice.js';
import { runClients, type ClientSummary } from './clients.js';
import { counterDelta, readKernelCounters, startKernelListener, type KernelCounters } from './kernel-listener.js';

export interface ScenarioOptions {
  target: 'syncache' | 'kernel';
  seconds: number;
  /** SYN/s offered; 0 = as fast as the generator's one core goes. */
  rate: number;
  /** Legitimate connects per second. */
  clientRate: number;
  syncookies?: CookieMode;
  /** The cache's pause once it runs out (SyncacheConfig.pauseMs; default 15000). */
  pauseMs?: number;
  workers?: number;
  /** PACKET_QDISC_BYPASS for syncache's frames. */
  qdiscBypass?: boolean;
  port?: number;
  /** Lab namespace tag (1-8 lowercase letters/digits). */
  tag?: string;
  /** The lab's shape (see LabOptions.profile; default 'switch'). */
  profile?: LabProfile;
  /** syncache's I/O path (ResponderOptions.io; default 'packet'); the lab readies its veths for XDP unless 'packet'. */
  io?: IoChoice;
  /**
   * The CPU that sends every frame towards the responder: the generator,
   * the clients and the network's receive paths (LabOptions.networkCpu).
   * Default 0 on a machine of two CPUs or more; null leaves them where the
   * scheduler puts them, where an XDP responder's veth can end up draining
   * its ring on the other CPU while the generator fills it, and drop.
   */
  networkCpu?: number | null;
  onProgress?: (p: Progress) => void;
  /** Called once syncache's responder is open (target syncache), e.g. to serve its metrics. */
  onResponder?: (r: Responder) => void;
}

export interface Progress {
  elapsed: number;
  synPerSecond: number;
  synAckPerSecond: number;
  cacheEntries: number;
  completed: number;
}

export interface LabReport {
  target: 'syncache' | 'kernel';
  profile: LabProfile;
  syncookies: CookieMode | 'kernel-2';
  workers: number;
  /** The I/O path syncache took ('packet' or 'xdp'; the kernel's target: 'kernel'). */
  io: 'packet' | 'xdp' | 'kernel';
  seconds: number;
  synsSent: number;
  /** SYN-ACKs that reached the attacker, retransmits included. */
  synAcksSeen: number;
  /** SYNs answered at least once. */
  synsAnswered: number;
  offeredPerSecond: number;
  answeredPerSecond: number;
  /** synsAnswered / synsSent. */
  answeredShare: number;
  clients: ClientSummary;
  cacheEntries: number;
  cachePeak: number;
  /** syncache's counters (target syncache). */
  counters: Record<string, number>;
  /** The responder namespace's kernel counters over the run (target kernel). */
  kernel?: Partial<KernelCounters>;
  date: string;
}

export async function runLabScenario(options: ScenarioOptions): Promise<LabReport> {
  const port = options.port ?? 80;
  const workers = options.workers ?? 0;
  const syncookies = options.syncookies ?? 'on';
  const io = options.io ?? 'packet';
  const xdp = options.target === 'syncache' && io !== 'packet';
  const networkCpu = options.networkCpu === undefined ? (availableParallelism() >= 2 ? 0 : undefined) : options.networkCpu ?? undefined;
  // Behind the door each shard reads a receive queue of its own.
  const lab = buildLab({ tag: options.tag ?? 'lab', profile: options.profile, xdp, queues: xdp ? Math.max(1, workers) : 1, networkCpu });
  let responder: Responder | undefined;
  let listener: Awaited<ReturnType<typeof startKernelListener>> | undefined;
  const stopSignals = installSignalCleanup(() => lab.destroy());
  try {
    const r = lab.responder;
    let before: KernelCounters | undefined;
    if (options.target === 'syncache') {
      responder = await Responder.open({
        iface: r.iface, netns: r.ns.path, addrs: [r.v4, r.v6], ports: [port], syncookies, workers,
        pauseMs: options.pauseMs, qdiscBypass: options.qdiscBypass, io,
      });
    } else {
      listener = await startKernelListener({ ns: r.ns, port, syncookies: 2, backlog: 1024 });
      before = readKernelCounters(r.ns);
    }
    let completed = 0;
    responder?.on('handshake', () => { completed++; });
    if (responder) options.onResponder?.(responder);

    const started = performance.now();
    const flood = labAddon.flood({
      iface: lab.attacker.iface, netns: lab.attacker.ns.path, dstMac: r.mac,
      dstAddr: r.v4, dstPort: port, srcNet: lab.spoofV4, rate: options.rate, seconds: options.seconds, cpu: networkCpu,
    });
    const clients = runClients({
      ns: lab.client.ns, addr: [r.v4, r.v6], port, rate: options.clientRate, seconds: options.seconds, timeoutMs: 3000, cpu: networkCpu,
    });

    let cachePeak = 0;
    let last = responder?.stats();
    let lastAt = started;
    const progress = setInterval(() => {
      const now = performance.now();
      const cur = responder?.stats();
      const dt = (now - lastAt) / 1000;
      const cacheEntries = responder?.cacheSize ?? 0;
      cachePeak = Math.max(cachePeak, cacheEntries);
      options.onProgress?.({
        elapsed: (now - started) / 1000,
        synPerSecond: cur && last ? (cur.parsedSyn - last.parsedSyn) / dt : 0,
        synAckPerSecond: cur && last ? (cur.synackssent - last.synackssent) / dt : 0,
        cacheEntries,
        completed,
      });
      last = cur;
      lastAt = now;
    }, 1000);

    const [floodResult, clientSummary] = await Promise.all([flood, clients]);
    clearInterval(progress);
    // Let the last replies land before counting.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const counters = responder?.stats() ?? {};
    const cacheEntries = responder?.cacheSize ?? 0;
    let kernel: Partial<KernelCounters> | undefined;
    if (before !== undefined) {
      const d = counterDelta(before, readKernelCounters(r.ns));
      kernel = { SyncookiesSent: d.SyncookiesSent, SyncookiesRecv: d.SyncookiesRecv, SyncookiesFailed: d.SyncookiesFailed, ListenOverflows: d.ListenOverflows, ListenDrops: d.ListenDrops };
    }
    const seconds = floodResult.seconds;
    return {
      target: options.target,
      profile: lab.profile,
      syncookies: options.target === 'kernel' ? 'kernel-2' : syncookies,
      workers: options.target === 'kernel' ? 0 : workers,
      io: responder?.backend ?? 'kernel',
      seconds,
      synsSent: floodResult.sent,
      synAcksSeen: floodResult.replies,
      synsAnswered: floodResult.unique,
      offeredPerSecond: floodResult.sent / seconds,
      answeredPerSecond: floodResult.unique / seconds,
      answeredShare: floodResult.sent > 0 ? floodResult.unique / floodResult.sent : 0,
      clients: clientSummary,
      cacheEntries,
      cachePeak: Math.max(cachePeak, cacheEntries),
      counters,
      kernel,
      date: new Date().toISOString(),
    };
  } finally {
    stopSignals();
    await responder?.close();
    await listener?.stop();
    lab.destroy();
  }
}

/** Ctrl-C during a run: remove the lab, then exit as interrupted. */
function installSignalCleanup(cleanup: () => void): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    cleanup();
    process.stderr.write(`\nsyncache: ${signal}: lab removed\n`);
    process.exit(130);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
