// Shared by the engine tests: flows written the way a batch holds them.
import { writeAddress } from '../../lib/native/address.js';
import { resolveConfig, type SyncacheConfigInput } from '../../lib/engine/config.js';
import { SynCache } from '../../lib/engine/syncache.js';
import { C, SHARD_COUNTER_NAMES } from '../../lib/engine/stats.js';

export { C };

/** Address words for a table of flows: flow i at i*4 in peer/local. */
export class Flows {
  readonly peer: Uint32Array;
  readonly local: Uint32Array;
  readonly family: Uint8Array;
  readonly peerPort: Uint16Array;
  readonly localPort: Uint16Array;
  readonly hash: Uint32Array;
  constructor(readonly capacity: number) {
    this.peer = new Uint32Array(capacity * 4);
    this.local = new Uint32Array(capacity * 4);
    this.family = new Uint8Array(capacity);
    this.peerPort = new Uint16Array(capacity);
    this.localPort = new Uint16Array(capacity);
    this.hash = new Uint32Array(capacity);
  }

  set(i: number, peer: string, peerPort: number, local: string, localPort: number, hash: number): number {
    this.family[i] = writeAddress(peer, this.peer, i * 4);
    writeAddress(local, this.local, i * 4);
    this.peerPort[i] = peerPort;
    this.localPort[i] = localPort;
    this.hash[i] = hash >>> 0;
    return i;
  }

  lookup(cache: SynCache, i: number): number {
    return cache.lookup(this.family[i], this.peer, i * 4, this.local, i * 4, this.peerPort[i], this.localPort[i], this.hash[i]);
  }

  /** allocate + setKey + link, as the engine does for a new SYN; returns the entry or -1. */
  add(cache: SynCache, i: number, now: number): number {
    const e = cache.allocate(this.hash[i]);
    if (e < 0) return e;
    cache.setKey(e, this.family[i], this.peer, i * 4, this.local, i * 4, this.peerPort[i], this.localPort[i]);
    cache.link(e, now);
    return e;
  }
}

export function makeCache(input: SyncacheConfigInput = {}): { cache: SynCache; stats: Float64Array } {
  const stats = new Float64Array(SHARD_COUNTER_NAMES.length);
  return { cache: new SynCache(resolveConfig(input), stats), stats };
}
