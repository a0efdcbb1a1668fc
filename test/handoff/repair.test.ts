// Handing handshakes to the kernel with TCP_REPAIR, on real packets: a pair
// lab, the responder answering the handshake in its namespace (with its
// nftables gate), the kernel's TCP stack in the peer namespace as the client
// (test/handoff/client.ts), and on every 'handshake' a socket built as the
// shard builds one (packed params in repair, then the data, SO_MARK and
// leaving repair) inside the responder namespace, wrapped in a net.Socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { track } from '../helpers/children.js';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Socket } from 'node:net';
import { closeSync } from 'node:fs';
import { createPairLab, labUnavailableReason, type Namespace, type PairLab } from '../../lib/lab/netns.js';
import { Responder, type ResponderOptions } from '../../lib/responder/responder.js';
import type { Handshake } from '../../lib/engine/engine.js';
import { addon } from '../../lib/native/addon.js';
import { DEFAULT_MARK } from '../../lib/gate/nftables.js';
import { packRepairParams, REPAIR_WORDS } from '../../lib/native/repair-words.js';
import { FLOW_WORDS, writeFlowWords } from '../../lib/native/flow-words.js';
import { repairParams, tcpSocketInfo, type RepairParams } from '../../lib/handoff/repair.js';

const skip = labUnavailableReason();
const PORT = 80;
const TCP_ESTABLISHED = 1;
const OPT_TIMESTAMPS = 1;
const OPT_SACK = 2;
const MB = 1 << 20;
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('repair', 9);
});
after(() => pair?.lab.destroy());


interface ClientEvent { event: string; [k: string]: unknown }

/** test/handoff/client.js in the peer namespace. */
function client(host: string, mode: string, arg?: string, port = PORT) {
  const script = fileURLToPath(new URL('./client.js', import.meta.url));
  const [cmd, args] = pair.peer.wrap(process.execPath, [script, host, String(port), mode, ...(arg === undefined ? [] : [arg])]);
  const child = track(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
  const waiting = new Map<string, (e: ClientEvent) => void>();
  const seen = new Map<string, ClientEvent>();
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += String(d);
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const e = JSON.parse(buffered.slice(0, nl)) as ClientEvent;
      buffered = buffered.slice(nl + 1);
      const key = e.event === 'error' ? 'result' : e.event;
      seen.set(key, e);
      waiting.get(key)?.(e);
    }
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const next = (event: string): Promise<ClientEvent> => {
    const have = seen.get(event);
    if (have) return Promise.resolve(have);
    return new Promise((resolve) => waiting.set(event, resolve));
  };
  return {
    connected: next('connected'),
    result: () => next('result').then((e) => {
      if (e.event === 'error') throw new Error(`client: ${String(e.code)}`);
      return e;
    }),
    command: (line: string) => child.stdin!.write(`${line}\n`),
    exited,
  };
}

/**
 * A socket made from `p` as the shard makes one: in repair from the packed
 * params, then `payload` into its receive queue, SO_MARK and out of repair.
 */
