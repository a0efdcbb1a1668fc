// The lab that `syncache lab`, tests and benchmarks share, all addresses
// from the benchmarking ranges. Two profiles:
//
// 'switch' (the default): three hosts on a switch (a bridge in a fourth namespace).
//
//   attacker   sca0 198.18.0.3 / 2001:db8::3 ── scsa0 ┐
//   client     scc0 198.18.0.2 / 2001:db8::2 ── scsc0 ├ scbr0 (switch namespace)
//   responder  scr0 198.18.0.1 / 2001:db8::1 ── scsr0 ┘
//
// 'pair': one peer host, the generator and the clients together, whose veth
// goes straight into the responder's; no bridge, no forwarding, so a flood's
// full-speed rows measure the responder rather than the switch.
//
//   peer       scp0 198.18.0.2 + .3 / 2001:db8::2 + ::3 ── scr0 198.18.0.1 / 2001:db8::1  responder
//
// The responder sees both the flood and the legitimate clients on its one
// interface (scr0), as a host behind a switch does. Spoofed flood sources come from 198.19.0.0/16 and
// 2001:db8:ffff::/48; the responder routes those via the attacker, so every
// answer to a spoofed SYN (ours or the kernel's, for the baseline) goes to the
// attacker, whose kernel drops it (the address is not its own and it does not
// forward): spoofed sources stay silent, as real ones do.
//
// Things that would distort a measurement are switched off: IPv6 DAD (no
// tentative addresses, link-locals included), router solicitations, rp_filter;
// and, when ethtool is installed, checksum/segmentation offloads on the veths,
// so that a packet socket sees full checksums and wire-sized frames.
//
// With `xdp`, the veth pair that ends in the responder's interface is readied
// for an XDP program there (veth-xdp.ts): the other end (the peer's scp0, or
// the switch's port scsr0) gets a program that passes every frame, without
// which veth drops what the responder sends with XDP_TX; and, with `cpus`,
// the responder's veth gets a NAPI thread on the responder's CPU, where its
// XDP program then runs instead of on the sender's.
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Namespace, NetnsLab } from './netns.js';
import { napiThread, passOnPeer, queueOnPeer, vethXdpUnavailableReason } from './veth-xdp.js';

export const LAB_V4_PREFIX = 24;
export const LAB_V6_PREFIX = 64;
export const SPOOF_V4 = '198.19.0.0/16';
export const SPOOF_V6 = '2001:db8:ffff::/48';

export interface LabHost {
  ns: Namespace;
  /** The interface carrying the host's addresses. */
  iface: string;
  mac: Uint8Array;
  v4: string;
  v6: string;
}

export interface Lab {
  lab: NetnsLab;
  attacker: LabHost;
  client: LabHost;
  responder: LabHost;
  /** The switch: a bridge with one port towards each host (profile 'switch' only). */
  switch?: { ns: Namespace; bridge: string; ports: { attacker: string; client: string; responder: string } };
  profile: LabProfile;
  spoofV4: string;
  spoofV6: string;
  /** What was done about offloads ('off', or why they were left on). */
  offloads: string;
  /**
   * With LabOptions.xdp: the responder veth's other end, which got the pass
   * program (its tx_dropped counts frames the responder's receive ring had
   * no room for), and the responder veth's NAPI thread (with cpus).
   */
  xdp?: { passOn: { ns: Namespace; iface: string }; napiThread?: { pid: number; cpu: number } };
  destroy(): void;
}

export type LabProfile = 'switch' | 'pair';

export interface LabOptions {
  /** Names the lab's namespaces (sc-<pid>-<tag>-...). */
  tag: string;
  /** 'switch' (default): attacker, client and responder on a bridge; 'pair': the attacker and client are one peer host whose veth goes straight into the responder's. */
  profile?: LabProfile;
  /**
   * Split the machine's CPUs between the responder host and the rest, as if
   * they were separate machines (needs 2 CPUs; ignored on one): frames the
   * responder receives are processed on `responder` (RPS on its interface,
   * as a one-core host would), and the switch's forwarding and the attacker's
   * and the client's receive paths on `network` (RPS on their interfaces and
   * the switch ports). Without this, whoever sends a frame pays for the
   * whole path in its own softirq: every SYN-ACK the responder sends would
   * pay for the bridge and the far host's stack, and the kernel's own
   * handshakes would run on the client's or the generator's core. Benchmarks
   * pin the server to `responder` and the clients and the generator to `network`.
   */
  cpus?: { responder: number; network: number };
  /**
   * Without `cpus`: the CPU where the network's side runs (RPS on the
   * attacker's, the client's and the switch's interfaces), the responder's
   * CPU left unsaid. Flood runs pin the generator and the clients there too,
   * so every frame towards the responder is sent from this one CPU, and an
   * XDP program on the responder's veth runs in that CPU's softirq as the
   * kernel's own receive path does (veth runs a NAPI on the CPU that first
   * queues a frame to it, and keeps it there while its ring holds any: a
   * reply sent from another CPU would otherwise move it there, and the
   * sender would run ahead of it).
   */
  networkCpu?: number;
  /**
   * Ready the responder's interface for an XDP program (which the lab does
   * not attach): its veth's other end passes every frame through an XDP
   * program of its own, so that frames the responder sends with XDP_TX or
   * XDP_REDIRECT arrive; with `cpus`, the responder veth's NAPI, where its
   * XDP program runs, becomes a thread on the responder's CPU. Needs clang
   * and ethtool (vethXdpUnavailableReason in veth-xdp.ts).
   */
  xdp?: boolean;
  /**
   * Receive and transmit queues of the responder's veth and its other end
   * (default 1): behind the XDP door, one a shard. A frame arrives on the
   * queue its sender's transmit queue picked: a flow's hash for what the
   * switch forwards, the sending CPU for the generator's bypassing packet
   * socket, a socket's own hash for the peer's TCP (the NAPI thread of
   * `cpus` is made only with one queue).
   */
  queues?: number;
}

