// What the main thread and a shard's worker (lib/responder/worker.ts) send
// each other. Types only: the worker's entry script throws when imported
// off a worker thread, so nothing may need to import it.
import type { SyncacheConfig } from '../engine/config.js';
import type { Handshake } from '../engine/engine.js';
import type { FlowOf } from '../handoff/flow.js';
import type { SocketMakerOptions } from '../handoff/sockets.js';
import type { CookieState } from '../door/door.js';
import type { DoorFlowMaps } from '../native/addon.js';

export interface WorkerInit {
  iface: string;
  netns?: string;
  addrs: string[];
  ports: number[];
  config: SyncacheConfig;
  secrets: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  /** Handshakes posted to the main thread and not yet received (see InFlight). */
  inFlight: SharedArrayBuffer;
  fanoutGroup: number;
  qdiscBypass?: boolean;
  /**
   * Behind the XDP door (the main thread owns it): this worker's AF_XDP
   * ring reads rx queues `queues` through the door's XSKMAP, and writes
   * handed-over flows into its flow maps.
   */
  door?: { xskMap: number; queues: number[]; flowMaps: DoorFlowMaps };
  /** See EngineOptions.tsOffset. */
  tsOffset?: number;
  /** Make a kernel socket of each completed handshake here (ResponderOptions.handoff). */
  handoff?: SocketMakerOptions;
  lowLatency?: boolean;
  /** See EngineOptions.fleetTimestamps. */
  fleetTimestamps?: boolean;
}

/** An Error as a message carries it. */
export interface SentError { message: string; code?: string; errno?: number; syscall?: string }

export type MainMessage =
  | { type: 'close' }
  | { type: 'socketClosed'; flow: FlowOf }
  /** These flows are kernel sockets' (handed over by any shard): skip their segments here too. */
  | { type: 'adopt'; flows: FlowOf[] };

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'error'; message: string; code?: string }
  | { type: 'handshake'; handshake: Handshake }
  | { type: 'handed'; handed: Array<{ handshake: Handshake; fd?: number; madeAt?: number; error?: SentError }> }
  | { type: 'closed' }
  /** Behind the door: this shard's cookie state changed (see WorkerDoor). */
  | { type: 'doorState'; state: CookieState }
  /** Behind the door: the gateways' MACs this shard's route mirror resolved changed. */
  | { type: 'replyMacs'; macs: Uint8Array }
  /** The interface is up again after going down: the fanout group was re-linked. */
  | { type: 'linkUp' };
