// Handing a completed handshake to the kernel as an ESTABLISHED socket
// (TCP_REPAIR; the recipe is in native/handoff/repair.h and DESIGN.md).
//
//   responder.on('handshake', async (h) => {
//     const socket = await handoff(h, { netns: 'ns1', payload });
//     server.emit('connection', socket);   // or serve it directly
//   });
//
// repairParams() turns a Handshake into the native params; repairSocket /
// repairSocketAsync call the addon, which checks every field (TypeError /
// RangeError naming it); handoff() does both on the thread pool and wraps
// the fd in a net.Socket. The fd needs no privilege once made; making it needs
// CAP_NET_ADMIN in the namespace it lives in.
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { addon, type RepairParams, type TcpSocketInfo } from '../native/addon.js';
import type { Handshake } from '../engine/engine.js';
import { DEFAULT_MARK } from '../gate/nftables.js';
import { netnsPath } from '../native/netns.js';

export type { RepairParams, TcpSocketInfo };
/** The SO_MARK the responder's gate lets through by default. */
export { DEFAULT_MARK };

export interface HandoffOptions {
  /** Bytes that came with or after the final ACK, delivered to the socket first. */
  payload?: Uint8Array;
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
  if (options.payload !== undefined) p.payload = options.payload;
  if (options.netns !== undefined) p.netns = netnsPath(options.netns);
  if (options.windowProbe !== undefined) p.windowProbe = options.windowProbe;
  return p;
}

/** A connected, non-blocking TCP socket fd in ESTABLISHED (blocks the thread for ~15 syscalls). */
// The addon checks every field and throws a TypeError/RangeError naming it.
export function repairSocket(p: RepairParams): number {
  return addon.repairSocket(p);
}

/** repairSocket on the libuv thread pool. */
export function repairSocketAsync(p: RepairParams): Promise<number> {
  try {
    return addon.repairSocketAsync(p);
  } catch (error) {
    return Promise.reject(error); // a bad field: rejected, like the kernel's errors
  }
}

/** The handshake as a net.Socket the kernel serves. */
export async function handoff(h: Handshake, options: HandoffOptions = {}): Promise<Socket> {
  const fd = await repairSocketAsync(repairParams(h, options));
  try {
    return new Socket({ fd, readable: true, writable: true });
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** getsockopt TCP_MAXSEG / TCP_INFO of a TCP socket fd. */
export function tcpSocketInfo(fd: number): TcpSocketInfo {
  return addon.tcpSocketInfo(fd);
}