function repairedSocket(p: RepairParams, payload?: Uint8Array): number {
  const words = packRepairParams({ ...p, stayInRepair: true }, writeFlowWords(p), new Uint32Array(REPAIR_WORDS));
  const fd = addon.repairSocketWords(words, p.netns);
  try {
    addon.finishRepair(fd, payload, p.mark ?? 0, p.windowProbe === true);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

type Serve = (socket: Socket, h: Handshake, fd: number) => void;

/** Handshakes withResponder ignored because their flow had a socket already. */
let duplicates = 0;

/** A responder in the responder namespace whose handshakes become kernel sockets served by `serve`. */
async function withResponder(extra: Partial<ResponderOptions>, serve: Serve, body: (r: Responder, errors: Error[]) => Promise<void>,
  params: (h: Handshake) => { windowProbe?: boolean; payload?: Uint8Array } = () => ({})): Promise<void> {
  const r = await Responder.open({
    iface: pair.responderIface,
    netns: pair.responder.path,
    addrs: [pair.responderV4, pair.responderV6],
    ports: [PORT],
    ...extra,
  } as ResponderOptions);
  const errors: Error[] = [];
  const sockets = new Set<Socket>();
  // The ring sees a flow's segments even once the kernel serves it; with
  // cookies its first data segment completes the handshake again. An
  // application keeps the flows it handed off and ignores repeats.
  const flows = new Set<string>();
  r.on('handshake', (h) => {
    const flow = `${h.remoteAddress}/${h.remotePort}`;
    if (flows.has(flow)) { duplicates++; return; }
    flows.add(flow);
    const { windowProbe, payload } = params(h);
    let fd: number;
    try {
      fd = repairedSocket({ ...repairParams(h, { netns: pair.responder.path, ourWindow: r.config.window, windowProbe }) }, payload);
    } catch (e) {
      flows.delete(flow);
      errors.push(e as Error);
      return;
    }
    const socket = new Socket({ fd, readable: true, writable: true });
    sockets.add(socket);
    socket.on('close', () => { sockets.delete(socket); flows.delete(flow); });
    socket.on('error', (e) => errors.push(e));
    serve(socket, h, fd);
  });
  try {
    await body(r, errors);
    assert.deepEqual(errors, []);
  } finally {
    for (const s of sockets) s.destroy();
    await r.close();
  }
}

const echo: Serve = (socket) => socket.on('data', (d) => socket.write(d));

function pawsEstab(ns: Namespace): number {
  const lines = ns.exec('cat', ['/proc/net/netstat']).split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  return Number(values[names.indexOf('PAWSEstab')]);
}

/** `ss -tino` for our side of the connection from remotePort (iproute2 6.1 prints "ts sack" only with -o or -e). */
function ssInfo(remotePort: number): string {
  return pair.responder.exec('ss', ['-tinoH', `( sport = :${PORT} and dport = :${remotePort} )`]);
}

test('kernel errors come back with a code and a hint, and the namespace is left again', { skip, timeout: 60_000 }, () => {
  const base: RepairParams = {
    family: 4, localAddress: pair.responderV4, localPort: 81, remoteAddress: pair.peerV4, remotePort: 40001,
    iss: 1000, irs: 2000, mss: 1460, wscale: 7, ourWscale: 7, sackPermitted: true, timestamps: null,
    window: 502, netns: pair.responder.path,
  };
  // An address of another namespace cannot be bound here.
  assert.throws(() => repairedSocket({ ...base, localAddress: '198.18.9.77' }), (e: NodeJS.ErrnoException) =>
    e.code === 'EADDRNOTAVAIL' && e.syscall === 'bind' && /localAddress/.test(e.message));
  // No route to the peer: Node's own code for the errno (libuv's table).
  assert.throws(() => repairedSocket({ ...base, remoteAddress: '198.19.200.1' }), (e: NodeJS.ErrnoException) =>
    e.code === 'ENETUNREACH' && e.syscall === 'connect');
  assert.throws(() => repairedSocket({ ...base, netns: '/run/netns/sc-no-such-namespace' }), (e: NodeJS.ErrnoException) =>
    e.code === 'ENOENT' && /namespace/.test(e.message));
  // The same 4-tuple twice: the second connect finds the first.
  const fd = repairedSocket(base);
  try {
    assert.equal(tcpSocketInfo(fd).state, TCP_ESTABLISHED);
    assert.throws(() => repairedSocket(base), (e: NodeJS.ErrnoException) => e.code === 'EADDRNOTAVAIL' && e.syscall === 'connect' && /TIME_WAIT/.test(e.message));
  } finally {
    closeSync(fd);
  }
  // This thread came back: a socket made without netns lives here, where the lab's addresses do not.
  assert.throws(() => repairedSocket({ ...base, netns: undefined }), (e: NodeJS.ErrnoException) => e.code === 'EADDRNOTAVAIL');
});

test('packed params make a socket with the agreed MSS, window scales, SACK and timestamps, and each field is checked', { skip, timeout: 60_000 }, () => {
  assert.equal(addon.repairLayout.iss, FLOW_WORDS, 'the flow words come first');
  const words = new Uint32Array(REPAIR_WORDS);
  for (const [family, local, remote] of [[4, pair.responderV4, pair.peerV4], [6, pair.responderV6, pair.peerV6]] as const) {
    const base: RepairParams = {
      family, localAddress: local, localPort: 82, remoteAddress: remote, remotePort: 40002,
      iss: 1000, irs: 2000, mss: 1400, wscale: 6, ourWscale: 7, sackPermitted: true,
      timestamps: { peerTsval: 5, ourTsval: 7 }, tsNow: 10, window: 502, ourWindow: 64240, netns: pair.responder.path,
    };
    const flow = writeFlowWords(base);
    const fd = addon.repairSocketWords(packRepairParams(base, flow, words), base.netns);
    try {
      const info = tcpSocketInfo(fd);
      assert.equal(info.state, TCP_ESTABLISHED, `IPv${family}`);
      // TCP_MAXSEG is the send MSS: the peer's less the 12 bytes of the timestamp option.
      assert.equal(info.maxseg, base.mss - 12, `IPv${family}`);
      assert.equal(info.sndWscale, base.wscale, `IPv${family}`);
      assert.equal(info.rcvWscale, base.ourWscale, `IPv${family}`);
      assert.equal(info.options & (OPT_TIMESTAMPS | OPT_SACK), OPT_TIMESTAMPS | OPT_SACK, `IPv${family}`);
    } finally {
      closeSync(fd);
    }
    const bad = (index: number, value: number, field: RegExp): void => {
      const w = packRepairParams(base, flow, new Uint32Array(REPAIR_WORDS));
      w[index] = value;
      assert.throws(() => addon.repairSocketWords(w, base.netns), (e: Error) => e instanceof RangeError && field.test(e.message), `${field}`);
    };
    const F = addon.flowLayout;
    const L = addon.repairLayout;
    bad(F.family, 5, /family/);
    bad(F.localPort, 0, /localPort/);
    bad(F.peerPort, 70000, /remotePort/);
    bad(L.mss, 0, /mss/);
    bad(L.wscale, 16, /wscale/);
    bad(L.window, 70000, /window/);
    bad(L.ourWindow, 0, /ourWindow/);
    bad(L.tsNow, 11, /tsNow/);
  }
  assert.throws(() => addon.repairSocketWords(new Uint32Array(3), undefined), TypeError);
});

test('echo both ways over IPv4 and IPv6; the socket has the peer MSS, its window scale, SACK and timestamps', { skip, timeout: 60_000 }, async (t) => {
  const infos = new Map<number, ReturnType<typeof tcpSocketInfo>>();
  const handshakes = new Map<number, Handshake>();
  await withResponder({ syncookies: 'off' }, (socket, h, fd) => {
    infos.set(h.remotePort, tcpSocketInfo(fd));
    handshakes.set(h.remotePort, h);
    echo(socket, h, fd);
  }, async () => {
    for (const [host, mss] of [[pair.responderV4, 1460], [pair.responderV6, 1440]] as const) {
      const text = `ping over ${host}`;
      const c = client(host, 'echo', text);
      const port = Number((await c.connected).port);
      const got = await c.result();
      assert.equal(got.got, text);
      t.diagnostic(`${host}: echo ${got.ms} ms after connect() (the first data segment was dropped by the gate and retransmitted)`);
      const h = handshakes.get(port)!;
      const info = infos.get(port)!;
      assert.equal(h.mss, mss);
      assert.equal(info.state, TCP_ESTABLISHED);
      // TCP_MAXSEG is the send MSS: the peer's MSS less the 12 bytes of the timestamp option.
      assert.equal(info.maxseg, mss - 12, `maxseg for ${host}`);
      assert.equal(info.sndWscale, h.wscale);
      assert.equal(info.rcvWscale, h.ourWscale);
      assert.equal(info.options & (OPT_TIMESTAMPS | OPT_SACK), OPT_TIMESTAMPS | OPT_SACK);
      await c.exited;
    }
  });
});

test('a greeting from the server reaches the client first', { skip, timeout: 60_000 }, async () => {
  await withResponder({}, (socket) => socket.write('hello from a repaired socket\n'), async () => {
    for (const host of [pair.responderV4, pair.responderV6]) {
      const c = client(host, 'greet');
      const got = await c.result();
      assert.equal(got.got, 'hello from a repaired socket');
      await c.exited;
    }
  });
});

/** Serves `bulk`: writes its own `size` bytes at once, hashes the `size` it reads, reports both. */
function bulkServer(size: number, done: (report: { sentHash: string; gotHash: string; info: ReturnType<typeof tcpSocketInfo> }) => void): Serve {
  return (socket, _h, fd) => {
    const out = randomBytes(size);
    const sentHash = createHash('sha256').update(out).digest('hex');
    const hash = createHash('sha256');
    let got = 0;
    socket.write(out);
    socket.on('data', (d) => {
      const take = d.subarray(0, Math.max(0, size - got));
      hash.update(take);
      got += take.length;
      // The client closes first: a TIME_WAIT here without timestamps would refuse a later client on the same port.
      if (got === size) done({ sentHash, gotHash: hash.digest('hex'), info: tcpSocketInfo(fd) });
    });
  };
}

async function bulkRun(host: string, extra: Partial<ResponderOptions> = {}): Promise<{ ms: number; client: ClientEvent; server: { sentHash: string; gotHash: string; info: ReturnType<typeof tcpSocketInfo> }; h: Handshake; ss: string }> {
  let server: { sentHash: string; gotHash: string; info: ReturnType<typeof tcpSocketInfo> } | undefined;
  let serverDone: () => void = () => {};
  const serverFinished = new Promise<void>((resolve) => { serverDone = resolve; });
  let h: Handshake | undefined;
  let ss = '';
  const inner = bulkServer(MB, (report) => { server = report; serverDone(); });
  let out: { ms: number; client: ClientEvent } | undefined;
  await withResponder({ syncookies: 'off', ...extra }, (socket, hs, fd) => {
    h = hs;
    ss = ssInfo(hs.remotePort);
    inner(socket, hs, fd);
  }, async () => {
    const c = client(host, 'bulk', String(MB));
    const result = await c.result();
    await serverFinished;
    await c.exited;
    out = { ms: Number(result.ms), client: result };
  });
  return { ...out!, server: server!, h: h!, ss };
}

test('1 MB each way arrives intact over IPv4 and IPv6; timestamps continue (no PAWS drops, at most the odd retransmit)', { skip, timeout: 60_000 }, async (t) => {
  for (const host of [pair.responderV4, pair.responderV6]) {
    const paws = [pawsEstab(pair.peer), pawsEstab(pair.responder)];
    const run = await bulkRun(host);
    assert.equal(run.client.gotHash, run.server.sentHash, 'server -> client');
    assert.equal(run.server.gotHash, run.client.sentHash, 'client -> server');
    // Timestamps that did not continue would have PAWS drop every segment
    // (PAWSEstab, below, is the proof); a veth backlog overflow on a busy
    // 2-core machine may drop a burst of the ~725 segments (CI saw 32 once).
    assert.ok(run.server.info.totalRetrans <= 72, `the server retransmitted ${run.server.info.totalRetrans} segments`);
    assert.deepEqual([pawsEstab(pair.peer), pawsEstab(pair.responder)], paws, 'PAWSEstab moved');
    assert.ok(run.h.timestamps !== null);
    assert.match(run.ss, new RegExp(`\\bmss:${run.h.mss - 12}\\b`), 'ss -tin shows the MSS');
    assert.match(run.ss, /\bts sack\b/);
    assert.match(run.ss, new RegExp(`\\bwscale:${run.h.wscale},${run.h.ourWscale}\\b`));
    t.diagnostic(`${host}: 1 MB each way in ${run.ms} ms (client clock, from connect)`);
  }
});

test('a client without timestamps: echo and 1 MB each way', { skip, timeout: 60_000 }, async (t) => {
  pair.peer.sysctl('net.ipv4.tcp_timestamps', 0);
  try {
    for (const host of [pair.responderV4, pair.responderV6]) {
      const run = await bulkRun(host);
      assert.equal(run.h.timestamps, null);
      assert.equal(run.client.gotHash, run.server.sentHash);
      assert.equal(run.server.gotHash, run.client.sentHash);
      assert.equal(run.server.info.options & OPT_TIMESTAMPS, 0);
      // connect() sized the header from this namespace's net.ipv4.tcp_timestamps
      // (1), so mss_cache keeps 12 bytes for an option the socket never sends;
      // tcp_current_mss() corrects that per segment (1460-byte segments on the wire).
      assert.equal(run.server.info.maxseg, run.h.mss - 12);
      t.diagnostic(`${host}: 1 MB each way in ${run.ms} ms without timestamps`);
    }
    await withResponder({ syncookies: 'off' }, echo, async () => {
      const c = client(pair.responderV4, 'echo', 'no timestamps');
      assert.equal((await c.result()).got, 'no timestamps');
      await c.exited;
    });
  } finally {
    pair.peer.sysctl('net.ipv4.tcp_timestamps', 1);
  }
});

test('a client without window scaling: the socket scales nothing either way', { skip, timeout: 60_000 }, async (t) => {
  pair.peer.sysctl('net.ipv4.tcp_window_scaling', 0);
  try {
    // The client's view of our window after our first segment: unshifted
    // (with connect()'s own receive shift left in place it reads e.g. 67
    // bytes, and a 1 MB upload crawls).
    await withResponder({ syncookies: 'off' }, (socket) => socket.write('hi\n'), async () => {
      const c = client(pair.responderV4, 'hold');
      const port = Number((await c.connected).port);
      c.command('expect 3');
      await c.result();
      const ss = pair.peer.exec('ss', ['-tinoH', `( sport = :${port} and dport = :${PORT} )`]);
      const window = Number(/snd_wnd:(\d+)/.exec(ss)?.[1]);
      assert.ok(window >= 32768, `the client sees a window of ${window} bytes: ${ss}`);
      c.command('end');
      await c.exited;
    });
    const run = await bulkRun(pair.responderV4);
    assert.equal(run.h.wscale, -1);
    assert.equal(run.client.gotHash, run.server.sentHash);
    assert.equal(run.server.gotHash, run.client.sentHash);
    assert.equal(run.server.info.sndWscale, 0);
    assert.equal(run.server.info.rcvWscale, 0);
    t.diagnostic(`1 MB each way in ${run.ms} ms without window scaling`);
  } finally {
    pair.peer.sysctl('net.ipv4.tcp_window_scaling', 1);
  }
});

test('leaving repair sends nothing by default; windowProbe: true sends one probe, and both work', { skip, timeout: 60_000 }, async () => {
  for (const windowProbe of [false, true]) {
    let ss = '';
    await withResponder({ syncookies: 'off' }, (socket, h) => {
      // The client sends nothing in 'greet' mode: whatever left this socket so far is the probe.
      ss = ssInfo(h.remotePort);
      socket.write(`probe ${windowProbe}\n`);
    }, async () => {
      const c = client(pair.responderV4, 'greet');
      assert.equal((await c.result()).got, `probe ${windowProbe}`);
      await c.exited;
    }, () => ({ windowProbe }));
    // ss prints segs_out only when it is not 0.
    assert.equal(/segs_out:(\d+)/.exec(ss)?.[1], windowProbe ? '1' : undefined, ss);
  }
});

test('a cookie-completed handshake (syncookies only) becomes a working socket', { skip, timeout: 60_000 }, async (t) => {
  let viaCookie = false;
  duplicates = 0;
  await withResponder({ syncookies: 'only' }, (socket, h, fd) => { viaCookie = h.viaCookie; echo(socket, h, fd); }, async () => {
    const c = client(pair.responderV4, 'echo', 'through a cookie');
    assert.equal((await c.result()).got, 'through a cookie');
    await c.exited;
  });
  assert.equal(viaCookie, true);
  t.diagnostic(`repeated handshakes for the handed-off flow (ignored): ${duplicates}`);
});

/**
 * The client sends `early` while the peer namespace drops its own data
 * segments (PSH) on the way out, so the server can have them only from
 * injection: `payload` at the handoff, and whatever `prepare` does with the
 * new socket before its first read. The server must read `early` whole, in
 * order, once; then the filter goes and the connection must carry on.
 */
async function injectedOnly(table: string, early: string, payload: Buffer, prepare: (h: Handshake, fd: number) => void = () => {}): Promise<void> {
  pair.peer.exec('nft', [`table inet ${table} {
    chain out { type filter hook output priority 0; tcp dport ${PORT} tcp flags & psh == psh drop; }
  }`]);
  let filtered = true;
  let received = '';
  let readAll: () => void = () => {};
  const allRead = new Promise<void>((resolve) => { readAll = resolve; });
  try {
    await withResponder({ syncookies: 'off' }, (socket, h, fd) => {
      prepare(h, fd); // synchronously, before the net.Socket's first read (a socket in repair refuses reads)
      socket.on('data', (d) => {
        received += String(d);
        if (received.length >= early.length) readAll();
        socket.write(d);
      });
    }, async () => {
      const c = client(pair.responderV4, 'hold', early);
      await c.connected;
      await allRead;
      assert.equal(received, early, 'in order, once');
      pair.peer.exec('nft', ['delete', 'table', 'inet', table]);
      filtered = false;
      c.command('send , then more');
      c.command(`expect ${early.length + ', then more'.length}`);
      const got = await c.result();
      assert.equal(got.got, `${early}, then more`);
      assert.equal(received, `${early}, then more`);
      c.command('end');
      await c.exited;
    }, () => ({ payload })); // the test knows what the client sent; the lead's code takes it from the ring
  } finally {
    if (filtered) pair.peer.exec('nft', ['delete', 'table', 'inet', table]);
  }
}

test('payload is injected into the receive queue: the server reads it first, once', { skip, timeout: 60_000 }, async () => {
  const early = 'early data, dropped by the gate';
  await injectedOnly('scpsh', early, Buffer.from(early));
});

test('a finished socket goes back into repair, tells its rcv_nxt, and takes the rest of the data in order', { skip, timeout: 60_000 }, async () => {
  // What the handoff does when data slipped past the ring's last read: part
  // of it injected at the handoff, the rest after reopenRepair.
  const early = 'early data: the first part injected at the handoff, the rest later';
  const first = 11;
  const rcvNxt: number[] = [];
  await injectedOnly('sclate', early, Buffer.from(early.slice(0, first)), (h, fd) => {
    rcvNxt.push(addon.reopenRepair(fd), (h.irs + 1 + first) >>> 0);
    addon.finishRepair(fd, Buffer.from(early.slice(first)), DEFAULT_MARK, true);
  });
  assert.equal(rcvNxt[0], rcvNxt[1], 'rcv_nxt is just past what was injected');
});
