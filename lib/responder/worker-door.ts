// A worker shard's side of the XDP door, which its Responder owns on the
// main thread: handed-over flows are written here, on the shard's thread,
// through the door's flow maps (lib/door/flows.ts), since a handoff must
// open its flow the moment its socket leaves repair; the cookie state and
// the gateways' MACs go to the owner as messages, and only when they change
// (the owner combines every shard's state: allShardsCookieState).
import type { MessagePort } from 'node:worker_threads';
import type { CookieState } from '../door/door.js';
import { DoorFlows } from '../door/flows.js';
import type { DoorFlowMaps } from '../native/addon.js';
import type { ShardDoor } from './shard.js';
import type { WorkerMessage } from './messages.js';

export class WorkerDoor implements ShardDoor {
  private readonly flows: DoorFlows;
  private state = '';
  private macs = '';

  constructor(maps: DoorFlowMaps, private readonly port: MessagePort) {
    this.flows = new DoorFlows(maps);
  }

  setCookieState(state: CookieState): void {
    const key = `${state.mode},${state.paused},${state.cacheEmpty}`;
    if (key === this.state) return;
    this.state = key;
    this.port.postMessage({ type: 'doorState', state } satisfies WorkerMessage);
  }

  setReplyMacs(macs: Uint8Array): void {
    const key = Buffer.from(macs.buffer, macs.byteOffset, macs.byteLength).toString('hex');
    if (key === this.macs) return;
    this.macs = key;
    this.port.postMessage({ type: 'replyMacs', macs: Uint8Array.from(macs) } satisfies WorkerMessage);
  }

  handOver(flow: Uint32Array, peerIsn: number): void {
    this.flows.handOver(flow, peerIsn);
  }

  flowClosed(flow: Uint32Array, seen: Uint32Array): boolean {
    return this.flows.flowClosed(flow, seen);
  }

  takeBack(flow: Uint32Array): boolean {
    return this.flows.takeBack(flow);
  }

  close(): void {
    this.flows.close();
  }
}
