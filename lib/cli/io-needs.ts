// What --io asks of the kernel, for the capability check, and what --io
// auto takes given that. The packet path: CAP_NET_RAW for the AF_PACKET
// ring, CAP_NET_ADMIN for the nftables gate. The XDP door (--io xdp) has no
// gate; each of its pieces is checked by the kernel as follows:
//
//   CAP_NET_RAW    socket(AF_XDP)
//   CAP_NET_ADMIN  an XDP program, and creating its XSKMAP (CAP_SYS_ADMIN
//                  would do, but TCP_REPAIR and SO_MARK want this one)
//   CAP_BPF        loading any BPF program or map (CAP_SYS_ADMIN will do)
//   CAP_PERFMON    the verifier's Spectre v1 hardening refuses the door's
//                  variable-offset packet pointers to a loader without it
//                  ("pointer arithmetic ... prohibited for !root";
//                  CAP_SYS_ADMIN will do)
//   CAP_IPC_LOCK   XDP_UMEM_REG pins the ring's frames and counts them
//                  against RLIMIT_MEMLOCK unless the process has it: needed
//                  only where that limit is below the ring's size
//
// 'auto' is the door where nothing speaks against it (doorRefusal: the
// build, receive queues against workers) and this process has all of the above;
// else the packet path, and the caller says why in one line.
import { addon } from '../native/addon.js';
import { missing, describeNeed, lockedMemoryLimit, type Need } from './capabilities.js';
import type { IoChoice } from '../responder/io-choice.js';

/** The paths an io choice ends up on ('xdp': the door). */
export type IoRun = 'packet' | 'xdp';

function mebibytes(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}

/** The AF_XDP ring's pinned frames, as --help says it (e.g. '16 MiB'). */
export const DOOR_RING_SIZE = mebibytes(addon.constants.xdpUmemBytes);

/** What the door asks of the kernel; CAP_IPC_LOCK only where `memlock` (RLIMIT_MEMLOCK, bytes) is below the ring's pinned frames. */
export function doorNeeds(memlock = lockedMemoryLimit()): Need[] {
  const needs: Need[] = [
    { capability: 'CAP_NET_RAW', for: 'the AF_XDP socket' },
    { capability: 'CAP_NET_ADMIN', for: 'the XDP door and its XSKMAP' },
    { capability: 'CAP_BPF', orElse: 'CAP_SYS_ADMIN', for: 'loading the door\'s BPF program' },
    { capability: 'CAP_PERFMON', orElse: 'CAP_SYS_ADMIN', for: 'the verifier passes the door\'s packet pointer arithmetic only with it' },
  ];
  const pinned = addon.constants.xdpUmemBytes;
  if (memlock < pinned) {
    needs.push({ capability: 'CAP_IPC_LOCK', for: `pinning the AF_XDP ring's ${mebibytes(pinned)}, over RLIMIT_MEMLOCK's ${mebibytes(memlock)}: or raise that limit, e.g. systemd LimitMEMLOCK=` });
  }
  return needs;
}

/** What the packet path asks: the ring, and the gate unless it is off. */
export function packetNeeds(gate: 'optional' | 'required' | 'off'): Need[] {
  const needs: Need[] = [{ capability: 'CAP_NET_RAW', for: 'the packet ring' }];
  if (gate !== 'off') needs.push({ capability: 'CAP_NET_ADMIN', for: `the nftables gate${gate === 'optional' ? '; --no-gate goes without' : ''}` });
  return needs;
}

export interface IoDecision {
  /** What to give the Responder. */
  io: IoChoice;
  /** The path it will take. */
  path: IoRun;
  /** For 'auto' taking the packet path: why (one clause). */
  why?: string;
}

/**
 * The io to open with: 'packet' and 'xdp' as asked; 'auto' stays 'auto'
 * (the Responder falls back on its own where `refusal` says why the door
 * cannot serve: doorRefusal) unless this process lacks what the door needs,
 * when it is 'packet'.
 */
export function decideIo(asked: IoChoice, refusal: () => string | undefined, effective: bigint, memlock?: number): IoDecision {
  if (asked !== 'auto') return { io: asked, path: asked };
  const why = refusal();
  if (why !== undefined) return { io: 'auto', path: 'packet', why };
  const lacking = missing(doorNeeds(memlock), effective);
  if (lacking.length > 0) return { io: 'packet', path: 'packet', why: `the door needs ${lacking.map(describeNeed).join(' and ')}, which this process does not have` };
  return { io: 'auto', path: 'xdp' };
}

/** The stderr line for 'auto' taking the packet path, if it does. */
export function autoWarning(decision: IoDecision): string | undefined {
  return decision.why === undefined ? undefined : `syncache: warning: --io auto takes the packet path: ${decision.why}\n`;
}
