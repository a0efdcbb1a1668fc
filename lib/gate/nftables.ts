// The prerouting gate: keeps this host's own TCP stack out of the handshakes
// that syncache answers from userspace.
//
// Without it the kernel sees every SYN to a protected address:port too, finds
// no listener and answers with a RST (or, with a listener, answers a second
// SYN-ACK). The gate is one nftables table per gate, owned by this process,
// and exactly as wide as the ring: one interface, its own addresses.
//
//   table inet syncache_<pid>_<n>_s<start>_ns<pidns> {
//     flags owner                        (when libnftables is there: see below)
//     set v4 / v6 { protected addresses }
//     set ports   { protected ports }
//     chain prerouting { hook prerouting priority raw
//       iifname "IF" ip daddr @v4 tcp dport @ports jump gate
//       iifname "IF" ip6 daddr @v6 tcp dport @ports jump gate }
//     chain gate {
//       tcp flags & (syn|ack) == syn drop
//                                        every SYN is syncache's; first, so
//                                        a flood costs no socket lookups
//       socket mark <mark> accept        a full socket carrying our SO_MARK:
//                                        handed off, served by the kernel
//       socket wildcard { 0, 1 } drop    any other full socket: one still
//                                        under TCP_REPAIR, or a foreign one
//       socket transparent 0 accept      minisockets (TIME_WAIT, FIN_WAIT2,
//                                        request socks): without this the
//                                        FINs after close are lost
//       drop }                           no socket: syncache's alone
//   }
//
// The `socket` expression's mark and wildcard keys do not match minisockets
// (the kernel breaks out of the rule), which is what lets the third rule see
// only those. An AF_PACKET socket still sees every packet the gate drops.
// Packets to the same address:port arriving on another interface (lo, a
// second link) are not gated: the kernel serves them as it would anyway.
//
// Ownership. A table is made through an NftSession (libnftables in this
// process, its netlink socket kept open) with `flags owner` (Linux >= 5.12):
// the kernel deletes it when that socket closes, so a gate outlives no
// process, kill -9 included. Without libnftables, or on an older kernel, the
// `nft` command makes it without the flag, and leftovers are judged by the
// owner named in the table (pid, start time, PID namespace: see
// owner-process.ts): `sweepGates` / `syncache cleanup` remove a dead owner's
// tables; a live gate refuses a second one on an address:port it covers.
// Every change is one transaction: a gate is installed whole or not at all.
// The nft command gets its script in argv, not on stdin: Node's stdio pipes
// are sockets, which `nft -f -` cannot open as /dev/stdin.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { isIP } from 'node:net';
import type { Namespace } from '../lab/netns.js';
import { onTeardown } from '../lab/teardown.js';
import { NETNS_DIR } from '../native/netns.js';
import { addon, type NftSession } from '../native/addon.js';
import { checkBindAddresses } from '../responder/bind-addresses.js';
import { ownerState, selfIdentity, type OwnerState, type ProcessIdentity } from './owner-process.js';

export const GATE_TABLE_PREFIX = 'syncache_';
/** The SO_MARK that lets a handed-off socket's packets through the gate, unless told otherwise. */
export const DEFAULT_MARK = 0x5ca;
/** syncache_<pid>[_<n>[_s<start time>_ns<pid namespace inode>]] (the shorter forms: older tables). */
const TABLE_RE = /^syncache_(\d+)(?:_(\d+))?(?:_s(\d+)_ns(\d+))?$/;
const IFACE_RE = /^[\w.@+-]{1,15}$/;

export interface GateOptions {
  /** Namespace to install into; the current one when omitted. */
  netns?: Namespace | string;
  /** The interface whose packets are gated (the ring's). */
  iface: string;
  /** Protected destination addresses (IPv4 and/or IPv6) of that interface. */
  addrs: readonly string[];
  /** Protected destination ports. */
  ports: readonly number[];
  /** SO_MARK of handed-off sockets: their packets pass. Non-zero, 32 bits. */
  mark: number;
  /**
   * false: make the table with the nft command, without an owner, as where
   * libnftables is missing (then only remove() and cleanup remove it). For
   * tests of that fallback; default true.
   */
  owner?: boolean;
}

export interface Gate {
  readonly table: string;
  readonly netns: string | undefined;
  readonly iface: string;
  readonly mark: number;
  readonly addrs: readonly string[];
  readonly ports: readonly number[];
  /** True if the kernel removes the table with this process (`flags owner`); false if only remove() and cleanup do. */
  readonly owned: boolean;
  /** Removes the table; idempotent, also runs at process exit. */
  remove(): void;
}

