// The privilege split: a small privileged process owns what needs
// capabilities (the packet ring: CAP_NET_RAW; TCP_REPAIR and the gate:
// CAP_NET_ADMIN; with io 'xdp' the door and its AF_XDP ring instead of the
// ring and the gate, with what lib/cli/io-needs.ts doorNeeds() names) and
// passes each finished socket to an unprivileged Node server through Node's
// documented IPC handle passing (subprocess.send with a net.Socket). The
// server process needs no capability at all: it only serves sockets, which
// behind the door are as ordinary as behind the gate.
//
//   privileged:    const child = fork('server.js', { uid, gid, serialization: 'json' });
//                  await protectFor(child, { iface, addrs, ports });
//   unprivileged:  serveHandedSockets(httpServer);
//
// Lifecycle. Each connection travels with an id; the child reports its
// socket's close with that id, and only then does the parent free the flow
// (until then a SYN on its 4-tuple is the live socket's, and afterwards a new
// handshake on it is a new connection). If the child exits, every flow it
// held is freed, the Protection closes (no gate is left) and emits 'error'
// saying so: unhandled, that ends the privileged process with a non-zero
// status; a caller that wants to go on forks a new server and calls
// protectFor again.
//
// The child runs as another uid: the files it loads (its script, this
// library) must be readable by that uid. unreadableBy() says why not.
import { Server, type Socket } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { protect, type ProtectOptions, type Protection } from './protect.js';
import { adoptSocket, dropsConnection, socketEnds, type OwnServer } from './server-accept.js';
import type { Handshake } from '../engine/engine.js';

const CONNECTION = 'syncache:connection';
const CLOSED = 'syncache:closed';
/**
 * The most sockets on their way to the child at once (sent, not yet
 * written to its IPC channel: Node queues handle messages one after
 * another, each waiting for the child's ack). A child that stops reading
 * would otherwise have every new connection's socket pile up here; past it
 * the connection is closed and counted (relayQueueFull), as a full accept
 * queue turns a connection away.
 */
export const RELAY_BACKLOG = 1024;

/** What travels with each socket. */
export interface HandedConnection {
  type: typeof CONNECTION;
  /** Names the connection in the child's ClosedConnection. */
  id: number;
  /** The handshake syncache completed; null for the calm listener's connections (the kernel made them: the child reads their ends from the socket, if it needs them). */
  handshake: Omit<Handshake, 'payload'> | null;
}

/** The child's report that a connection's socket closed. */
export interface ClosedConnection {
  type: typeof CLOSED;
  id: number;
}

/** What SocketRelay needs of a child process. */
export type RelayChild = Pick<ChildProcess, 'send'>;

/** Sends sockets to the child, at most `limit` on their way at once. */
export class SocketRelay {
  private pending = 0;

  constructor(private readonly child: RelayChild, private readonly limit = RELAY_BACKLOG) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }

  /** Sockets sent and not yet written to the child's channel. */
  get waiting(): number {
    return this.pending;
  }

  /**
   * Sends the socket with its handshake, as connection `id`; false: too many
   * on their way, so the socket was destroyed. If the send fails later, the
   * socket is destroyed and onFailed called.
   */
  send(socket: Socket, h: Handshake | null, id = 0, onFailed: () => void = () => {}): boolean {
    if (this.pending >= this.limit) {
      socket.destroy();
      return false;
    }
    let handshake: HandedConnection['handshake'] = null;
    if (h !== null) {
      const { payload, ...rest } = h;
      handshake = rest;
    }
    const message: HandedConnection = { type: CONNECTION, id, handshake };
    this.pending++;
    // The handle is closed here once the child has it (keepOpen: false).
    this.child.send(message, socket, (error) => {
      this.pending--;
      if (error === null || error === undefined) return;
      socket.destroy();
      onFailed();
    });
    return true;
  }
}

/**
 * Privileged side: protect on behalf of `child`, sending it every
 * connection, at most `relayBacklog` on their way at once (see RELAY_BACKLOG).
 */
