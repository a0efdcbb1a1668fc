// What net.Server's own accept does to a connection, for the sockets that
// reach a server another way (a handoff, the calm listener, a privileged
// parent): turned away at maxConnections, made with the server's options,
// counted as the server's.
import type { Server, Socket } from 'node:net';
import type { FlowEnds } from './flow.js';

/** A connected socket's ends (a kernel-accepted one: no handshake of ours to read them from; two system calls, getsockname and getpeername). */
export function socketEnds(socket: Socket): FlowEnds {
  return {
    family: socket.remoteFamily === 'IPv6' ? 6 : 4, localAddress: socket.localAddress ?? '', localPort: socket.localPort ?? 0,
    remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0,
  };
}

/** The net.Server fields its own accept reads (lib/net.js onconnection). */
export type OwnServer = Server & {
  allowHalfOpen?: boolean; pauseOnConnect?: boolean; highWaterMark?: number; noDelay?: boolean;
  keepAlive?: boolean; keepAliveInitialDelay?: number; _connections: number;
};

/**
 * Whether the server's maxConnections turns this connection away; if so it
 * emits 'drop' with the connection's addresses, as net.Server does, and the
 * caller closes the socket.
 */
export function dropsConnection(server: Server, ends: FlowEnds | (() => FlowEnds)): boolean {
  const own = server as OwnServer;
  if (!own.maxConnections || own._connections < own.maxConnections) return false;
  const h = typeof ends === 'function' ? ends() : ends;
  const family = h.family === 6 ? 'IPv6' : 'IPv4';
  server.emit('drop', {
    localAddress: h.localAddress, localPort: h.localPort, localFamily: family,
    remoteAddress: h.remoteAddress, remotePort: h.remotePort, remoteFamily: family,
  });
  return true;
}

/**
 * What net.Server's own accept sets on a connection's socket: noDelay (an
 * http.Server's default) and keepAlive as the server was made with, and the
 * server's count of its connections, which the socket takes down again when
 * it is destroyed (getConnections(), close()).
 */
export function adoptSocket(server: Server, socket: Socket): void {
  const own = server as OwnServer;
  if (own.noDelay) socket.setNoDelay(true);
  if (own.keepAlive) socket.setKeepAlive(true, (own.keepAliveInitialDelay ?? 0) * 1000);
  own._connections++;
  Object.assign(socket, { server, _server: server });
}