/** A gate table found in a namespace. */
export interface GateTable {
  table: string;
  pid: number;
  /** The process that made it, as far as its name records it. */
  owner: ProcessIdentity;
  /** The interface its rules name (undefined: an older table that gates every interface). */
  iface: string | undefined;
  v4: string[];
  v6: string[];
  ports: number[];
}

export class GateError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'GateError';
  }
}

let sequence = 0;

export function installGate(options: GateOptions): Gate {
  const netns = nsName(options.netns);
  const iface = checkIface(options.iface);
  const { v4, v6 } = splitAddrs(options.addrs);
  const ports = checkPorts(options.ports);
  const mark = checkMark(options.mark);

  const clashWith = (others: GateTable[], mine?: string): void => {
    for (const other of others) {
      if (other.table === mine) continue;
      const state = ownerState(other.owner);
      if (state === 'dead') continue;
      if (mine !== undefined && !precedes(other.table, mine)) continue;
      const clash = overlap(other, iface, v4, v6, ports);
      if (!clash) continue;
      throw new GateError(
        `${clash} on ${iface} is already gated by syncache pid ${other.pid}${state === 'foreign' ? ' of another PID namespace' : ''} (table inet ${other.table}` +
          `${netns ? ` in netns ${netns}` : ''}); stop that process, or run \`syncache cleanup\` if it is stale`,
        'EADDRINUSE',
      );
    }
  };
  clashWith(listGates(netns));
  const me = selfIdentity();
  const table = `${GATE_TABLE_PREFIX}${me.pid}_${++sequence}_s${me.startTime}_ns${me.pidns}`;
  const session = options.owner === false ? undefined : ownerSession(netns, gateScript(table, iface, v4, v6, ports, mark, true));
  if (session === undefined) nft(netns, [gateScript(table, iface, v4, v6, ports, mark, false)]);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    unregister();
    if (session !== undefined) {
      // Closing the session deletes the table it owns; deleting first is
      // only so the kernel has done so before remove() returns.
      try {
        session.run(`delete table inet ${table}`);
      } catch {
        // gone already; close() below is what counts
      }
      session.close();
    } else {
      deleteTable(netns, table);
    }
  };
  const unregister = onTeardown(remove);
  // Two processes may both have passed the check above; looking again after
  // installing, the later-named table of two overlapping ones backs out.
  try {
    const now = listGates(netns);
    if (!now.some((g) => g.table === table)) {
      throw new GateError(`the gate table inet ${table} was gone right after it was made${netns ? ` in netns ${netns}` : ''}: is another nftables tool flushing the ruleset?`, 'ENFT');
    }
    clashWith(now, table);
  } catch (error) {
    remove();
    throw error;
  }
  return { table, netns, iface, mark, addrs: [...v4, ...v6], ports, owned: session !== undefined, remove };
}

/**
 * The table made through its own NftSession with `flags owner`, or
 * undefined if this system cannot (no libnftables, a kernel before 5.12):
 * the caller then uses the nft command and the table has no owner.
 */
