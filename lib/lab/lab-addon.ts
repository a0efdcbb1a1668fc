// The lab's addon (build/Release/syncache_lab.node, built by `npm install`
// beside the product's): the SYN flood generator that `syncache lab`, the
// benchmarks and the tests drive, and an XDP program that redirects TCP to
// AF_XDP rings (until the door's program lands). Not part of the product's
// packet path.
import { loadAddon } from '../native/addon.js';

export interface FloodOptions {
  iface: string;
  netns?: string;
  /** Destination MAC (the responder's interface). */
  dstMac: Uint8Array;
  dstAddr: string;
  dstPort: number;
  /** Spoofed sources, CIDR, e.g. 198.19.0.0/16. */
  srcNet: string;
  /** SYN/s; 0 = as fast as one core goes. */
  rate: number;
  seconds: number;
  /** How frames leave: the TX ring with one kick per batch (default), or sendmmsg from a local buffer. */
  method?: 'ring' | 'sendmmsg';
  /** Pin the sending thread to this CPU for the run (see LabOptions.networkCpu). */
  cpu?: number;
}

export interface FloodResult {
  sent: number;
  /** SYN-ACKs seen arriving on iface for the spoofed sources (retransmits too; counting-ring drops included). */
  replies: number;
  /** SYNs of this flood that got at least one SYN-ACK the counting ring saw. */
  unique: number;
  /** SYN-ACKs the counting ring itself dropped (counted in replies, not in unique). */
  replyDrops: number;
  seconds: number;
  /** CPU time (user + system) of the sending thread: SYN/s per core = sent / cpuSeconds. */
  cpuSeconds: number;
  /** Kicks (or sendmmsg calls) that failed, e.g. ENOBUFS. */
  txErrors: number;
  /** Batches cut short because the TX ring had no free slot. */
  txRingFull: number;
}

export interface XdpRedirectOptions {
  iface: string;
  netns?: string;
  /** XSKMAP entries: RX queues 0 .. queues-1 (default 1). */
  queues?: number;
  /** Generic (skb) XDP instead of the driver's own (default false). */
  generic?: boolean;
}

/**
 * The lab's XDP program on an interface: every IPv4/IPv6 TCP segment goes
 * to the AF_XDP socket at its RX queue's key in `xskMap` (if none is there,
 * to the kernel), everything else (ARP, neighbour discovery, ICMP, UDP) to
 * the kernel. Attached with a bpf_link: close() or the process's death
 * detaches it.
 */
export interface XdpRedirect {
  /** The XSKMAP's fd, for RingOptions.xskMap. */
  readonly xskMap: number;
  readonly ifindex: number;
  /** Idempotent. */
  close(): void;
}

export interface LabAddon {
  XdpRedirect: new (options: XdpRedirectOptions) => XdpRedirect;
  /**
   * Runs a SYN flood on the libuv thread pool (dstAddr and srcNet must lie
   * in 198.18.0.0/15, the benchmarking range).
   */
  flood(options: FloodOptions): Promise<FloodResult>;
}

export const labAddon: LabAddon = loadAddon<LabAddon>('syncache_lab.node');