export function buildLab({ tag, cpus, networkCpu, profile = 'switch', xdp = false, queues = 1 }: LabOptions): Lab {
  if (cpus !== undefined && networkCpu !== undefined) throw new TypeError('lab: cpus and networkCpu exclude each other (cpus names the network CPU already)');
  if (profile !== 'switch' && profile !== 'pair') throw new RangeError(`lab profile: ${JSON.stringify(profile)} is not 'switch' or 'pair'`);
  const xdpMissing = xdp ? vethXdpUnavailableReason() : undefined;
  if (xdpMissing !== undefined) throw new Error(xdpMissing);
  const lab = new NetnsLab(tag);
  try {
    const shape = profile === 'pair' ? pairShape(lab, queues) : switchShape(lab, queues);
    const { responder: r, attacker: a, client: c } = shape;
    r.ns.ip(['route', 'add', SPOOF_V4, 'via', a.v4, 'dev', r.iface]);
    r.ns.ip(['-6', 'route', 'add', SPOOF_V6, 'via', a.v6, 'dev', r.iface]);
    // The responder knows its neighbours from the start: under a full-speed
    // flood the responder's receive queue is full most of the time, and an
    // ARP or neighbour reply lost there would leave every answer to the
    // attacker's range unsent, whoever the target - a lab artifact, not a
    // measurement.
    for (const h of [a, c]) {
      const mac = Array.from(h.mac, (b) => b.toString(16).padStart(2, '0')).join(':');
      r.ns.ip(['neigh', 'replace', h.v4, 'lladdr', mac, 'nud', 'permanent', 'dev', r.iface]);
      r.ns.ip(['-6', 'neigh', 'replace', h.v6, 'lladdr', mac, 'nud', 'permanent', 'dev', r.iface]);
    }
    const split = cpus !== undefined && availableParallelism() >= 2;
    if (split) {
      for (const [ns, iface] of shape.network) steer(ns, [iface], cpus.network);
      steer(r.ns, [r.iface], cpus.responder);
    } else if (networkCpu !== undefined && availableParallelism() >= 2) {
      for (const [ns, iface] of shape.network) steer(ns, [iface], networkCpu);
    }
    const offloads = offloadsOff([...shape.network, [r.ns, r.iface], ...shape.bridges]);
    let xdpReady: Lab['xdp'];
    if (xdp) {
      const [ns, iface] = shape.responderPeer;
      passOnPeer(ns, iface);
      queueOnPeer(ns, iface);
      xdpReady = { passOn: { ns, iface } };
      if (split && queues === 1) xdpReady.napiThread = { pid: napiThread(r.ns, r.iface, cpus.responder), cpu: cpus.responder };
    }
    return {
      lab, attacker: a, client: shape.client, responder: r, switch: shape.switch, profile,
      spoofV4: SPOOF_V4, spoofV6: SPOOF_V6, offloads, xdp: xdpReady,
      destroy: () => lab.destroy(),
    };
  } catch (error) {
    lab.destroy();
    throw error;
  }
}

/** The hosts of one profile, and the interfaces on the network's side of the responder. */
interface Shape {
  attacker: LabHost;
  client: LabHost;
  responder: LabHost;
  switch?: Lab['switch'];
  /** The other end of the responder's veth. */
  responderPeer: [Namespace, string];
  /** Interfaces that receive on the network's CPU (RPS) and lose their offloads. */
  network: Array<[Namespace, string]>;
  /** Interfaces that only lose their offloads. */
  bridges: Array<[Namespace, string]>;
}

