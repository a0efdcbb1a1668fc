// The compiled addon and its types. Everything numeric about the boundary
// (offsets, sizes, kinds, flag bits, counter names, cookie tables) comes from
// here, published by native code; nothing in lib/ repeats it.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export type CookieMode = 'off' | 'on' | 'only';

export interface BatchField {
  offset: number;
  elementBytes: number;
  length: number;
}

export interface BatchLayout {
  capacity: number;
  byteLength: number;
  /** payloadOffset of a row whose payload was not kept. */
  noPayload: number;
  fields: Record<BatchFieldName, BatchField>;
}

export type BatchFieldName =
  | 'time' | 'saddr' | 'daddr' | 'seq' | 'ack' | 'tsval' | 'tsecr' | 'hash' | 'cookie' | 'payloadOffset' | 'payload'
  | 'sport' | 'dport' | 'window' | 'mss' | 'vlan' | 'payloadLength'
  | 'kind' | 'family' | 'tcpFlags' | 'wscale' | 'optFlags' | 'cookieState' | 'mac';

export interface SecretsLayout {
  byteLength: number;
  secretBytes: number;
  version: number;
  valid: number;
  active: number;
  secret: number;
  flowHashKey: number;
}

export interface Constants {
  kinds: { none: number; syn: number; ack: number; rst: number; unreach: number; synAck: number; sendRst: number; sendAck: number };
  optFlags: { mss: number; wscale: number; sackPermitted: number; timestamps: number };
  cookieVerdicts: { notChecked: number; valid: number; invalid: number; made: number };
  /** The most flows a ring marks handed over at once (handOver() returns false past it). */
  handedOverFlowsMax: number;
  /** Bytes an AF_XDP ring of the default layout pins (its UMEM): counted against RLIMIT_MEMLOCK without CAP_IPC_LOCK. */
  xdpUmemBytes: number;
}

export interface CookieLayout {
  /** The 24-bit MAC is cookie >>> macShift. */
  macShift: number;
  /** Secret slot bit. */
  selectorShift: number;
  /** SACK-permitted bit. */
  sackShift: number;
  /** wscaleTable index: (cookie >>> wscaleShift) & indexMask. */
  wscaleShift: number;
  /** mssTable index: (cookie >>> mssShift) & indexMask. */
  mssShift: number;
  indexMask: number;
}

export interface PipelineOptions {
  addrs: string[];
  ports: number[];
  cookies: CookieMode;
  /** Uint8Array over the SharedArrayBuffer of the cookie secrets. */
  secrets: Uint8Array;
}

/** The ring's packet path without a ring, for tests and benchmarks. */
export interface NativePipeline {
  readonly counters: BigUint64Array;
  /** Parses `count` frames (frames[offsets[i] .. +lengths[i]]) into `batch`; returns rows accepted. */
  process(frames: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, batch: ArrayBuffer, vlans?: Uint16Array): number;
  /** Builds send rows [0, count) of `batch` into `out`; offsets/lengths receive each frame's place (length 0: not built). */
  build(batch: ArrayBuffer, count: number, srcMac: Uint8Array, out: Uint8Array, offsets: Uint32Array, lengths: Uint32Array): number;
}

