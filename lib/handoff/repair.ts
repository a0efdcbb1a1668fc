// Handing a completed handshake to the kernel as an ESTABLISHED socket
// (TCP_REPAIR; the recipe is in native/handoff/repair.h and DESIGN.md).
//
//   responder.on('handshake', async (h) => {
//     const socket = await handoff(h, { netns: 'ns1', payload });
//     server.emit('connection', socket);   // or serve it directly
//   });
//
// repairParams() turns a Handshake into the native params; repairSocket /
// repairSocketAsync validate (TypeError/RangeError naming the field) and call
// the addon; handoff() does both on the thread pool and wraps the fd in a
// net.Socket. The fd needs no privilege once made; making it needs
// CAP_NET_ADMIN in the namespace it lives in.
import { closeSync } from 'node:fs';
import { isIP, Socket } from 'node:net';
import { addon, type RepairParams, type TcpSocketInfo } from '../native/addon.js';
import type { Handshake } from '../engine/engine.js';

export type { RepairParams, TcpSocketInfo };

/** The SO_MARK the responder's gate lets through by default. */
export const DEFAULT_MARK = 0x5ca;
const UINT32_MAX = 0xffffffff;

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

/** A namespace name or /run/netns path, as a path. */
export function netnsPath(netns: string): string {
  if (typeof netns !== 'string' || netns.length === 0) throw new TypeError(`netns must be a namespace name or /run/netns/NAME, got ${JSON.stringify(netns)}`);
  return netns.includes('/') ? netns : `/run/netns/${netns}`;
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

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function integer(field: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number') throw new TypeError(`params.${field} must be an integer from ${min} to ${max}`);
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`params.${field} must be an integer from ${min} to ${max}, got ${describe(v)}`);
}

function shift(field: string, v: unknown): void {
  if (typeof v !== 'number') throw new TypeError(`params.${field} must be a window-scale shift from 0 to 14, or -1 for none`);
  if (!Number.isInteger(v) || v < -1 || v > 14) throw new RangeError(`params.${field} must be a window-scale shift from 0 to 14, or -1 for none, got ${describe(v)}`);
}

/** Throws TypeError/RangeError naming the first bad field. */
export function validateRepairParams(p: RepairParams): void {
  if (p === null || typeof p !== 'object') throw new TypeError('params must be an object');
  if (typeof p.family !== 'number') throw new TypeError('params.family must be 4 or 6');
  if (p.family !== 4 && p.family !== 6) throw new RangeError(`params.family must be 4 or 6, got ${describe(p.family)}`);
  for (const field of ['localAddress', 'remoteAddress'] as const) {
    const a = p[field];
    const kind = p.family === 4 ? 'IPv4' : 'IPv6';
    if (typeof a !== 'string') throw new TypeError(`params.${field} must be an ${kind} address (string)`);
    if (isIP(a) !== p.family || a.includes('%')) throw new TypeError(`params.${field} must be an ${kind} address (family ${p.family}), got ${describe(a)}`);
  }
  integer('localPort', p.localPort, 1, 65535);
  integer('remotePort', p.remotePort, 1, 65535);
  integer('iss', p.iss, 0, UINT32_MAX);
  integer('irs', p.irs, 0, UINT32_MAX);
  integer('mss', p.mss, 1, 65535);
  shift('wscale', p.wscale);
  shift('ourWscale', p.ourWscale);
  if (typeof p.sackPermitted !== 'boolean') throw new TypeError('params.sackPermitted must be a boolean');
  if (p.timestamps !== null && p.timestamps !== undefined) {
    const t = p.timestamps;
    if (typeof t !== 'object' || typeof t.peerTsval !== 'number' || typeof t.ourTsval !== 'number') {
      throw new TypeError('params.timestamps must be null or { peerTsval, ourTsval } (uint32 numbers)');
    }
    integer('peerTsval', t.peerTsval, 0, UINT32_MAX);
    integer('ourTsval', t.ourTsval, 0, UINT32_MAX);
    integer('tsNow', p.tsNow, 0, UINT32_MAX);
    if ((p.tsNow as number) % 2 !== 0) throw new RangeError(`params.tsNow must be even (bit 0 of TCP_TIMESTAMP selects a microsecond clock), got ${p.tsNow}`);
  } else if (p.tsNow !== undefined) {
    integer('tsNow', p.tsNow, 0, UINT32_MAX);
  }
  integer('window', p.window, 0, 65535);
  if (p.ourWindow !== undefined) integer('ourWindow', p.ourWindow, 1, 65535);
  if (p.mark !== undefined) integer('mark', p.mark, 0, UINT32_MAX);
  if (p.windowProbe !== undefined && typeof p.windowProbe !== 'boolean') throw new TypeError('params.windowProbe must be a boolean');
  if (p.payload !== undefined && !(p.payload instanceof Uint8Array)) throw new TypeError('params.payload must be a Uint8Array (or Buffer)');
  if (p.netns !== undefined && (typeof p.netns !== 'string' || p.netns.length === 0)) {
    throw new TypeError('params.netns must be the path of a network namespace (string, e.g. /run/netns/NAME)');
  }
}

/** A connected, non-blocking TCP socket fd in ESTABLISHED (blocks the thread for ~15 syscalls). */
export function repairSocket(p: RepairParams): number {
  validateRepairParams(p);
  return addon.repairSocket(p);
}

/** repairSocket on the libuv thread pool. */
export function repairSocketAsync(p: RepairParams): Promise<number> {
  try {
    validateRepairParams(p);
  } catch (error) {
    return Promise.reject(error);
  }
  return addon.repairSocketAsync(p);
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