export async function protectFor(child: ChildProcess, options: ProtectOptions, relayBacklog = RELAY_BACKLOG): Promise<Protection> {
  if (typeof child?.send !== 'function' || child.connected !== true) {
    const gone = child?.exitCode !== null && child?.exitCode !== undefined ? ` (it exited with code ${child.exitCode}; ${READABLE_HINT})` : '';
    throw new TypeError(`protectFor(child, options): child must be a running process with an IPC channel (child_process.fork)${gone}`);
  }
  // Validated before anything is opened.
  const sockets = new SocketRelay(child, relayBacklog);
  // Paused: not a byte may be read here before the socket reaches the child.
  const relay = new Server({ pauseOnConnect: true });
  const protection = await protect(relay, options);
  /** Connections the child holds, by id: each one's flow-freeing function. */
  const held = new Map<number, () => void>();
  let nextId = 0;
  const free = (id: number): void => {
    const release = held.get(id);
    if (release === undefined) return;
    held.delete(id);
    release();
  };
  protection.on('handoff', (socket: Socket, h: Handshake) => {
    const id = ++nextId;
    held.set(id, protection.detach(socket));
    if (!sockets.send(socket, h, id, () => free(id))) {
      free(id);
      protection.countRelayQueueFull();
    }
  });
  // The calm listener's connections hold no flow of ours: id 0, nothing to free.
  protection.on('calmConnection', (socket: Socket) => {
    if (!sockets.send(socket, null)) protection.countRelayQueueFull();
  });
  const onMessage = (message: unknown): void => {
    const m = message as ClosedConnection | undefined;
    if (m?.type === CLOSED && Number.isInteger(m.id)) free(m.id);
  };
  child.on('message', onMessage);
  child.once('exit', (code, signal) => {
    child.off('message', onMessage);
    for (const id of [...held.keys()]) free(id);
    if (protection.isClosed) return;
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    const error = Object.assign(
      new Error(`the server process (pid ${child.pid}) ${how}: syncache stopped answering for ${options.addrs.join(', ')} port ${options.ports.join(', ')}; ` +
        `fork a new server and call protectFor() again (if it exited at once: ${READABLE_HINT})`),
      { code: 'ECHILD', exitCode: code, signal },
    );
    void protection.close().then(() => protection.emit('error', error));
  });
  return protection;
}

const READABLE_HINT = "its files must be readable by its uid, see unreadableBy() and the README's privilege split";

/** Unprivileged side: every socket the privileged process sends goes to `server`. Returns a stop function. */
export function serveHandedSockets(server: Server): () => void {
  if (typeof process.send !== 'function') {
    throw new Error('serveHandedSockets(): this process has no IPC channel; start it with child_process.fork() from the privileged process');
  }
  const reportClosed = (id: number): void => {
    if (!process.connected) return;
    const closed: ClosedConnection = { type: CLOSED, id };
    process.send!(closed, undefined, undefined, () => {}); // the parent may be gone: nothing to tell
  };
  const onMessage = (message: unknown, handle: unknown): void => {
    const m = message as HandedConnection | undefined;
    if (m?.type !== CONNECTION || handle === undefined) return;
    const socket = handle as Socket;
    if (Number.isInteger(m.id) && m.id > 0) socket.once('close', () => reportClosed(m.id));
    // As this server's own accept would have made it (see protect's serve()).
    const ends = m.handshake;
    if (dropsConnection(server, ends ?? (() => socketEnds(socket)))) {
      socket.destroy();
      return;
    }
    const own = server as OwnServer;
    socket.allowHalfOpen = own.allowHalfOpen === true;
    if (own.pauseOnConnect) socket.pause();
    adoptSocket(server, socket);
    server.emit('connection', socket);
  };
  process.on('message', onMessage);
  return () => {
    process.off('message', onMessage);
  };
}

/**
 * Why a process running as uid/gid could not read each of `paths` (a
 * directory on the way it may not search, or the file itself), or undefined
 * if it can. By the mode bits: supplementary groups and ACLs are not
 * consulted. Use it before fork({ uid, gid }) for a clear message instead of
 * a child that dies with EACCES (e.g. a checkout inside a 0700 home).
 */
export function unreadableBy(paths: readonly string[], uid: number, gid: number): string | undefined {
  if (uid === 0) return undefined;
  const allows = (path: string, bit: number): boolean => {
    const st = statSync(path);
    const shift = st.uid === uid ? 6 : st.gid === gid ? 3 : 0;
    return ((st.mode >> shift) & bit) !== 0;
  };
  const octal = (path: string): string => `mode 0${(statSync(path).mode & 0o777).toString(8)}, owner uid ${statSync(path).uid}`;
  for (const path of paths.map((p) => resolve(p))) {
    const dirs: string[] = [];
    for (let d = statSync(path).isDirectory() ? path : dirname(path); ; d = dirname(d)) {
      dirs.unshift(d);
      if (d === dirname(d)) break;
    }
    for (const d of dirs) {
      if (!allows(d, 0o1)) {
        return `uid ${uid} cannot reach ${path}: it may not enter ${d} (${octal(d)}); put the files where that uid can read them, or allow it in (chmod o+x ${d})`;
      }
    }
    if (!allows(path, 0o4)) return `uid ${uid} cannot read ${path} (${octal(path)}); make it readable by that uid (chmod o+r)`;
  }
  return undefined;
}