export interface RingOptions extends PipelineOptions {
  /** Interface name inside `netns` (or the current namespace). */
  iface: string;
  /** Path of a network namespace (e.g. /run/netns/NAME) to open the sockets in. */
  netns?: string;
  rxBatch: ArrayBuffer;
  txBatch: ArrayBuffer;
  /**
   * The packet backend. 'packet' (default): AF_PACKET rings with a classic
   * BPF filter. 'xdp': one AF_XDP socket on queue `queue` of iface (or one on each of `queues`), put into
   * the XSKMAP `xskMap` for an XDP program there to redirect frames into
   * (its own choice of frames); zero-copy where the driver has it, else
   * copy mode. The options marked 'packet' or 'xdp' belong to one backend
   * (a TypeError with the other).
   */
  io?: 'packet' | 'xdp';
  /** 'packet': join this PACKET_FANOUT group (1..65535), steered by flow (io/bpf_filter.h). */
  fanoutGroup?: number;
  /**
   * 'packet': RX as TPACKET_V2: each frame readable as soon as it lands,
   * where a V3 block waits to fill or retire (4-8 ms at HZ=250). For
   * handoffs; V3 (the default) batches better under a flood. ('xdp' reads
   * so always, and can look ahead.)
   */
  lowLatency?: boolean;
  /** 'packet': PACKET_QDISC_BYPASS on the TX socket (hides our frames from local captures). */
  qdiscBypass?: boolean;
  /** 'packet': RX ring block size in bytes: a power of two multiple of the page size (default 1 MiB). */
  blockSize?: number;
  /** 'packet': RX ring blocks, 1..1024 (default 8); blockSize x blockCount at most 1 GiB. */
  blockCount?: number;
  /** 'packet': a block is handed over when full or after this many ms, 1..60000 (default 1). */
  retireMs?: number;
  /**
   * TX slots. 'packet': slots of 256 B, a multiple of 256 (the slots in a
   * 64 KiB block), 256..65536 (default 16384). 'xdp': UMEM frames for TX,
   * a power of two from 64 to 65536 (default 4096).
   */
  txFrames?: number;
  /** 'xdp': the fd of the XSKMAP the interface's XDP program redirects through (key: the RX queue). */
  xskMap?: number;
  /** 'xdp': the RX queue to bind (default 0), also the socket's key in xskMap. */
  queue?: number;
  /** 'xdp', instead of queue: several RX queues, a socket each (its key in xskMap its queue), read as one ring; replies leave through the first. */
  queues?: number[];
  /** 'xdp': UMEM frame size, 2048 (default) or 4096. */
  frameSize?: number;
  /** 'xdp': UMEM frames for RX (fill and RX rings), a power of two from 64 to 65536 (default 4096). */
  rxFrames?: number;
  /** 'xdp': try zero-copy before copy mode (default true). */
  zeroCopy?: boolean;
  /**
   * Where replies go. 'route' (default): to the next hop the namespace's
   * routing and neighbour tables give for the destination, mirrored over
   * rtnetlink (a reply whose neighbour is not resolved yet goes out through
   * the kernel's IP output, which resolves it, counted `replyViaKernel`, at
   * most 2000/s: past that it is dropped, counted `replyUnresolved`; one that
   * routing sends out of another interface or rejects: `replyNoRoute`).
   * 'source': the send row's mac as written (the SYN's source MAC).
   * 802.1Q-tagged rows always keep the row's mac.
   */
  nextHop?: 'route' | 'source';
}

export interface NativeRing {
  readonly counters: BigUint64Array;
  /** The interface's MAC, the source of every frame we send. */
  readonly mac: Uint8Array;
  readonly ifindex: number;
  /** An AF_XDP ring bound in zero-copy mode (false: copy mode, or AF_PACKET). */
  readonly zeroCopy: boolean;
  /** Fills rxBatch from the ring, maxRows rows at most (default: the batch's capacity); never blocks. Returns rows accepted. */
  receive(maxRows?: number): number;
  /**
   * Like receive(), but takes only the segments that are not SYNs (final
   * ACKs, data, RSTs) from among every frame waiting, ahead of the SYNs
   * before them; receive() skips what it took. 0 on a TPACKET_V3 ring (not lowLatency).
   */
  receiveUrgent(): number;
  /** Builds rows [0, count) of txBatch and sends them with one kick; returns frames sent (through the ring, or the kernel's output for an unresolved next hop). */
  send(count: number): number;
  /**
   * The data segments of these flows (11 words each, as handOver takes them)
   * among the frames waiting in the ring, without taking any, from slot
   * `start` (-1: the read cursor): into out as a uint32 record count, then
   * per record uint32 flow index, seq, length and the bytes padded to 4.
   * Returns the slot to look from next time (valid while nothing is
   * received in between; AF_XDP: a ring index), or -1 if the ring cannot look ahead (TPACKET_V3).
   */
  peek(flows: Uint32Array, start: number, out: Uint8Array): number;
  /**
   * Calls onReadable from the event loop whenever frames are waiting: when
   * the RX socket polls readable, and after every poll phase if the ring
   * has a frame (a look at one status word, no syscall). The interface
   * going down is counted (linkErrors) and the ring answers again once it
   * is up; onError gets the error that stopped the ring for good (code
   * ENODEV: the interface is gone), after which it no longer polls;
   * without onError that error is thrown from the event loop (uncaught).
   * onLinkUp: the interface is up again after an error (within 250 ms); a
   * fanout group's members were re-linked, in an order of the kernel's.
   */
  start(onReadable: () => void, onError?: (error: NodeJS.ErrnoException) => void, onLinkUp?: () => void): void;
  stop(): void;
  /** Adds what the kernel counted since the last call (PACKET_STATISTICS, or XDP_STATISTICS) into the counters. */
  updateKernelStats(): void;
  /**
   * Marks a flow as no longer ours: its segments are skipped before they
   * become rows (counted as skippedHandedOver), and so is its own SYN
   * again (seq = peerIsn, the peer's ISN). kernelSocket (default true):
   * a kernel socket serves it, so a SYN without timestamps on the same
   * 4-tuple waits for its TIME_WAIT; false: completed and reported only.
   * flow = [family, peer address x4, local address x4, peer port, local
   * port], addresses as words in network byte order (see address.ts).
   */
  handOver(flow: Uint32Array, peerIsn: number, kernelSocket?: boolean): boolean;
  /**
   * Whether receive() would find a frame now (a memory read; frames of
   * handed-over flows at the ring's head are skipped first, as before a
   * start() callback).
   */
  ready(): boolean;
  /**
   * Undoes handOver (the socket closed); with peerIsn, only if the flow was
   * marked with that ISN (a newer connection on the 4-tuple keeps its mark).
   * False if nothing was unmarked.
   */
  takeBack(flow: Uint32Array, peerIsn?: number): boolean;
  /**
   * The kernel socket of the flow marked with peerIsn closed: its segments
   * stay skipped, but a SYN with a new ISN may now open a new connection on
   * its 4-tuple (while the socket is open, such a SYN is left to it).
   */
  flowClosed(flow: Uint32Array, peerIsn: number, seen?: Uint32Array): boolean;
  /**
   * The closed flows on which a SYN was refused (RFC 6191, see flowClosed:
   * synOnTimeWait) since the last call, FLOW_WORDS + 1 words each into
   * `out` (the flow, then its peer's ISN; as many as fit); the ring keeps
   * them from the first call on. The XDP door forgot such a flow when it
   * let the SYN up; its owner marks it closed there again.
   */
  takeRefused(out: Uint32Array): number;
  /**
   * The link-layer addresses of the gateways that the mirrored routes out
   * of this interface name, those resolved, 6 bytes each, each once (the
   * route mirror's changes applied first; an unresolved gateway is asked of
   * the kernel, at most once a second). Empty with nextHop 'source'.
   */
  gatewayMacs(): Uint8Array;
  /** Idempotent. */
  close(): void;
}

