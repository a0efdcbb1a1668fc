// Who owns a leftover: a process named by what survives PID reuse and PID
// namespaces - its pid, its start time (clock ticks after boot, field 22 of
// /proc/PID/stat; a reused pid has a later one) and the inode of its PID
// namespace (a pid means something only in its own namespace).
//
//   alive     that pid exists here with that start time
//   dead      the pid is gone, or it is another process now (start time differs)
//   foreign   recorded in another PID namespace: its pid cannot be judged from
//             here, so it is left alone (cleanup in that namespace judges it)
//
// An identity recorded without start time and namespace (older tables) is
// judged by the pid alone.
import { readFileSync, readlinkSync } from 'node:fs';
import { pidAlive } from '../lab/teardown.js';

export interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks since boot; undefined if not recorded. */
  startTime?: number;
  /** Inode of the PID namespace; undefined if not recorded. */
  pidns?: number;
}

export type OwnerState = 'alive' | 'dead' | 'foreign';

/** The start time of `pid` (field 22 of /proc/PID/stat), or undefined if there is no such process. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2, the command, is in parentheses and may hold spaces or ')':
  // the fields after the last ')' start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const value = Number(fields[22 - 3]);
  return Number.isInteger(value) ? value : undefined;
}

/** The inode of this process's PID namespace. */
export function ownPidNamespace(): number {
  const link = readlinkSync('/proc/self/ns/pid'); // "pid:[4026531836]"
  return Number(/\[(\d+)\]/.exec(link)?.[1] ?? 0);
}

let self: Required<ProcessIdentity> | undefined;

/** This process, as leftovers record it. */
export function selfIdentity(): Required<ProcessIdentity> {
  self ??= { pid: process.pid, startTime: processStartTime(process.pid) ?? 0, pidns: ownPidNamespace() };
  return self;
}

/** Whether the process a leftover records is still the one that made it. */
export function ownerState(owner: ProcessIdentity): OwnerState {
  if (owner.pidns !== undefined && owner.pidns !== ownPidNamespace()) return 'foreign';
  if (!pidAlive(owner.pid)) return 'dead';
  if (owner.startTime !== undefined && processStartTime(owner.pid) !== owner.startTime) return 'dead';
  return 'alive';
}
