// Worker-thread entry: one shard per worker. Handshakes go to the main
// thread as messages; counters are in a SharedArrayBuffer it reads directly.
// Behind the XDP door (init.door) the ring reads an AF_XDP socket on each of this
// worker's receive queues, and the door is reached through a WorkerDoor.
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../engine/clock.js';
import { CookieSecrets } from '../engine/cookie-secrets.js';
import { C, Stats } from '../engine/stats.js';
import { Shard } from './shard.js';
import { SocketMaker } from '../handoff/sockets.js';
import { Handover } from '../handoff/handover.js';
import { InFlight } from './in-flight.js';
import { WorkerDoor } from './worker-door.js';
import type { MainMessage, WorkerInit, WorkerMessage } from './messages.js';

const port = parentPort;
if (port === null) throw new Error('lib/responder/worker.js must run as a worker thread');
const init = workerData as WorkerInit;
const stats = new Stats(init.stats);
const inFlight = new InFlight(init.inFlight);
let shard: Shard | undefined;
let sockets: SocketMaker | undefined;
let door: WorkerDoor | undefined;
try {
  door = init.door === undefined ? undefined : new WorkerDoor(init.door.flowMaps, port);
  shard = new Shard({
    iface: init.iface,
    netns: init.netns,
    addrs: init.addrs,
    ports: init.ports,
    config: init.config,
    secrets: CookieSecrets.attach(init.secrets).view,
    clock: systemClock,
    stats,
    ...(init.door === undefined
      ? { fanoutGroup: init.fanoutGroup, qdiscBypass: init.qdiscBypass }
      : { xdp: { xskMap: init.door.xskMap, queues: init.door.queues }, door }),
    hold: init.handoff !== undefined,
    lowLatency: init.lowLatency,
    fleetTimestamps: init.fleetTimestamps,
    tsOffset: init.tsOffset,
    onHandshake: (handshake) => {
      if (inFlight.full) {
        stats.values[C.workerqueuefull]++;
        return false;
      }
      if (sockets !== undefined) return sockets.push(handshake);
      inFlight.posted();
      port.postMessage({ type: 'handshake', handshake } satisfies WorkerMessage);
      return true;
    },
  });
  if (init.handoff !== undefined) {
    // Sockets made here, right after the batch; only the fd goes to the main thread.
    sockets = new SocketMaker(new Handover(shard, stats, init.config.window), stats, init.handoff, (handed) => {
      inFlight.posted(handed.length);
      port.postMessage({
        type: 'handed',
        handed: handed.map(({ handshake, fd, madeAt, error }) => {
          if (error === undefined) return { handshake, fd, madeAt };
          const e = error as NodeJS.ErrnoException;
          return { handshake, error: { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall } };
        }),
      } satisfies WorkerMessage);
    });
  }
  shard.start(
    (e) => port.postMessage({ type: 'error', message: e.message, code: e.code } satisfies WorkerMessage),
    () => port.postMessage({ type: 'linkUp' } satisfies WorkerMessage),
  );
  port.postMessage({ type: 'ready' } satisfies WorkerMessage);
} catch (error) {
  const e = error as NodeJS.ErrnoException;
  port.postMessage({ type: 'error', message: e.message, code: e.code } satisfies WorkerMessage);
}

const statsTimer = setInterval(() => shard?.syncStats(), 250);
port.on('message', (message: MainMessage) => {
  if (message.type === 'socketClosed') sockets?.socketClosed(message.flow);
  if (message.type === 'adopt' && shard !== undefined) {
    for (const flow of message.flows) shard.mark(flow, true);
    stats.values[C.adopted] += message.flows.length;
  }
  if (message.type === 'close') {
    clearInterval(statsTimer);
    shard?.close();
    door?.close();
    port.postMessage({ type: 'closed' } satisfies WorkerMessage);
    port.close();
  }
});