/** A flow's ends: its family, our address and port, the peer's. */
export interface FlowEnds {
  family: 4 | 6;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** One TCP connection as both ends agreed it in the handshake. */
export interface Connection extends FlowEnds {
  /** Our initial sequence number: our next byte is iss + 1. */
  iss: number;
  /** The peer's initial sequence number: its next byte is irs + 1. */
  irs: number;
  /** The peer's MSS (from its SYN, or as its cookie encodes it). */
  mss: number;
  /** The peer's window-scale shift, or -1 if it sent none. */
  wscale: number;
  /** Our shift as advertised in the SYN-ACK, or -1. Scaling is on only if both are >= 0. */
  ourWscale: number;
  sackPermitted: boolean;
  /** Timestamps in use: the peer's last TSval and the TSval we sent in the SYN-ACK. */
  timestamps: { peerTsval: number; ourTsval: number } | null;
}

/** What TCP_REPAIR needs to rebuild one connection (see native/handoff/repair.h). */
export interface RepairParams extends Connection {
  /** Our timestamp clock now, even (TCP_TIMESTAMP); needed with timestamps. */
  tsNow?: number;
  /** The peer's raw window field from its ACK. */
  window: number;
  /** The raw window of our SYN-ACK (default 65535). */
  ourWindow?: number;
  /** SO_MARK, set last before leaving repair (0 or absent: not set). */
  mark?: number;
  /** Stop before the payload, SO_MARK and leaving repair: finishRepair() does those. */
  stayInRepair?: boolean;
  /** Leave repair with TCP_REPAIR_OFF (sends a window probe) instead of OFF_NO_WP. */
  windowProbe?: boolean;
  /** Path of the network namespace to create the socket in (/run/netns/NAME). */
  netns?: string;
}

/** Where a flow's words sit (native/boundary/flow_words.h): word indices, and the count. */
export interface FlowLayout {
  words: number;
  family: number; peerAddress: number; localAddress: number; peerPort: number; localPort: number;
}

/** Where repairSocketWords reads each field after the flow's words (word indices), and the bits of `flags`. */
export interface RepairLayout {
  words: number;
  iss: number; irs: number; mss: number; wscale: number; ourWscale: number; flags: number;
  tsNow: number; window: number; ourWindow: number; mark: number;
  sackPermitted: number; timestamps: number; windowProbe: number; stayInRepair: number;
}

/**
 * An nftables context (libnftables, loaded at run time) whose netlink socket
 * was opened in `netns` and stays open until close(): tables it creates with
 * `flags owner` are the kernel's to delete when it closes or the process dies.
 * The constructor throws with code ENOSYS when libnftables is missing.
 */
export interface NftSession {
  /** Runs nft commands as one transaction; returns nft's output, throws (code ENFT) with its error text. */
  run(commands: string): string;
  /** Frees the context (idempotent): the tables it owns are deleted. */
  close(): void;
}

/** getsockopt TCP_MAXSEG and parts of TCP_INFO. */
export interface TcpSocketInfo {
  /** TCP_MAXSEG: the current send MSS (peer MSS minus option space). */
  maxseg: number;
  /** TCP_ESTABLISHED is 1. */
  state: number;
  /** TCPI_OPT_* bits: 1 timestamps, 2 SACK, 4 window scaling. */
  options: number;
  sndWscale: number;
  rcvWscale: number;
  sndMss: number;
  rcvMss: number;
  advmss: number;
  totalRetrans: number;
  /** TCP_NODELAY set. */
  noDelay: boolean;
  /** SO_KEEPALIVE set. */
  keepAlive: boolean;
}

/** What the kernel did with a frame (XDP_* actions). */
export interface XdpVerdicts { aborted: number; drop: number; pass: number; tx: number; redirect: number }

/** Frames of the door's program: what BPF_PROG_TEST_RUN says it did with one. */
export interface DoorTestRun {
  verdict: number;
  /** Bytes of the frame as the program left it, in `out`. */
  length: number;
  /** The kernel's mean time a run, ns. */
  durationNs: number;
}

/** The door's XDP program, loaded (native/door/door_loader.h); lib/door/ decides what to write. */
export interface NativeDoor {
  readonly attached: boolean;
  readonly ifindex: number;
  /** The XSKMAP fd the program redirects through (a Ring's options.xskMap). */
  readonly xskMap: number;
  /** The flow maps' fds, for a NativeDoorFlows on another thread (-1 once closed). */
  readonly flowMaps: DoorFlowMaps;
  /** Attaches through a bpf_link (gone with the process) to iface in netns (a path). */
  attach(options: { iface: string; netns?: string }): void;
  detach(): void;
  configure(config: { flags: number; activeSlot: number; wscale: number; window: number; mss4: number; mss6: number; tsOffset: number; socketMark?: number; calmSyns?: number }): void;
  /** A cookie secret slot (0 or 1): 16 bytes, or null to leave it invalid. */
  setSecret(slot: number, key: Uint8Array | null): void;
  setPorts(ports: Uint16Array): void;
  /** Exactly these addresses: 5 words each (family, address x4 as address.ts writes them). */
  setAddresses(words: Uint32Array): void;
  /** Exactly these reply MACs: 6 bytes each, at most replyMacsMax. */
  setReplyMacs(macs: Uint8Array): void;
  /** flow: FLOW_WORDS words (flow-words.ts). */
  handOver(flow: Uint32Array, peerIsn: number): void;
  takeBack(flow: Uint32Array): boolean;
  /** seen: Uint32Array(3), filled when found: the peer's sequence end, newest TSval, 1 if it sent timestamps. */
  flowClosed(flow: Uint32Array, seen: Uint32Array): boolean;
  /** An AF_XDP socket's fd for frames of rx queue `queue` (0..xsksMax-1). */
  setSocket(queue: number, fd: number): void;
  clearSocket(queue: number): void;
  /** Every CPU's counters summed, in counterNames order. */
  readCounters(out: BigUint64Array): void;
  info(): { id: number; xlatedInsns: number; jitedBytes: number; verifiedInsns: number };
  /** `repeat` (default 1) runs of the program on `frame` (BPF_PROG_TEST_RUN, rx queue 0): the verdict and the frame it left in `out`. */
  testRun(frame: Uint8Array, out: Uint8Array, repeat?: number): DoorTestRun;
  /** Detaches and frees everything (idempotent). */
  close(): void;
}

/** The fds of the door's two flow maps (handed over, cookie admitted) and of the handed-over map's hint (door_abi.h), valid while its door is open. */
export interface DoorFlowMaps {
  handed: number;
  admitted: number;
  hint: number;
}

/** The door's flow maps alone (native/door/door_flows.h), over duplicates of a door's fds: any thread may hold one. */
export interface NativeDoorFlows {
  /** flow: FLOW_WORDS words (flow-words.ts). */
  handOver(flow: Uint32Array, peerIsn: number): void;
  flowClosed(flow: Uint32Array, seen: Uint32Array): boolean;
  takeBack(flow: Uint32Array): boolean;
  close(): void;
}

export type DoorAddon =
  | {
    available: true;
    counterNames: string[];
    verdicts: XdpVerdicts;
    /** config flags: answer SYNs with cookies, check ACKs' cookies. */
    flags: { answerSyns: number; checkAcks: number };
    xsksMax: number;
    /** How many reply MACs the door holds. */
    replyMacsMax: number;
    /** The door's calm window (door_abi.h DOOR_CALM_WINDOW_NS), in ms. */
    calmWindowMs: number;
    Door: new (objectPath: string) => NativeDoor;
    DoorFlows: new (maps: DoorFlowMaps) => NativeDoorFlows;
    /** For tests: an AF_XDP socket bound to nothing (its fd), to stand in `xsks`. */
    openUnboundXdpSocket(): number;
  }
  | {
    available: false;
    /** The packages the build lacked (e.g. "clang libbpf-dev"). */
    missing: string;
  };

export interface Addon {
  door: DoorAddon;
  NftSession: new (netnsPath?: string) => NftSession;
  batchLayout: BatchLayout;
  secretsLayout: SecretsLayout;
  flowLayout: FlowLayout;
  constants: Constants;
  counterNames: string[];
  cookie: {
    mssTable: number[];
    /** Index 0 means "no window scale" (its value is -1); others are shift counts. */
    wscaleTable: number[];
    /** Where the parts of a cookie ISS live (see native/cookie/syncookie.cc). */
    layout: CookieLayout;
    /** MSS assumed for an IPv4 / IPv6 SYN without an MSS option. */
    defaultMss: number;
    defaultMss6: number;
    /** Messages per md5Lanes call. */
    md5Lanes: number;
    /** md5Lanes runs the AVX2 variant on this CPU. */
    md5Avx2: boolean;
  };
  /** MD5 of data into out (16 bytes). */
  md5(data: Uint8Array, out: Uint8Array): void;
  /**
   * For tests and benchmarks: cookie.md5Lanes one-block MD5 compressions from
   * the standard IV, transposed (words[i * lanes + lane] is message word i of
   * lane; out[j * lanes + lane] its state word j), `repeat` times; `scalar`
   * runs them one at a time instead of as SIMD lanes.
   */
  md5Lanes(words: Uint32Array, out: Uint32Array, repeat?: number, scalar?: boolean): void;
  /**
   * The cookie pass of the pipeline over rows [0, count) of `batch`: flow
   * hashes for every row; with mode 'on'/'only', cookies for SYN rows and
   * verdicts for ACK rows. `counters` (at least counterNames.length) receives
   * the cookie counters.
   */
  processCookies(batch: ArrayBuffer, count: number, secrets: Uint8Array, mode: CookieMode, counters?: BigUint64Array): void;
  Pipeline: new (options: PipelineOptions) => NativePipeline;
  Ring: new (options: RingOptions) => NativeRing;
  /**
   * Builds an ESTABLISHED, non-blocking TCP socket with TCP_REPAIR from words
   * packed by packRepairParams (lib/native/repair-words.ts); returns its fd.
   * With stayInRepair, finishRepair() does the rest (the data, SO_MARK).
   */
  repairSocketWords(words: Uint32Array, netns: string | undefined): number;
  repairLayout: RepairLayout;
  /** The rest for a socket made with stayInRepair: inject payload, set SO_MARK (0: leave it), leave repair. */
  finishRepair(fd: number, payload: Uint8Array | undefined, mark: number, windowProbe?: boolean): void;
  /**
   * For a socket finishRepair() finished: SO_MARK back to 0 (the gate drops
   * its packets, the ring still sees them), back into repair, and its
   * rcv_nxt, the peer's next byte it expects; finishRepair() again ends it.
   */
  reopenRepair(fd: number): number;
  tcpSocketInfo(fd: number): TcpSocketInfo;
  /** A listening TCP socket (non-blocking) on address:port carrying SO_MARK mark, in netns (a path): handoff/listener.h. */
  markedListener(address: string, port: number, mark: number, backlog: number, netns?: string): number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// dist/lib/native -> package root
const root = path.resolve(here, '..', '..', '..');

/** Where binding.gyp puts what it builds (the addons, the door's BPF object). */
export function builtFile(file: string): string {
  return path.join(root, 'build', 'Release', file);
}

/** Loads build/Release/<file> (an addon binding.gyp builds), or says how to build it. */
export function loadAddon<T>(file: string): T {
  try {
    return require(builtFile(file)) as T;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new Error(`syncache: the native addon ${file} is not built (${e.message}). Run \`npm install\` (or \`npm run build\`) in ${root}.`);
  }
}

export const addon: Addon = loadAddon<Addon>('syncache.node');
