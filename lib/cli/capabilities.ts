// The privilege check: what the kernel will ask of this process, read from
// its effective capability set (CapEff in /proc/self/status), not its uid.
// A service manager gives a non-root user exactly CAP_NET_RAW and
// CAP_NET_ADMIN (AmbientCapabilities); root with capabilities dropped has
// neither. Each command names the capabilities it is missing and what each
// one is for, before anything fails halfway. Where the kernel takes another
// capability in its place (CAP_SYS_ADMIN for CAP_BPF), either will do.
import { readFileSync } from 'node:fs';

/** Capability numbers from linux/capability.h. */
export const CAPABILITIES = {
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_SYS_ADMIN: 21,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;

export type CapabilityName = keyof typeof CAPABILITIES;

/** One capability a command needs, and what for (said when it is missing). */
export interface Need {
  capability: CapabilityName;
  /** A capability the kernel accepts in its place. */
  orElse?: CapabilityName;
  for: string;
}

/** The effective set from a /proc/<pid>/status text (default: this process's). */
export function effectiveCapabilities(status?: string): bigint {
  const text = status ?? readFileSync('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(text);
  if (m === null) throw new Error('no CapEff line in /proc/self/status: cannot tell this process\'s capabilities');
  return BigInt(`0x${m[1]}`);
}

export function hasCapability(effective: bigint, name: CapabilityName): boolean {
  return ((effective >> BigInt(CAPABILITIES[name])) & 1n) === 1n;
}

/** The needs `effective` does not meet, each capability (or pair of alternatives) once. */
export function missing(needs: readonly Need[], effective: bigint): Need[] {
  const out: Need[] = [];
  for (const need of needs) {
    if (hasCapability(effective, need.capability)) continue;
    if (need.orElse !== undefined && hasCapability(effective, need.orElse)) continue;
    const same = out.find((n) => n.capability === need.capability && n.orElse === need.orElse);
    if (same) same.for += `, ${need.for}`;
    else out.push({ ...need });
  }
  return out;
}

/** `CAP_X (what for)` or `CAP_X or CAP_Y (what for)`. */
export function describeNeed(n: Need): string {
  return `${n.capability}${n.orElse === undefined ? '' : ` or ${n.orElse}`} (${n.for})`;
}

/** Throws one EPERM line naming what `command` lacks; returns if it has every need. */
export function requireCapabilities(command: string, needs: readonly Need[], effective = effectiveCapabilities()): void {
  const lacking = missing(needs, effective);
  if (lacking.length === 0) return;
  const list = lacking.map(describeNeed);
  const names = list.length === 1 ? list[0] : `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}`;
  throw Object.assign(
    new Error(`${command} needs ${names}, which this process does not have: run it as root, or grant ${lacking.length === 1 ? 'it' : 'them'} (systemd AmbientCapabilities=, or setpriv --ambient-caps)`),
    { code: 'EPERM' },
  );
}

/** RLIMIT_MEMLOCK's soft limit in bytes from a /proc/<pid>/limits text (default: this process's); Infinity if unlimited. */
export function lockedMemoryLimit(limits?: string): number {
  const text = limits ?? readFileSync('/proc/self/limits', 'utf8');
  const m = /^Max locked memory\s+(\S+)/m.exec(text);
  if (m === null) throw new Error('no "Max locked memory" line in /proc/self/limits: cannot tell this process\'s RLIMIT_MEMLOCK');
  return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}
