// Which I/O path a Responder takes (ResponderOptions.io): the AF_PACKET
// rings behind the nftables gate ('packet'), or the XDP door in front of an
// AF_XDP ring ('door'). 'xdp' insists on the door and says in one line what
// is missing when it cannot be had; 'auto' takes the door where it can.
import { execFileSync } from 'node:child_process';
import { doorUnavailableReason } from '../door/door.js';
/** What ResponderOptions.io asks for. */
export type IoChoice = 'packet' | 'xdp' | 'auto';

/** What a Responder then takes. */
export type IoPath = 'packet' | 'door';

/** Receive queues iface has in use (in the namespace named netns: sysfs there), or undefined if that cannot be read. */
function receiveQueues(iface: string, netns: string | undefined): number | undefined {
  if (!/^[\w.:-]+$/.test(iface)) return undefined;
  try {
    const list = ['sh', '-c', `ls /sys/class/net/${iface}/queues`];
    const out = execFileSync(netns === undefined ? list[0] : 'ip', netns === undefined ? list.slice(1) : ['netns', 'exec', netns, ...list], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split(/\s+/).filter((q) => q.startsWith('rx-')).length || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why the door cannot serve this Responder (one line), or undefined if it
 * can. Each receive queue in use is read by one shard (doorQueues), so
 * every shard needs a queue of its own: no more workers than queues. (Where
 * the queues cannot be read, the rings' binds say what is missing.)
 */
export function doorRefusal(options: { iface: string; workers?: number; xdp?: unknown }, netns: string | undefined): string | undefined {
  return doorDecision(options, netns).refusal;
}

/** doorRefusal's answer, and the interface's receive queues it read on the way (once: a process in the namespace). */
function doorDecision(options: { iface: string; workers?: number; xdp?: unknown }, netns: string | undefined): { refusal?: string; queues?: number } {
  const built = doorUnavailableReason();
  if (built !== undefined) return { refusal: built };
  if (options.xdp !== undefined) return { refusal: 'options.xdp names an XDP program of your own' };
  const workers = options.workers ?? 0;
  const queues = receiveQueues(options.iface, netns);
  if (queues === undefined || workers <= queues) return { queues };
  return { queues, refusal: `the door gives each worker a receive queue of its own and ${options.iface} has ${queues}: use workers ${queues} or fewer, set the queues (ethtool -L ${options.iface} combined ${workers}) or use io 'packet'` };
}

/**
 * The receive queues shard `index` of `shards` reads behind the door: every
 * shards-th queue from its index (shard 0 of 1: all of them). `queues`: the
 * interface's count, as receiveQueues reads it (undefined: 1).
 */
export function doorQueues(queues: number | undefined, shards: number, index: number): number[] {
  const list: number[] = [];
  for (let q = index; q < Math.max(1, queues ?? 1); q += shards) list.push(q);
  return list;
}

/**
 * The path to take, and behind the door the interface's receive queues
 * (undefined: unknown, taken as one); throws (code ENOTSUP) for io 'xdp'
 * when the door cannot be had.
 */
export function chooseIo(options: { iface: string; workers?: number; xdp?: unknown; io?: IoChoice }, netns: string | undefined): { path: IoPath; queues?: number } {
  const io = options.io ?? 'packet';
  if (io === 'packet') return { path: 'packet' };
  const { refusal, queues } = doorDecision(options, netns);
  if (refusal === undefined) return { path: 'door', queues };
  if (io === 'auto') return { path: 'packet' };
  throw Object.assign(new Error(`io 'xdp': ${refusal}`), { code: 'ENOTSUP' });
}