function switchShape(lab: NetnsLab, queues: number): Shape {
  const attacker = lab.add('attacker');
  const client = lab.add('client');
  const responder = lab.add('responder');
  const sw = lab.add('switch');
  for (const ns of [attacker, client, responder, sw]) quiet(ns);
  // The responder has one NIC of its own: a packet socket on a bridge
  // device does not see frames that an nftables prerouting hook in the
  // bridge's namespace drops, so the bridge lives in a switch namespace.
  const bridge = 'scbr0';
  const ports = { attacker: 'scsa0', client: 'scsc0', responder: 'scsr0' };
  sw.ip(['link', 'add', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
  lab.link(attacker, 'sca0', sw, ports.attacker);
  lab.link(client, 'scc0', sw, ports.client);
  lab.link(responder, 'scr0', sw, ports.responder, queues);
  for (const port of Object.values(ports)) sw.ip(['link', 'set', port, 'master', bridge]);
  sw.ip(['link', 'set', bridge, 'up']);
  return {
    responder: host(responder, 'scr0', 1),
    client: host(client, 'scc0', 2),
    attacker: host(attacker, 'sca0', 3),
    switch: { ns: sw, bridge, ports },
    responderPeer: [sw, ports.responder],
    network: [[attacker, 'sca0'], [client, 'scc0'], ...Object.values(ports).map((p): [Namespace, string] => [sw, p])],
    bridges: [[sw, bridge]],
  };
}

/** One peer (attacker .3 and client .2 on one veth) straight into the responder. */
function pairShape(lab: NetnsLab, queues: number): Shape {
  const peer = lab.add('peer');
  const responder = lab.add('responder');
  for (const ns of [peer, responder]) quiet(ns);
  lab.link(peer, 'scp0', responder, 'scr0', queues);
  return {
    responder: host(responder, 'scr0', 1),
    client: host(peer, 'scp0', 2),
    attacker: host(peer, 'scp0', 3),
    responderPeer: [peer, 'scp0'],
    network: [[peer, 'scp0']],
    bridges: [],
  };
}

/** Gives a host its lab address number n on iface (198.18.0.n, 2001:db8::n). */
function host(ns: Namespace, iface: string, n: number): LabHost {
  const v4 = `198.18.0.${n}`;
  const v6 = `2001:db8::${n}`;
  ns.ip(['addr', 'add', `${v4}/${LAB_V4_PREFIX}`, 'dev', iface]);
  ns.ip(['-6', 'addr', 'add', `${v6}/${LAB_V6_PREFIX}`, 'dev', iface, 'nodad']);
  return { ns, iface, mac: ns.macOf(iface), v4, v6 };
}

/** RPS: frames arriving on these interfaces are processed on `cpu`. */
function steer(ns: Namespace, ifaces: string[], cpu: number): void {
  const count = availableParallelism();
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= count) throw new RangeError(`lab cpus: ${cpu} is not a CPU from 0 to ${count - 1}`);
  // rps_cpus is a hex mask in 32-bit words separated by commas, lowest last.
  const words: string[] = [];
  for (let w = 0; w <= cpu >> 5; w++) words.unshift(((cpu >> 5) === w ? (1 << (cpu & 31)) >>> 0 : 0).toString(16));
  const mask = words.join(',');
  // `ip netns exec` mounts the namespace's own /sys.
  ns.exec('sh', ['-c', ifaces.map((i) => `echo ${mask} > /sys/class/net/${i}/queues/rx-0/rps_cpus`).join(' && ')]);
}

/** Per-namespace sysctls, set before any interface exists so every one inherits them. */
function quiet(ns: Namespace): void {
  for (const scope of ['all', 'default']) {
    ns.sysctl(`net.ipv4.conf.${scope}.rp_filter`, 0);
    ns.sysctl(`net.ipv6.conf.${scope}.accept_dad`, 0);
    ns.sysctl(`net.ipv6.conf.${scope}.dad_transmits`, 0);
    ns.sysctl(`net.ipv6.conf.${scope}.router_solicitations`, 0);
    ns.sysctl(`net.ipv6.conf.${scope}.accept_ra`, 0);
  }
}

function offloadsOff(ifaces: Array<[Namespace, string]>): string {
  try {
    execFileSync('ethtool', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'left on: ethtool is not installed (apt-get install ethtool)';
  }
  try {
    // tx off: the kernel fills in checksums before a frame leaves, so a packet
    // socket on the far side never sees a partial (TP_STATUS_CSUMNOTREADY) one.
    for (const [ns, iface] of ifaces) ns.exec('ethtool', ['-K', iface, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    return 'off';
  } catch (error) {
    return `left on: ethtool failed: ${((error as { stderr?: string }).stderr ?? String(error)).trim()}`;
  }
}
