// Worker-thread entry: one shard per worker. Handshakes go to the main
// thread as messages; counters are in a SharedArrayBuffer it reads directly.
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../engine/clock.js';
import { CookieSecrets } from '../engine/cookie-secrets.js';
import { Stats } from '../engine/stats.js';
import type { SyncacheConfig } from '../engine/config.js';
import { Shard } from './shard.js';

export interface WorkerInit {
  iface: string;
  netns?: string;
  addrs: string[];
  ports: number[];
  config: SyncacheConfig;
  secrets: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  fanoutGroup: number;
  qdiscBypass?: boolean;
  hold?: boolean;
  lowLatency?: boolean;
}

/** The flow of a handshake, enough to mark it handed over. */
export type FlowOf = Pick<import('../engine/engine.js').Handshake, 'family' | 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort' | 'irs'>;

/** What the shard needs to finish a handoff: the flow, its held entry (or -1) and the final ACK's own data. */
export type HandoffFlow = FlowOf & Pick<import('../engine/engine.js').Handshake, 'hold' | 'iss' | 'payload'>;

export type MainMessage =
  | { type: 'close' }
  | { type: 'completeHandoffs'; id: number; items: Array<{ flow: HandoffFlow; params: import('../native/addon.js').RepairParams }> }
  | { type: 'release'; hold: number; iss: number }
  | { type: 'linger'; flow: FlowOf };

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'error'; message: string; code?: string }
  | { type: 'handshake'; handshake: import('../engine/engine.js').Handshake }
  | { type: 'handoffsDone'; id: number; results: Array<number | { message: string; code?: string; errno?: number; syscall?: string }> }
  | { type: 'closed' };

const port = parentPort;
if (port === null) throw new Error('lib/responder/worker.js must run as a worker thread');
const init = workerData as WorkerInit;
const stats = new Stats(init.stats);
let shard: Shard | undefined;
try {
  shard = new Shard({
    iface: init.iface,
    netns: init.netns,
    addrs: init.addrs,
    ports: init.ports,
    config: init.config,
    secrets: CookieSecrets.attach(init.secrets).view,
    clock: systemClock,
    stats,
    fanoutGroup: init.fanoutGroup,
    qdiscBypass: init.qdiscBypass,
    hold: init.hold,
    lowLatency: init.lowLatency,
    onHandshake: (handshake) => {
      port.postMessage({ type: 'handshake', handshake } satisfies WorkerMessage);
    },
  });
  shard.start();
  port.postMessage({ type: 'ready' } satisfies WorkerMessage);
} catch (error) {
  const e = error as NodeJS.ErrnoException;
  port.postMessage({ type: 'error', message: e.message, code: e.code } satisfies WorkerMessage);
}

const statsTimer = setInterval(() => shard?.syncStats(), 250);
port.on('message', (message: MainMessage) => {
  if (message.type === 'completeHandoffs') {
    const reply = (results: Array<number | Error>): void => port.postMessage({
      type: 'handoffsDone', id: message.id,
      results: results.map((r) => {
        if (typeof r === 'number') return r;
        const e = r as NodeJS.ErrnoException;
        return { message: e.message, code: e.code, errno: e.errno, syscall: e.syscall };
      }),
    } satisfies WorkerMessage);
    if (shard === undefined) reply(message.items.map(() => Object.assign(new Error('the shard is not running'), { code: 'ECANCELED' })));
    else void shard.completeHandoffs(message.items).then(reply);
  }
  if (message.type === 'release' && message.hold >= 0) shard?.engine.release(message.hold, message.iss);
  if (message.type === 'linger') shard?.linger(message.flow);
  if (message.type === 'close') {
    clearInterval(statsTimer);
    shard?.close();
    port.postMessage({ type: 'closed' } satisfies WorkerMessage);
    port.close();
  }
});