function ownerSession(netns: string | undefined, script: string): NftSession | undefined {
  let session: NftSession;
  try {
    session = new addon.NftSession(netns === undefined ? undefined : `${NETNS_DIR}/${netns}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOSYS') return undefined;
    throw new GateError(`cannot open an nftables session${netns ? ` in netns ${netns}` : ''}: ${(error as Error).message}`, (error as NodeJS.ErrnoException).code ?? 'ENFT');
  }
  try {
    session.run(script);
    return session;
  } catch (error) {
    session.close();
    const detail = (error as Error).message;
    if (/Operation not permitted/.test(detail)) throw new GateError(`nft failed${netns ? ` in netns ${netns}` : ''}: ${detail} (the gate needs CAP_NET_ADMIN: run as root)`, 'EPERM');
    // Most likely a kernel without table ownership: the nft command says
    // for itself if anything else is wrong.
    return undefined;
  }
}

/**
 * Removes gate tables whose owning process is gone (or is another process
 * now). Tables of another PID namespace are left to that namespace's
 * cleanup. Returns the names removed.
 */
export function sweepGates(options: { netns?: Namespace | string } = {}): string[] {
  const netns = nsName(options.netns);
  const removed: string[] = [];
  for (const gate of listGates(netns)) {
    if (gateOwnerState(gate) !== 'dead') continue;
    if (deleteTable(netns, gate.table)) removed.push(gate.table);
  }
  return removed;
}

/** Gate tables made in another PID namespace, which sweepGates leaves alone: their pids cannot be judged from here. */
export function foreignGates(options: { netns?: Namespace | string } = {}): string[] {
  return listGates(nsName(options.netns)).filter((g) => gateOwnerState(g) === 'foreign').map((g) => g.table);
}

/** Whether a gate's owner still runs (see owner-process.ts). */
export function gateOwnerState(gate: GateTable): OwnerState {
  return ownerState(gate.owner);
}

/** Every syncache gate table in the namespace, with what it protects. */
export function listGates(netns?: Namespace | string): GateTable[] {
  const name = nsName(netns);
  const out = nft(name, ['-j', 'list', 'ruleset']);
  const items = (JSON.parse(out) as { nftables: Array<Record<string, any>> }).nftables;
  const gates = new Map<string, GateTable>();
  for (const item of items) {
    const t = item.table;
    if (t && t.family === 'inet') {
      const m = TABLE_RE.exec(t.name);
      if (!m) continue;
      const owner: ProcessIdentity = { pid: Number(m[1]) };
      if (m[3] !== undefined) Object.assign(owner, { startTime: Number(m[3]), pidns: Number(m[4]) });
      gates.set(t.name, { table: t.name, pid: owner.pid, owner, iface: undefined, v4: [], v6: [], ports: [] });
    }
  }
  for (const item of items) {
    const s = item.set;
    if (s && s.family === 'inet') {
      const gate = gates.get(s.table);
      if (!gate) continue;
      const elems = (s.elem ?? []) as unknown[];
      if (s.name === 'v4') gate.v4 = elems.map(String);
      else if (s.name === 'v6') gate.v6 = elems.map(String);
      else if (s.name === 'ports') gate.ports = elems.map(Number);
    }
    const r = item.rule;
    if (r && r.family === 'inet' && r.chain === 'prerouting') {
      const gate = gates.get(r.table);
      if (!gate) continue;
      for (const e of (r.expr ?? []) as Array<Record<string, any>>) {
        if (e.match?.left?.meta?.key === 'iifname' && typeof e.match.right === 'string') gate.iface = e.match.right;
      }
    }
  }
  return [...gates.values()];
}

function gateScript(table: string, iface: string, v4: string[], v6: string[], ports: number[], mark: number, owner: boolean): string {
  const elements = (xs: Array<string | number>) => (xs.length ? ` elements = { ${xs.join(', ')} };` : '');
  const lines = [
    `table inet ${table} {`,
    ...(owner ? ['  flags owner'] : []),
    `  comment "syncache gate, pid ${process.pid}, ${iface}, mark 0x${mark.toString(16)}"`,
    `  set v4 { type ipv4_addr;${elements(v4)} }`,
    `  set v6 { type ipv6_addr;${elements(v6)} }`,
    `  set ports { type inet_service;${elements(ports)} }`,
    `  chain prerouting {`,
    `    type filter hook prerouting priority raw; policy accept;`,
  ];
  if (v4.length) lines.push(`    iifname "${iface}" ip daddr @v4 tcp dport @ports jump gate`);
  if (v6.length) lines.push(`    iifname "${iface}" ip6 daddr @v6 tcp dport @ports jump gate`);
  lines.push(
    `  }`,
    `  chain gate {`,
    // Every SYN is syncache's (a new connection, or one that takes over a
    // TIME_WAIT): dropping it first spares a flood the socket lookups below.
    `    tcp flags & (syn | ack) == syn drop`,
    `    socket mark 0x${mark.toString(16)} accept`,
    `    socket wildcard { 0, 1 } drop`,
    `    socket transparent 0 accept`,
    `    drop`,
    `  }`,
    `}`,
  );
  // The name is this process's own (pid, start time, namespace, sequence):
  // nothing else can have made a table by it.
  return `${lines.join('\n')}\n`;
}

function deleteTable(netns: string | undefined, table: string): boolean {
  if (netns !== undefined && !existsSync(`${NETNS_DIR}/${netns}`)) return false;
  try {
    nft(netns, ['delete', 'table', 'inet', table]);
    return true;
  } catch {
    return false; // already gone
  }
}

/** Whether gate table `a` was named before `b` (lower pid, then lower sequence). */
function precedes(a: string, b: string): boolean {
  const [, pa, sa] = TABLE_RE.exec(a) ?? [];
  const [, pb, sb] = TABLE_RE.exec(b) ?? [];
  return Number(pa) - Number(pb) < 0 || (pa === pb && Number(sa ?? 0) < Number(sb ?? 0));
}

function overlap(other: GateTable, iface: string, v4: string[], v6: string[], ports: number[]): string | undefined {
  if (other.iface !== undefined && other.iface !== iface) return undefined;
  const port = ports.find((p) => other.ports.includes(p));
  if (port === undefined) return undefined;
  // ('0.0.0.0' and '::' only in an older table: they meant any address.)
  const hit = (mine: string[], theirs: string[], any: string) => mine.find((a) => theirs.includes(a) || theirs.includes(any));
  const a4 = hit(v4, other.v4, '0.0.0.0');
  if (a4) return `${a4}:${port}`;
  const a6 = hit(v6, other.v6, '::');
  if (a6) return `[${a6}]:${port}`;
  return undefined;
}

function splitAddrs(addrs: readonly string[]): { v4: string[]; v6: string[] } {
  if (!Array.isArray(addrs) || addrs.length === 0) throw new TypeError('addrs must be a non-empty array of IPv4/IPv6 addresses');
  checkBindAddresses(addrs);
  const v4: string[] = [];
  const v6: string[] = [];
  for (const a of addrs) {
    const family = typeof a === 'string' ? isIP(a) : 0;
    if (family === 4) v4.push(a);
    else if (family === 6 && !a.includes('%')) v6.push(canonicalV6(a));
    else throw new TypeError(`addrs: ${JSON.stringify(a)} is not an IPv4 or IPv6 address`);
  }
  return { v4: [...new Set(v4)], v6: [...new Set(v6)] };
}

function canonicalV6(a: string): string {
  // nft prints addresses in RFC 5952 form; compare in that form too.
  return new URL(`http://[${a}]/`).hostname.slice(1, -1);
}

function checkIface(iface: string): string {
  if (typeof iface !== 'string' || !IFACE_RE.test(iface)) {
    throw new TypeError(`iface must be an interface name (1 to 15 of letters, digits, _ . @ + -), got ${JSON.stringify(iface)}`);
  }
  return iface;
}

function checkPorts(ports: readonly number[]): number[] {
  if (!Array.isArray(ports) || ports.length === 0) throw new TypeError('ports must be a non-empty array of TCP ports');
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`ports: ${p} is not a TCP port (1-65535)`);
  }
  return [...new Set(ports)];
}

