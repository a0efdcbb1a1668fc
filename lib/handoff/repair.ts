// Handing a completed handshake to the kernel as an ESTABLISHED socket
// (TCP_REPAIR; the recipe is in native/handoff/repair.h and DESIGN.md).
// repairParams() turns a Handshake into the native params, which the shard
// packs (lib/native/repair-words.ts) for addon.repairSocketWords; the addon
// checks every field (RangeError naming it). The fd needs no privilege once
// made; making it needs CAP_NET_ADMIN in the namespace it lives in.
import { addon, type RepairParams, type TcpSocketInfo } from '../native/addon.js';
import type { Handshake } from '../engine/engine.js';
import { DEFAULT_MARK } from '../gate/nftables.js';
import { netnsPath } from '../native/netns.js';

export type { RepairParams, TcpSocketInfo };
/** The SO_MARK the responder's gate lets through by default. */
export { DEFAULT_MARK };

export interface HandoffOptions {
  /** SO_MARK for the gate (default 0x5ca, the responder's default). */
  mark?: number;
  /** Namespace to create the socket in: a name from `ip netns list` or /run/netns/NAME. */
  netns?: string;
  /** The raw window of our SYN-ACK (the responder's config.window; default 65535). */
  ourWindow?: number;
  /** Leave repair with a window probe (TCP_REPAIR_OFF). */
  windowProbe?: boolean;
}


/** The native params for a handshake. */
export function repairParams(h: Handshake, options: HandoffOptions = {}): RepairParams {
  const p: RepairParams = {
    family: h.family,
    localAddress: h.localAddress,
    localPort: h.localPort,
    remoteAddress: h.remoteAddress,
    remotePort: h.remotePort,
    iss: h.iss,
    irs: h.irs,
    mss: h.mss,
    wscale: h.wscale,
    ourWscale: h.ourWscale,
    sackPermitted: h.sackPermitted,
    timestamps: h.timestamps,
    tsNow: h.tsNow,
    window: h.window,
    mark: options.mark ?? DEFAULT_MARK,
  };
  if (options.ourWindow !== undefined) p.ourWindow = options.ourWindow;
  if (options.netns !== undefined) p.netns = netnsPath(options.netns);
  if (options.windowProbe !== undefined) p.windowProbe = options.windowProbe;
  return p;
}

/** getsockopt TCP_MAXSEG / TCP_INFO of a TCP socket fd. */
export function tcpSocketInfo(fd: number): TcpSocketInfo {
  return addon.tcpSocketInfo(fd);
}
