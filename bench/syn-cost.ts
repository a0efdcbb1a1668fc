// What answering a flood costs the responder's core, without clients: the
// built-in generator at a fixed rate against one server, the responder CPU's
// user, system and softirq time per SYN offered (the kernel's listener
// answers in softirq; syncache in its process, plus the ring's copy in
// softirq). Needs the CPUs split (LabOptions.cpus) so that the responder's
// core does nothing else; what it does anyway (the idle server, anything else
// the machine runs there) is measured for as long right before the flood,
// with the server up and no flood, and taken off (the floor).
import { labAddon } from '../lib/lab/lab-addon.js';
import { buildLab, type LabProfile } from '../lib/lab/topology.js';
import { PORT, TICKS_PER_SECOND, cpuTimes, dropFloodOnArrival, processTicks, sinkAnswersToSpoofed, startTarget, type TargetMode } from './target.js';

export interface CostRun {
  mode: TargetMode;
  /** SYN/s offered. */
  rate: number;
  seconds: number;
  cpus: { responder: number; network: number };
  workers?: number;
}

export interface CostRow {
  mode: TargetMode;
  offered: number;
  /** Share of SYNs answered. */
  answered: number;
  userUs: number;
  systemUs: number;
  softirqUs: number;
  /** user + system + softirq per SYN offered, µs, net of the floor. */
  totalUs: number;
  /** The floor: the responder core's busy share with the server up and no flood. */
  floorBusy: number;
  /** The responder core's busy share over the run. */
  busy: number;
}

export async function synCost({ mode, rate, seconds, cpus, workers }: CostRun): Promise<CostRow> {
  const lab = buildLab({ tag: 'cost', cpus });
  try {
    if (mode === 'plain') lab.responder.ns.sysctl('net.ipv4.tcp_syncookies', 2);
    const target = await startTarget(lab, mode, { cpu: cpus.responder, workers });
    const idle0 = cpuTimes(cpus.responder);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const idle1 = cpuTimes(cpus.responder);
    const floorShare = (k: 'user' | 'system' | 'softirq'): number => (idle1[k] - idle0[k]) / Math.max(1, idle1.total - idle0.total);
    const before = cpuTimes(cpus.responder);
    const f = await labAddon.flood({
      iface: lab.attacker.iface, netns: lab.attacker.ns.path, dstMac: lab.responder.mac,
      dstAddr: lab.responder.v4, dstPort: PORT, srcNet: lab.spoofV4, rate, seconds, cpu: cpus.network,
    });
    const after = cpuTimes(cpus.responder);
    await target.stop();
    // Ticks over the flood, less what the floor's share of them would have been.
    const span = after.total - before.total;
    const us = (k: 'user' | 'system' | 'softirq'): number => Math.max(0, ((after[k] - before[k]) - floorShare(k) * span) * 1e6 / TICKS_PER_SECOND / f.sent);
    const userUs = us('user');
    const systemUs = us('system');
    const softirqUs = us('softirq');
    return {
      mode, offered: Math.round(f.sent / f.seconds), answered: f.unique / f.sent,
      userUs, systemUs, softirqUs, totalUs: userUs + systemUs + softirqUs,
      floorBusy: 1 - (idle1.idle - idle0.idle) / Math.max(1, idle1.total - idle0.total),
      busy: 1 - (after.idle - before.idle) / (after.total - before.total),
    };
  } finally {
    lab.destroy();
  }
}

export type MachineCostMode = TargetMode | 'floor';

export interface MachineCostRow {
  mode: MachineCostMode;
  offered: number;
  /** Share of SYNs answered (0 for the floor, whose SYNs are dropped on arrival). */
  answered: number;
  /** Every CPU's busy time (user, system, irq, softirq) per SYN offered, µs, less the background's. */
  busyUs: number;
  /** The machine's busy share just before the flood, with the server up (taken off busyUs). */
  background: number;
  /**
   * The server process's own CPU (user and system, every thread) per SYN
   * offered, µs: what waking it costs. Behind the door answering in the
   * driver, about 0: the flood never wakes it.
   */
  processUs: number;
}

/** The whole machine's busy share over `ms`. */
async function busyShare(ms: number): Promise<number> {
  const a = cpuTimes();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = cpuTimes();
  return (b.busy - a.busy) / Math.max(1, b.total - a.total);
}

/**
 * Waits (up to 10 s) until the machine is nearly idle - a network
 * namespace's teardown, the previous row's, goes on in the kernel for a
 * while after `ip netns del` returns - then returns its busy share over one
 * more second: what the run would have cost without the flood.
 */
async function quietBackground(): Promise<number> {
  const QUIET = 0.05;
  for (let waited = 0; waited < 10_000 && (await busyShare(250)) > QUIET; waited += 250);
  return busyShare(1000);
}

/**
 * The whole machine's CPU while the generator floods one server at `rate`:
 * the kernel's listener ('plain'), syncache (the other TargetModes), or the lab's floor
 * ('floor': the same flood dropped as it arrives at the responder's
 * interface; rate 0: the generator's full speed, so what is left is the generator, the switch and the receive
 * path that any responder pays for). The kernel answers SYNs in softirq on
 * whichever core delivers them (on veth, often the sender's), so only the
 * whole machine, less the floor, compares it fairly with a process. The
 * attacker drops the answers as they arrive (sinkAnswersToSpoofed). Each
 * run starts on a quiet machine, and what the machine does anyway (the
 * background, measured right before the flood) is taken off.
 */
export async function machineCost({ mode, rate, seconds, cpus, profile, xdp }: { mode: MachineCostMode; rate: number; seconds: number; cpus: { responder: number; network: number }; profile?: LabProfile; xdp?: boolean }): Promise<MachineCostRow> {
  const lab = buildLab({ tag: 'mcost', cpus, profile, xdp });
  try {
    if (mode === 'plain' || mode === 'floor') lab.responder.ns.sysctl('net.ipv4.tcp_syncookies', 2);
    if (mode === 'floor') dropFloodOnArrival(lab);
    sinkAnswersToSpoofed(lab);
    const target = await startTarget(lab, mode === 'floor' ? 'plain' : mode, { cpu: cpus.responder });
    const background = await quietBackground();
    const before = cpuTimes();
    const processBefore = processTicks(target.pid);
    const f = await labAddon.flood({
      iface: lab.attacker.iface, netns: lab.attacker.ns.path, dstMac: lab.responder.mac,
      dstAddr: lab.responder.v4, dstPort: PORT, srcNet: lab.spoofV4, rate, seconds, cpu: cpus.network,
    });
    const after = cpuTimes();
    const processAfter = processTicks(target.pid);
    await target.stop();
    const busy = Math.max(0, (after.busy - before.busy) - background * (after.total - before.total));
    const perSyn = (ticks: number): number => (ticks * 1e6) / TICKS_PER_SECOND / f.sent;
    return {
      mode, offered: Math.round(f.sent / f.seconds), answered: mode === 'floor' ? 0 : f.unique / f.sent,
      busyUs: perSyn(busy), background, processUs: perSyn(processAfter - processBefore),
    };
  } finally {
    lab.destroy();
  }
}
