// What the userspace responder sends for a SYN in syncookies 'only': the
// native parser and cookie pass (addon.Pipeline), the engine's cookie
// SYN-ACK row (SynEngine) and the native builder, on one frame. The door's
// tests hold its SYN-ACKs against this.
import assert from 'node:assert/strict';
import { addon } from '../../lib/native/addon.js';
import { BatchView } from '../../lib/native/batch.js';
import type { CookieSecrets } from '../../lib/engine/cookie-secrets.js';
import { SynEngine } from '../../lib/engine/engine.js';
import { resolveConfig } from '../../lib/engine/config.js';
import { ManualClock } from '../../lib/engine/clock.js';
import { SHARD_COUNTER_NAMES } from '../../lib/engine/stats.js';
import { run } from '../fixtures/wire-harness.js';

export class UserspacePath {
  private readonly pipeline: InstanceType<typeof addon.Pipeline>;
  private readonly rx = new BatchView();
  private readonly engine: SynEngine;
  private built: Uint8Array | null = null;
  private tsval = 0;
  private ourMac = new Uint8Array(6);

  constructor(addrs: string[], ports: number[], secrets: CookieSecrets) {
    this.pipeline = new addon.Pipeline({ addrs, ports, cookies: 'only', secrets: secrets.view });
    this.engine = new SynEngine({
      config: resolveConfig({ syncookies: 'only' }),
      clock: new ManualClock(1_000_000),
      stats: new Float64Array(SHARD_COUNTER_NAMES.length),
      onHandshake: () => true,
      fleetTimestamps: true,
      send: (count) => {
        const tx = this.engine.tx;
        tx.tsval[0] = this.tsval;
        const out = new Uint8Array(4096);
        const offsets = new Uint32Array(count);
        const lengths = new Uint32Array(count);
        this.pipeline.build(tx.buffer, count, this.ourMac, out, offsets, lengths);
        this.built = out.slice(offsets[0], offsets[0] + lengths[0]);
        return count;
      },
    });
  }

  /**
   * The cookie the native pass makes for a SYN frame, and the SYN-ACK the
   * engine sends for it from the frame's destination MAC, carrying `tsval`
   * (the door's, so that the two frames compare whole).
   */
  answer(frame: Uint8Array, tsval: number): { cookie: number; synAck: Uint8Array | null } {
    this.built = null;
    this.tsval = tsval;
    this.ourMac = frame.slice(0, 6);
    const r = run(this.pipeline, [frame], undefined, this.rx);
    assert.equal(r.rows, 1, 'the parser takes the SYN');
    const cookie = this.rx.cookie[0];
    this.engine.handle(this.rx, r.rows);
    return { cookie, synAck: this.built };
  }
}

export const be32 = (f: Uint8Array, at: number): number => ((f[at] << 24) | (f[at + 1] << 16) | (f[at + 2] << 8) | f[at + 3]) >>> 0;

/** Where the TCP header of a frame we built starts (no IP options, no extension headers). */
export function tcpAt(frame: Uint8Array): number {
  const l2 = frame[12] === 0x81 && frame[13] === 0x00 ? 18 : 14;
  return l2 + (frame[l2] >> 4 === 4 ? 20 : 40);
}

/** Our TSval in a SYN-ACK, or undefined without timestamps. */
export function tsvalOf(frame: Uint8Array): number | undefined {
  const t = tcpAt(frame);
  const end = t + (frame[t + 12] >> 4) * 4;
  for (let p = t + 20; p < end;) {
    if (frame[p] === 1) { p++; continue; }
    if (frame[p] === 0) break;
    if (frame[p] === 8) return be32(frame, p + 2);
    p += frame[p + 1];
  }
  return undefined;
}
