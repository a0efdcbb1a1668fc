// The privilege split: a small privileged process owns what needs
// capabilities (the packet ring: CAP_NET_RAW; TCP_REPAIR and the gate:
// CAP_NET_ADMIN) and passes each finished socket to an unprivileged Node
// server through Node's documented IPC handle passing (subprocess.send with
// a net.Socket). The server process needs no capability at all.
//
//   privileged:    const child = fork('server.js', { uid, gid, serialization: 'json' });
//                  await protectFor(child, { iface, addrs, ports });
//   unprivileged:  serveHandedSockets(httpServer);
import { Server, type Socket } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { adoptSocket, dropsConnection, protect, type OwnServer, type ProtectOptions, type Protection } from './protect.js';
import type { Handshake } from '../engine/engine.js';

const MESSAGE = 'syncache:connection';
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
  type: typeof MESSAGE;
  handshake: Omit<Handshake, 'payload'>;
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

  /** Sends the socket with its handshake; false: too many on their way, so the socket was destroyed. */
  send(socket: Socket, h: Handshake): boolean {
    if (this.pending >= this.limit) {
      socket.destroy();
      return false;
    }
    const { payload, ...handshake } = h;
    const message: HandedConnection = { type: MESSAGE, handshake };
    this.pending++;
    // The handle is closed here once the child has it (keepOpen: false).
    this.child.send(message, socket, (error) => {
      this.pending--;
      if (error) socket.destroy();
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
    throw new TypeError('protectFor(child, options): child must be a running process with an IPC channel (child_process.fork)');
  }
  // Validated before anything is opened.
  const sockets = new SocketRelay(child, relayBacklog);
  // Paused: not a byte may be read here before the socket reaches the child.
  const relay = new Server({ pauseOnConnect: true });
  const protection = await protect(relay, options);
  protection.on('handoff', (socket: Socket, h: Handshake) => {
    if (!sockets.send(socket, h)) protection.countRelayQueueFull();
  });
  child.once('exit', () => void protection.close());
  return protection;
}

/** Unprivileged side: every socket the privileged process sends goes to `server`. Returns a stop function. */
export function serveHandedSockets(server: Server): () => void {
  if (typeof process.send !== 'function') {
    throw new Error('serveHandedSockets(): this process has no IPC channel; start it with child_process.fork() from the privileged process');
  }
  const onMessage = (message: unknown, handle: unknown): void => {
    const m = message as HandedConnection | undefined;
    if (m?.type !== MESSAGE || handle === undefined) return;
    const socket = handle as Socket;
    // As this server's own accept would have made it (see protect's serve()).
    if (dropsConnection(server, m.handshake)) {
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
