// Network namespaces that a run creates for itself, and only those.
//
// Every namespace is named `sc-<pid>-<tag>`, with the pid of the process that
// made it, so a later run can tell a crashed run's leftovers (pid gone) from a
// live run's (pid alive) and sweep only the former. Veth pairs live inside
// them and vanish with them. Nothing here touches the root namespace's
// interfaces, routes or firewall.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { onTeardown, pidAlive } from './teardown.js';
import { NETNS_DIR } from '../native/netns.js';
import { passOnPeer } from './veth-xdp.js';

export const NETNS_PREFIX = 'sc-';

export function ip(args: string[], input?: string): string {
  return execFileSync('ip', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}


/** Our namespaces: name -> owning pid. */
function ourNamespaces(): Map<string, number> {
  const found = new Map<string, number>();
  if (!existsSync(NETNS_DIR)) return found;
  for (const name of readdirSync(NETNS_DIR)) {
    const m = /^sc-(\d+)-/.exec(name);
    if (m) found.set(name, Number(m[1]));
  }
  return found;
}

/** Removes namespaces left by runs whose process is gone. Returns their names. */
export function sweepStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const [name, pid] of ourNamespaces()) {
    if (pid !== process.pid && pidAlive(pid)) continue;
    if (pid === process.pid && liveLabs.some((lab) => lab.owns(name))) continue;
    try {
      ip(['netns', 'del', name]);
      removed.push(name);
    } catch {
      // already gone
    }
  }
  return removed;
}

export class Namespace {
  constructor(readonly name: string) {}

  get path(): string {
    return `${NETNS_DIR}/${this.name}`;
  }

  /** Runs `ip -n <ns> ...`. */
  ip(args: string[], input?: string): string {
    return ip(['-n', this.name, ...args], input);
  }

  /** Runs a command inside the namespace and returns its stdout. */
  exec(command: string, args: string[], input?: string): string {
    return execFileSync('ip', ['netns', 'exec', this.name, command, ...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** Argument vector that runs `command` inside the namespace (for spawn). */
  wrap(command: string, args: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.name, command, ...args]];
  }

  sysctl(key: string, value: string | number): void {
    this.exec('sysctl', ['-q', '-w', `${key}=${value}`]);
  }

  macOf(iface: string): Uint8Array {
    const out = JSON.parse(this.ip(['-j', 'link', 'show', 'dev', iface])) as Array<{ address: string }>;
    return Uint8Array.from(out[0].address.split(':').map((h) => parseInt(h, 16)));
  }
}

const liveLabs: NetnsLab[] = [];
let exitHookInstalled = false;

/**
 * A set of namespaces owned by this process. `destroy()` is idempotent and
 * also runs at process exit and on SIGINT/SIGTERM when nothing else handles
 * them.
 */
export class NetnsLab {
  readonly namespaces: Namespace[] = [];
  private readonly base: string;
  private destroyed = false;

  constructor(tag: string) {
    if (process.getuid?.() !== 0) {
      throw new Error('building a lab needs root (network namespaces, veth, nftables): run as root, e.g. with sudo');
    }
    if (!/^[a-z0-9]{1,8}$/.test(tag)) throw new RangeError(`lab tag must be 1-8 lowercase letters/digits, got ${JSON.stringify(tag)}`);
    this.base = `${NETNS_PREFIX}${process.pid}-${tag}`;
    sweepStaleNamespaces();
    liveLabs.push(this);
    installExitHook();
  }

  owns(name: string): boolean {
    return !this.destroyed && this.namespaces.some((ns) => ns.name === name);
  }

  /** Creates namespace `sc-<pid>-<tag>-<role>` with loopback up. */
  add(role: string): Namespace {
    const ns = new Namespace(`${this.base}-${role}`);
    ip(['netns', 'add', ns.name]);
    this.namespaces.push(ns);
    ns.ip(['link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * A veth pair: `ifA` in `a`, `ifB` in `b`, both up, each end with
   * `queues` receive and transmit queues (a frame arrives on the receive
   * queue numbered as the transmit queue the other end's sender picked).
   */
  link(a: Namespace, ifA: string, b: Namespace, ifB: string, queues = 1): void {
    const q = queues === 1 ? [] : ['numtxqueues', String(queues), 'numrxqueues', String(queues)];
    a.ip(['link', 'add', ifA, ...q, 'type', 'veth', 'peer', 'name', ifB, ...q, 'netns', b.name]);
    a.ip(['link', 'set', ifA, 'up']);
    b.ip(['link', 'set', ifB, 'up']);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of this.namespaces.reverse()) {
      try {
        ip(['netns', 'del', ns.name]);
      } catch {
        // already gone
      }
    }
    const i = liveLabs.indexOf(this);
    if (i >= 0) liveLabs.splice(i, 1);
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  onTeardown(() => {
    for (const lab of [...liveLabs]) lab.destroy();
  });
}

/** Whether this process can build labs; a reason to print when it cannot. */
export function labUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'building a lab needs root (CI runs as root)';
  try {
    ip(['-V']);
  } catch {
    return 'the ip command (iproute2) is not installed';
  }
  return undefined;
}

/**
 * Two namespaces joined by one veth pair, addressed from 198.18.0.0/15 and
 * 2001:db8::/32: `peer` (.2 / ::2) and `responder` (.1 / ::1). Used by tests.
 * With `xdp`, the peer's veth passes every frame through an XDP program of
 * its own, so that what an XDP program on the responder's veth sends back
 * with XDP_TX arrives (veth-xdp.ts). With `queues`, both ends of the veth
 * have that many receive and transmit queues.
 */
export interface PairLab {
  lab: NetnsLab;
  peer: Namespace;
  responder: Namespace;
  peerIface: string;
  responderIface: string;
  responderV4: string;
  peerV4: string;
  responderV6: string;
  peerV6: string;
}

export function createPairLab(tag: string, subnet = 1, { xdp = false, queues = 1 }: { xdp?: boolean; queues?: number } = {}): PairLab {
  const lab = new NetnsLab(tag);
  try {
    const peer = lab.add('p');
    const responder = lab.add('r');
    const peerIface = 'scp0';
    const responderIface = 'scr0';
    lab.link(peer, peerIface, responder, responderIface, queues);
    const v4 = (host: number) => `198.18.${subnet}.${host}`;
    const v6 = (host: number) => (subnet === 0 ? `2001:db8::${host}` : `2001:db8:${subnet.toString(16)}::${host}`);
    peer.ip(['addr', 'add', `${v4(2)}/24`, 'dev', peerIface]);
    responder.ip(['addr', 'add', `${v4(1)}/24`, 'dev', responderIface]);
    peer.ip(['-6', 'addr', 'add', `${v6(2)}/64`, 'dev', peerIface, 'nodad']);
    responder.ip(['-6', 'addr', 'add', `${v6(1)}/64`, 'dev', responderIface, 'nodad']);
    if (xdp) passOnPeer(peer, peerIface);
    return {
      lab, peer, responder, peerIface, responderIface,
      responderV4: v4(1), peerV4: v4(2), responderV6: v6(1), peerV6: v6(2),
    };
  } catch (error) {
    lab.destroy();
    throw error;
  }
}
