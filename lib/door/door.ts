// The door's owner: loads the XDP program (native/door/door.bpf.c) through
// the addon, writes what it answers for and how, and reads its counters.
// Every decision is made here; native code only loads, writes maps and sums.
//
// What the owner writes, and when:
//   addresses, ports   at open: the frames that are ours (the rest pass to
//                      the kernel untouched)
//   cookie state       setCookieState(): the door answers SYNs with cookies
//                      when no SYN may take a cache entry (mode 'only', or
//                      'on' while paused), and refuses invalid cookie ACKs
//                      itself when no entry can exist for them ('only', or
//                      'on' while paused with an empty cache). While paused
//                      with entries, a flow's retransmitted SYN gets the
//                      door's cookie, not its entry's ISS: the same number
//                      unless the secrets rotated in between.
//   secrets            followSecrets(): the cookie secrets' two slots as the
//                      engine's CookieSecrets holds them; a slot the door
//                      does not use now is written before the active slot
//                      flips to it, so a SYN never reads a slot mid-write
//   timestamps         setTimestampClock(): the door's TSval is monotonic ms
//                      plus an offset, set so it reads as the engine's
//   reply MACs         setReplyMacs(), from the Ring's gatewayMacs() about
//                      once a second: a SYN is answered in the driver, back
//                      to its source MAC, only when that MAC is a gateway's
//                      that routing sends replies through; any other goes
//                      to userspace, which routes its reply (none, the
//                      default: every SYN goes there)
//   handed-over flows  handOver()/takeBack(): a kernel socket's flow passes
//                      to the kernel untouched; flowClosed() once its socket
//                      closed: the rest still to the socket's TIME_WAIT,
//                      until takeBack() (the lingering is over), but a SYN
//                      on it goes to userspace and takes the flow out (the
//                      owner marks it closed again if it refuses the SYN
//                      by RFC 6191)
//   calm               setCalm(): SYNs below a rate pass to the owner's own
//                      kernel listener (protect()'s calm), whose request
//                      sockets and cookie ACKs pass to it as well
//   AF_XDP sockets     setSocket()/clearSocket(): where the rest of ours goes
//                      (or a Ring opened with xskMap puts its own there)
//
// Shards on worker threads reach the door through their Responder, its
// owner: the cookie state and gateways' MACs as messages (the owner writes
// allShardsCookieState() of them), handed-over flows through a DoorFlows
// (lib/door/flows.ts) over flowMaps, written on the shard's own thread.
//
// The program leaves the interface when close() runs or the process ends
// (a bpf_link, so kill -9 included), and when a Door is garbage collected:
// keep a reference for as long as it should stand.
import { existsSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { addon, builtFile, type CookieMode, type DoorFlowMaps, type FlowEnds, type NativeDoor } from '../native/addon.js';
import { writeAddress } from '../native/address.js';
import { writeFlowWords, FLOW_WORDS } from '../native/flow-words.js';
import type { CookieSecrets } from '../engine/cookie-secrets.js';

/** Where binding.gyp puts the door's compiled program. */
export const DOOR_OBJECT = builtFile('door.bpf.o');

/** Why the door cannot be used here (one line), or undefined if it can. */
export function doorUnavailableReason(): string | undefined {
  const door = addon.door;
  if (!door.available) {
    return `the XDP door is not built: the addon was built without ${door.missing}: install it (apt-get install clang libbpf-dev) and run npm install`;
  }
  if (!existsSync(DOOR_OBJECT)) return `the XDP door's program ${DOOR_OBJECT} is missing: run npm run build`;
  return undefined;
}

export interface DoorOptions {
  /** Local addresses the door answers for. */
  addrs: string[];
  /** Local TCP ports it answers for. */
  ports: number[];
  /** Our SYN-ACK's MSS (IPv4), its IPv6 MSS, window shift and raw window (the engine's config defaults). */
  mss?: number;
  mss6?: number;
  windowScale?: number;
  window?: number;
  /**
   * SO_MARK of the sockets handoffs make: a segment (not a SYN) of a flow
   * not handed over through this door passes to a kernel socket that holds
   * it, past repair and carrying this mark (doorKernelSocket): connections
   * handed over before this door was attached. 0 (the
   * default): no such lookup.
   */
  socketMark?: number;
}

/** What the owner knows of its own cookie use (see the header). */
export interface CookieState {
  mode: CookieMode;
  /** syncookies 'on' and the cache's pause is on. */
  paused: boolean;
  /** The cache holds no entry (nothing an ACK could complete through). */
  cacheEmpty: boolean;
}

/**
 * The cookie state the door may act on for shards that each have their
 * own: SYNs answered with cookies only while every shard would answer its
 * own that way, and ACKs checked only while no shard could hold an entry
 * (the door does not know which shard a flow's ACK reaches).
 */
export function allShardsCookieState(states: readonly CookieState[]): CookieState {
  return {
    mode: states[0]?.mode ?? 'off',
    paused: states.length > 0 && states.every((s) => s.paused),
    cacheEmpty: states.every((s) => s.cacheEmpty),
  };
}

/** The door's config flags for a cookie state. */
export function doorFlags(state: CookieState): number {
  const { answerSyns, checkAcks } = builtDoor().flags;
  const cookiesOnly = state.mode === 'only' || (state.mode === 'on' && state.paused);
  let flags = cookiesOnly ? answerSyns : 0;
  if (state.mode === 'only' || (cookiesOnly && state.cacheEmpty)) flags |= checkAcks;
  return flags;
}

/** CLOCK_MONOTONIC in ms, the clock the program's TSval counts (bpf_ktime_get_ns). */
function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/**
 * The addon's door constants; throws (code ENOSYS) where the addon was built
 * without the door. No file system check: the shards ask on every batch
 * (doorFlags), and only the constructor loads the program's file.
 */
function builtDoor(): Extract<typeof addon.door, { available: true }> {
  const door = addon.door;
  if (!door.available) throw Object.assign(new Error(doorUnavailableReason()), { code: 'ENOSYS' });
  return door;
}

function checkedInteger(name: string, value: number | undefined, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`options.${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

const MAC_BYTES = 6;

/** XDP verdicts by name. */
export type DoorVerdict = 'aborted' | 'drop' | 'pass' | 'tx' | 'redirect';

export class Door {
  private readonly native: NativeDoor;
  private readonly names: readonly string[];
  private readonly counts: BigUint64Array;
  private readonly verdictNames: Map<number, DoorVerdict>;
  private readonly flowWords = new Uint32Array(FLOW_WORDS);
  private readonly config = { flags: 0, activeSlot: 0, wscale: 7, window: 65535, mss4: 1460, mss6: 1440, tsOffset: 0, socketMark: 0, calmSyns: 0 };
  /** The reply MACs last written, as sorted hex (the map starts empty). */
  private replyMacs = '';
  /** The secret last written to each slot (null: invalid). */
  private readonly slots: [Uint8Array | null, Uint8Array | null] = [null, null];
  private closed = false;

  /** Loads the program and writes what it answers for; attach() puts it on an interface. */
  constructor(options: DoorOptions) {
    const reason = doorUnavailableReason();
    if (reason !== undefined) throw Object.assign(new Error(reason), { code: 'ENOSYS' });
    const door = builtDoor();
    if (!Array.isArray(options.addrs) || options.addrs.length === 0) throw new TypeError('options.addrs must be a non-empty array of addresses');
    if (!Array.isArray(options.ports) || options.ports.length === 0) throw new TypeError('options.ports must be a non-empty array of ports');
    const ports = Uint16Array.from(options.ports.map((p) => checkedInteger('ports[]', p, 1, 65535, 0)));
    const words = new Uint32Array(options.addrs.length * 5);
    options.addrs.forEach((text, i) => { words[i * 5] = writeAddress(text, words, i * 5 + 1); });
    const mss = checkedInteger('mss', options.mss, 536, 65495, 1460);
    this.config.mss4 = mss;
    this.config.mss6 = checkedInteger('mss6', options.mss6, 1220, 65475, Math.min(65475, Math.max(1220, mss - 20)));
    this.config.wscale = checkedInteger('windowScale', options.windowScale, 0, 14, 7);
    this.config.window = checkedInteger('window', options.window, 1, 65535, 65535);
    this.config.tsOffset = randomInt(0, 2 ** 32);
    this.config.socketMark = checkedInteger('socketMark', options.socketMark, 0, 2 ** 32 - 1, 0);
    this.names = door.counterNames;
    this.counts = new BigUint64Array(door.counterNames.length);
    this.verdictNames = new Map(Object.entries(door.verdicts).map(([name, value]) => [value, name as DoorVerdict]));
    this.native = new door.Door(DOOR_OBJECT);
    try {
      this.native.setPorts(ports);
      this.native.setAddresses(words);
      this.native.configure(this.config);
    } catch (error) {
      this.native.close();
      throw error;
    }
  }

  /** Puts the program on `iface` (in the namespace at path `netns`). */
  attach(iface: string, netns?: string): void {
    this.native.attach(netns === undefined ? { iface } : { iface, netns });
  }

  /** The XSKMAP the program redirects through: a Ring opened with io 'xdp' and this xskMap takes our frames. */
  get xskMap(): number {
    return this.native.xskMap;
  }

  /** The fds of the handed-over flow maps, for a DoorFlows (lib/door/flows.ts) on a shard's worker thread; valid until close(). */
  get flowMaps(): DoorFlowMaps {
    return this.native.flowMaps;
  }

  get attached(): boolean {
    return this.native.attached;
  }

  setCookieState(state: CookieState): void {
    const flags = doorFlags(state);
    if (flags === this.config.flags) return;
    this.config.flags = flags;
    this.native.configure(this.config);
  }

  /**
   * Copies the engine's two secrets in: a changed slot the door does not
   * use now first, then the active slot flips, then the slot it used until
   * then. A slot being rewritten right now keeps what the door has (call
   * again after the rotation). Only a slot that stays active and changes
   * (a fleet's key reloaded) is written where SYNs read it: a SYN in that
   * moment may get a cookie nothing validates, and its client resends.
   */
  followSecrets(secrets: CookieSecrets): void {
    const wanted = [secrets.secret(0), secrets.secret(1)];
    const active = secrets.activeSlot;
    const changed = (slot: number): boolean => {
      const have = this.slots[slot];
      const want = wanted[slot];
      return want !== null && (have === null || Buffer.compare(have, want) !== 0);
    };
    const write = (slot: number): void => {
      this.native.setSecret(slot, wanted[slot]);
      this.slots[slot] = wanted[slot];
    };
    const inUse = this.config.activeSlot;
    if (changed(1 - inUse)) write(1 - inUse);
    if (active !== inUse && this.slots[active] !== null) {
      this.config.activeSlot = active;
      this.native.configure(this.config);
    }
    if (changed(inUse)) write(inUse);
  }

  /**
   * Calm: up to `synsPerSecond` SYNs of ours a second, on each CPU that
   * receives them, pass to the kernel's own listener, which the caller
   * holds on every address and port (its SO_MARK the socketMark); above
   * that rate in a 100 ms window, and until a window stays below it again,
   * and whenever cookies are all there is, every SYN is ours. The
   * listener's request sockets and kernel cookie ACKs then pass to it too
   * (doorKernelSocket). 0 turns it off. Needs socketMark.
   */
  setCalm(synsPerSecond: number): void {
    const rate = checkedInteger('calm', synsPerSecond, 0, 100_000_000, 0);
    if (rate !== 0 && this.config.socketMark === 0) throw new RangeError('calm needs the handoffs\' socketMark: without it the kernel listener\'s connections are not told from others');
    const syns = rate === 0 ? 0 : Math.max(1, Math.ceil(rate * builtDoor().calmWindowMs / 1000));
    if (syns === this.config.calmSyns) return;
    this.config.calmSyns = syns;
    this.native.configure(this.config);
  }

  /** Our timestamp clock's value now (the engine's tsNow()): the door's TSvals read on from it. */
  setTimestampClock(tsNow: number): void {
    this.config.tsOffset = (tsNow - monotonicMs()) >>> 0;
    this.native.configure(this.config);
  }

  /**
   * The MACs, 6 bytes each, whose SYNs the door answers itself (the Ring's
   * gatewayMacs()); replaces the set. A SYN from any other MAC goes to
   * userspace, which routes its reply. Unchanged sets are not written again.
   */
  setReplyMacs(macs: Uint8Array): void {
    if (!(macs instanceof Uint8Array) || macs.length % MAC_BYTES !== 0) {
      throw new TypeError('macs must be a Uint8Array of 6 bytes a MAC');
    }
    const distinct = new Set<string>();
    for (let at = 0; at < macs.length; at += MAC_BYTES) {
      distinct.add(Buffer.from(macs.buffer, macs.byteOffset + at, MAC_BYTES).toString('hex'));
    }
    const max = builtDoor().replyMacsMax;
    if (distinct.size > max) throw new RangeError(`macs: at most ${max} distinct MACs, got ${distinct.size}`);
    const sorted = [...distinct].sort();
    const key = sorted.join(',');
    if (key === this.replyMacs) return;
    this.native.setReplyMacs(Buffer.from(sorted.join(''), 'hex'));
    this.replyMacs = key;
  }

  /** A kernel socket owns this flow now: its segments pass to the kernel (`flow`: its ends, or its writeFlowWords). */
  handOver(flow: FlowEnds | Uint32Array, peerIsn: number): void {
    this.native.handOver(this.words(flow), peerIsn >>> 0);
  }

  /**
   * The flow's socket closed: its stragglers still pass to the kernel, a
   * SYN goes to userspace (unanswered here) and the flow leaves the door;
   * userspace decides the reopen (RFC 6191) and, if it refuses, marks the
   * flow closed here again (handOver, then flowClosed). `seen`
   * (3 words) gets what the peer sent while the door passed its segments
   * to the socket: its sequence end, newest TSval, 1 if it sent timestamps
   * (ring.flowClosed takes them, for RFC 6191). False if not handed over.
   */
  flowClosed(flow: FlowEnds | Uint32Array, seen: Uint32Array = new Uint32Array(3)): boolean {
    return this.native.flowClosed(this.words(flow), seen);
  }

  /** Undoes handOver (the socket's TIME_WAIT is over); false if the flow was not handed over. */
  takeBack(flow: FlowEnds | Uint32Array): boolean {
    return this.native.takeBack(this.words(flow));
  }

  private words(flow: FlowEnds | Uint32Array): Uint32Array {
    return flow instanceof Uint32Array ? flow : writeFlowWords(flow, this.flowWords);
  }

  /** The AF_XDP socket (fd) that takes our frames arriving on rx queue `queue`. */
  setSocket(queue: number, fd: number): void {
    this.native.setSocket(queue, fd);
  }

  clearSocket(queue: number): void {
    this.native.clearSocket(queue);
  }

  /** Every counter by name, summed over the CPUs. */
  stats(): Record<string, number> {
    this.native.readCounters(this.counts);
    const out: Record<string, number> = {};
    this.names.forEach((name, i) => { out[name] = Number(this.counts[i]); });
    return out;
  }

  /** The loaded program: its id, instruction counts and JIT size. */
  info(): ReturnType<NativeDoor['info']> {
    return this.native.info();
  }

  /**
   * `repeat` runs (default 1) of the program on `frame` (BPF_PROG_TEST_RUN):
   * its verdict, the frame as it left it and the mean time a run took.
   */
  testRun(frame: Uint8Array, repeat = 1): { verdict: DoorVerdict; frame: Uint8Array; durationNs: number } {
    const out = new Uint8Array(4096);
    const r = this.native.testRun(frame, out, repeat);
    return { verdict: this.verdictNames.get(r.verdict) ?? 'aborted', frame: out.slice(0, r.length), durationNs: r.durationNs };
  }

  /** Takes the program off its interface and frees it (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}
