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

/** What travels with each socket. */
export interface HandedConnection {
  type: typeof MESSAGE;
  handshake: Omit<Handshake, 'payload'>;
}

/** Privileged side: protect on behalf of `child`, sending it every connection. */
export async function protectFor(child: ChildProcess, options: ProtectOptions): Promise<Protection> {
  if (typeof child?.send !== 'function' || child.connected !== true) {
    throw new TypeError('protectFor(child, options): child must be a running process with an IPC channel (child_process.fork)');
  }
  // Paused: not a byte may be read here before the socket reaches the child.
  const relay = new Server({ pauseOnConnect: true });
  const protection = await protect(relay, options);
  protection.on('handoff', (socket: Socket, h: Handshake) => {
    const { payload, ...handshake } = h;
    const message: HandedConnection = { type: MESSAGE, handshake };
    // The handle is closed here once the child has it (keepOpen: false).
    child.send(message, socket, (error) => {
      if (error) socket.destroy();
    });
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
