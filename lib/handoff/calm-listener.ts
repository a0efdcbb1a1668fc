// protect()'s calm listener behind the door: while SYNs arrive below the
// calm rate the door passes them to the kernel, and these listeners - one
// per protected address and port, made by the addon with the handoffs'
// SO_MARK (native/handoff/listener.h) - take the handshakes as any kernel
// listener does. Above the rate the door takes every SYN again and syncache
// answers them; the connections these accepted go on untouched.
//
// Each listener is a net.Server of our own over the marked fd, made with the
// protected server's options a socket takes at birth (allowHalfOpen,
// pauseOnConnect, highWaterMark); the socket is then adopted by that server
// as a handed one is (server-accept.ts: noDelay, keepAlive, its count).
import { Server, type Socket } from 'node:net';
import { addon } from '../native/addon.js';
import { netnsPath } from '../native/netns.js';
import { adoptSocket, type OwnServer } from './server-accept.js';

/** Half-open handshakes and unaccepted connections each listener may hold (listen's backlog). */
export const CALM_BACKLOG = 4096;

export interface CalmListenerOptions {
  addrs: readonly string[];
  ports: readonly number[];
  /** The handoffs' SO_MARK: the door passes a segment to a socket carrying it. */
  mark: number;
  /** The namespace the protected interface lives in (name or /run/netns path). */
  netns?: string;
}

export class CalmListener {
  private readonly servers: Server[] = [];
  private accepted = 0;


  /**
   * Listens on every address and port for `target` (each accepted socket
   * goes to onConnection, already moved over to target). Rejects, with
   * nothing left listening, if one of them cannot be had.
   */
  static async open(target: Server, options: CalmListenerOptions, onConnection: (socket: Socket) => void): Promise<CalmListener> {
    const calm = new CalmListener();
    const own = target as OwnServer;
    const netns = options.netns === undefined ? undefined : netnsPath(options.netns);
    try {
      for (const address of options.addrs) {
        for (const port of options.ports) {
          const fd = addon.markedListener(address, port, options.mark, CALM_BACKLOG, netns);
          const server = new Server({ allowHalfOpen: own.allowHalfOpen === true, pauseOnConnect: own.pauseOnConnect === true, highWaterMark: own.highWaterMark });
          calm.servers.push(server);
          server.on('connection', (socket: Socket) => {
            calm.accepted++;
            (server as OwnServer)._connections--;
            adoptSocket(target, socket);
            onConnection(socket);
          });
          // An accept error (EMFILE, say) is the listener's alone: the next
          // connection is accepted again, as net.Server does for its own.
          server.on('error', () => {});
          await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen({ fd, backlog: CALM_BACKLOG }, () => {
              server.off('error', reject);
              resolve();
            });
          });
        }
      }
    } catch (error) {
      await calm.close();
      throw error;
    }
    return calm;
  }

  /** Connections the listeners accepted. */
  get connections(): number {
    return this.accepted;
  }

  /** Stops listening (handshakes still in the listeners' queues are reset, as at any listener's close); idempotent. */
  async close(): Promise<void> {
    const servers = this.servers.splice(0);
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      // close() waits for the connections it counts: none stay counted here.
      server.close(() => resolve());
    })));
  }
}
