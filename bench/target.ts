// The server a lab benchmark measures: serve-target.js in the lab's responder
// namespace, either an http.Server on a kernel listener ('plain') or the same
// server behind protect() ('protect'), optionally pinned to one CPU. And the
// CPU times of one core, from /proc/stat, to charge a run's work to it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../lib/lab/topology.js';

export const PORT = 80;
/** USER_HZ, which /proc/stat counts in. */
export const TICKS_PER_SECOND = 100;
const TARGET = fileURLToPath(new URL('./serve-target.js', import.meta.url));

/**
 * plain: the kernel's listener; protect: protect() on the packet backend;
 * door: protect() behind the XDP door (io 'xdp'); the -cache variants with
 * a cache no flood here fills, so every SYN takes the cache path (an entry,
 * its SYN-ACK from userspace) instead of cookies; door-only with
 * syncookies 'only', so every SYN gets a cookie from the first (behind the
 * door: answered in the driver), as the kernel's tcp_syncookies=2 does,
 * with no cache to fill first.
 */
export type TargetMode = 'plain' | 'protect' | 'protect-cache' | 'door' | 'door-cache' | 'door-only';

export interface RunningTarget {
  pid: number;
  /** How it ended on its own ("exited with 1", "exited with SIGSEGV"), if it did before stop(). */
  readonly died: string | undefined;
  /** Its stats now (SIGUSR2); the last ones it printed if it is gone. */
  stats(): Promise<Record<string, number>>;
  /** Stops the server; resolves with the stats it printed. */
  stop(): Promise<Record<string, number>>;
}

/** argv that runs `cmd args` pinned to `cpu` (taskset), or as is. */
export function pinned(cpu: number | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
}

function lines(child: ChildProcess, onLine: (l: string) => void): void {
  let buffer = '';
  child.stdout!.on('data', (d) => {
    buffer += d;
    let i;
    while ((i = buffer.indexOf('\n')) >= 0) { onLine(buffer.slice(0, i)); buffer = buffer.slice(i + 1); }
  });
}

/** Starts the server in the lab's responder namespace; resolves once it is ready. */
export async function startTarget(lab: Lab, mode: TargetMode, options: { cpu?: number; workers?: number } = {}): Promise<RunningTarget> {
  const r = lab.responder;
  const io = mode.startsWith('door') ? 'xdp' : 'packet';
  const cache = mode.endsWith('-cache') ? 'big' : mode === 'door-only' ? 'only' : 'default';
  const serverMode = mode === 'plain' ? 'plain' : 'protect';
  const [cmd, args] = r.ns.wrap(...pinned(options.cpu, process.execPath, [TARGET, serverMode, String(PORT), r.iface, r.v4, String(options.workers ?? 0), io, cache]));
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stats: Record<string, number> = {};
  let onStats: (() => void) | undefined;
  let stopping = false;
  let died: string | undefined;
  const gone = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    if (!stopping) died = `exited with ${code ?? signal}`;
    onStats?.();
    resolve();
  }));
  await new Promise<void>((resolve, reject) => {
    lines(child, (l) => {
      if (l === 'ready') resolve();
      else if (l.startsWith('{')) { stats = JSON.parse(l); onStats?.(); }
    });
    void gone.then(() => reject(new Error(`${mode} server ${died ?? 'exited'}`)));
  });
  const next = (): Promise<Record<string, number>> => new Promise((resolve) => { onStats = () => { onStats = undefined; resolve(stats); }; });
  return {
    pid: child.pid!,
    get died() { return died; },
    stats: () => {
      if (died !== undefined || stopping) return Promise.resolve(stats);
      const got = next();
      child.kill('SIGUSR2');
      return got;
    },
    stop: async () => {
      if (died === undefined && !stopping) {
        stopping = true;
        child.kill('SIGTERM');
      }
      await gone;
      return stats;
    },
  };
}

export interface CpuTimes { user: number; system: number; softirq: number; idle: number; busy: number; total: number }

/** A process's CPU time so far, all its threads, user and system, in clock ticks (/proc/PID/stat). */
export function processTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // pid (comm) state ... : utime and stime are fields 14 and 15, the comm may hold anything but ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** One CPU's times from /proc/stat, in clock ticks; every CPU's together without `cpu`. */
export function cpuTimes(cpu?: number): CpuTimes {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu ?? ''} `))!;
  // user nice system idle iowait irq softirq steal
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  return {
    user: v[0] + v[1], system: v[2], softirq: v[6], idle: v[3] + v[4],
    busy: v[0] + v[1] + v[2] + v[5] + v[6], total: v.slice(0, 8).reduce((a, b) => a + b, 0),
  };
}

/**
 * The lab's floor under a flood: an nftables table in the responder's
 * namespace (made by this run, gone with it) drops the flood's SYNs as they
 * arrive on its interface, at netdev ingress, before anything answers them.
 * Whatever a flood still does to the plain listener's p99 then is the cost of
 * carrying it: the generator on wrk's and the switch's core, the frames on
 * the server's receive path. No responder, however cheap, gets below it.
 */
export function dropFloodOnArrival(lab: Lab): void {
  dropOnArrival(lab.responder, 'bench_floor', [`ip saddr ${lab.spoofV4}`]);
}

/**
 * The attacker's side of the answers, made as cheap as a lab can: an
 * nftables table in the attacker's namespace (made by this run, gone with
 * it) drops frames to the spoofed ranges at netdev ingress. The generator
 * still counts them (its packet socket sees a frame before ingress), but
 * the attacker's kernel no longer routes each one to find it is not its own
 * (a route lookup and a dst made and freed per frame: several µs a SYN-ACK
 * on a virtual machine, the same for every target, so it pulled every
 * ratio towards 1). A real spoofed source is another host; what it does
 * with the SYN-ACK costs the responder nothing.
 */
export function sinkAnswersToSpoofed(lab: Lab): void {
  dropOnArrival(lab.attacker, 'bench_sink', [`ip daddr ${lab.spoofV4}`, `ip6 daddr ${lab.spoofV6}`]);
}

/** An nftables table `table` in `host`'s namespace dropping what `matches` match as it arrives on its interface (netdev ingress). */
function dropOnArrival(host: Lab['responder'], table: string, matches: string[]): void {
  host.ns.exec('nft', ['-f', '-'], [
    `table netdev ${table} {`,
    `  chain arrival { type filter hook ingress device "${host.iface}" priority -500;`,
    ...matches.map((m) => `    ${m} drop`),
    '  }',
    '}',
    '',
  ].join('\n'));
}