function checkMark(mark: number): number {
  if (!Number.isInteger(mark) || mark < 1 || mark > 0xffffffff) {
    throw new RangeError(`mark must be a non-zero 32-bit integer (the SO_MARK of handed-off sockets), got ${mark}`);
  }
  return mark;
}

function nsName(netns: Namespace | string | undefined): string | undefined {
  if (netns === undefined) return undefined;
  const name = typeof netns === 'string' ? netns : netns.name;
  if (!/^[\w.-]+$/.test(name)) throw new TypeError(`netns: ${JSON.stringify(name)} is not a namespace name`);
  return name;
}

/** Runs `nft ...args` (one transaction), in `netns` when given. */
function nft(netns: string | undefined, nftArgs: string[]): string {
  requireNft();
  const [cmd, args] = netns === undefined ? ['nft', nftArgs] : ['ip', ['netns', 'exec', netns, 'nft', ...nftArgs]];
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string; status?: number };
    const detail = (e.stderr ?? '').trim() || e.message;
    const code = /Operation not permitted/.test(detail) ? 'EPERM' : /No such file or directory.*netns|Cannot open network namespace/i.test(detail) ? 'ENOENT' : 'ENFT';
    const hint = code === 'EPERM' ? ' (the gate needs CAP_NET_ADMIN: run as root)' : '';
    throw new GateError(`nft failed${netns ? ` in netns ${netns}` : ''}: ${detail}${hint}`, code);
  }
}

let nftChecked = false;
function requireNft(): void {
  if (nftChecked) return;
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter);
  if (!dirs.concat(['/usr/sbin', '/sbin']).some((d) => d && existsSync(join(d, 'nft')))) {
    throw new GateError('the nft command (nftables) is not installed: apt-get install nftables', 'ENOENT');
  }
  nftChecked = true;
}

