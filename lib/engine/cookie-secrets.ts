// SYN-cookie secrets and the flow-hash key, in one SharedArrayBuffer laid out
// as native/boundary/secrets.h's CookieSecrets (offsets from
// addon.secretsLayout, never repeated here):
//
//   version[2] u32   seqlock per slot: odd while the owner rewrites it
//   valid[2]   u32   1 when the slot holds a live secret
//   active     u32   slot that new cookies use
//   secret[2]  16 B  MD5 keys;   flowHashKey 16 B
//
// The owner (one per process) draws every key from the CSPRNG at start and
// rotate()s every cookieRotateMs: the slot that is NOT active (the older
// one) gets a fresh secret - version made odd, bytes written, valid set,
// version made even again - and then becomes active. A cookie made with a
// secret is thus accepted while that secret is active and for one more
// period: 15 to 30 s by default; after two rotations it is gone. Readers
// (native code, or workers through attach()) copy a slot and keep it only if
// its version was even and unchanged around the copy (ReadSecret in
// secrets.h). Only the owner writes; attach() gives a read-only handle.
//
// With a fleet key (createFleet) the secrets are not drawn but derived: the
// slot of each epoch's parity holds that epoch's secret (see fleet-key.ts
// for the schedule), and maybeRotate() follows the wall clock's epochs
// instead of counting rotateMs.
import { randomFillSync } from 'node:crypto';
import { addon, type SecretsLayout } from '../native/addon.js';
import { systemClock } from './clock.js';
import { EPOCH_SKEW_MS, epochOf, type FleetKey } from './fleet-key.js';

export class CookieSecrets {
  /** The whole struct, to hand to native (PipelineOptions.secrets). */
  readonly view: Uint8Array;
  readonly buffer: SharedArrayBuffer;
  readonly owner: boolean;
  readonly rotateMs: number;
  /** Clock time of the last rotation (or of start). */
  lastRotation: number;
  private readonly words: Int32Array;
  private readonly layout: SecretsLayout;
  /** With a fleet key: the key, and the epoch whose secret each slot holds. */
  private fleet: { key: FleetKey; slotEpoch: [number, number] } | undefined;

  private constructor(buffer: SharedArrayBuffer, owner: boolean, now: number, rotateMs: number) {
    const layout = addon.secretsLayout;
    if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError('CookieSecrets needs a SharedArrayBuffer');
    if (buffer.byteLength !== layout.byteLength) {
      throw new RangeError(`secrets buffer must be ${layout.byteLength} bytes (addon.secretsLayout), got ${buffer.byteLength}`);
    }
    if (!Number.isFinite(rotateMs) || rotateMs <= 0) throw new RangeError(`rotateMs must be a positive number of ms, got ${rotateMs}`);
    this.layout = layout;
    this.buffer = buffer;
    this.view = new Uint8Array(buffer);
    this.words = new Int32Array(buffer);
    this.owner = owner;
    this.rotateMs = rotateMs;
    this.lastRotation = now;
  }

  /** A new owner with both slots and the flow-hash key drawn from the CSPRNG; slot 0 active. */
  static create(now: number = systemClock.now(), rotateMs = 15_000): CookieSecrets {
    const s = new CookieSecrets(new SharedArrayBuffer(addon.secretsLayout.byteLength), true, now, rotateMs);
    randomFillSync(s.view, s.layout.flowHashKey, s.layout.secretBytes);
    s.fill(0);
    s.fill(1);
    Atomics.store(s.words, s.layout.active >> 2, 0);
    return s;
  }

  /**
   * A new owner whose cookie secrets come from a fleet's shared key and the
   * wall clock (ms since the Unix epoch): every host with the key holds the
   * same secrets at the same time. The flow-hash key stays this host's own.
   */
  static createFleet(key: FleetKey, wallNow: number): CookieSecrets {
    const s = new CookieSecrets(new SharedArrayBuffer(addon.secretsLayout.byteLength), true, wallNow, 1);
    randomFillSync(s.view, s.layout.flowHashKey, s.layout.secretBytes);
    s.fleet = { key, slotEpoch: [-1, -1] };
    s.followEpochs(wallNow);
    return s;
  }

  /** The epoch whose secret new cookies use (fleet key only; else null). */
  get epoch(): number | null {
    return this.fleet ? this.fleet.slotEpoch[this.activeSlot] : null;
  }

  /** Rereads the fleet key file: secrets installed from now on use it (cookies of the old one live out their time). */
  reloadKey(): void {
    if (!this.fleet) throw new Error('reloadKey(): these secrets are random per host; there is no key file (option secrets.keyFile)');
    this.fleet.key.reload();
  }

  /** A read-only handle on secrets another thread owns (e.g. in a worker). */
  static attach(buffer: SharedArrayBuffer, rotateMs = 15_000): CookieSecrets {
    return new CookieSecrets(buffer, false, 0, rotateMs);
  }

  get activeSlot(): number {
    return Atomics.load(this.words, this.layout.active >> 2) & 1;
  }

  version(slot: number): number {
    return Atomics.load(this.words, (this.layout.version >> 2) + (slot & 1)) >>> 0;
  }

  valid(slot: number): boolean {
    return Atomics.load(this.words, (this.layout.valid >> 2) + (slot & 1)) === 1;
  }

  /** A copy of a slot's secret (seqlock read); null if invalid or being rewritten. */
  secret(slot: number): Uint8Array | null {
    const before = this.version(slot);
    if ((before & 1) !== 0 || !this.valid(slot)) return null;
    const at = this.layout.secret + (slot & 1) * this.layout.secretBytes;
    const copy = this.view.slice(at, at + this.layout.secretBytes);
    return this.version(slot) === before ? copy : null;
  }

  /** A copy of the flow-hash key (fixed for the owner's life). */
  get flowHashKey(): Uint8Array {
    return this.view.slice(this.layout.flowHashKey, this.layout.flowHashKey + this.layout.secretBytes);
  }

  /** Replaces the older secret with a fresh one and makes it active. Owner only. */
  rotate(now?: number): void {
    if (!this.owner) throw new Error('CookieSecrets.rotate(): this handle is attached read-only; only the owner rotates');
    if (this.fleet) throw new Error('CookieSecrets.rotate(): fleet secrets follow the clock\'s epochs; they are not rotated by hand');
    const slot = this.activeSlot ^ 1;
    this.fill(slot);
    Atomics.store(this.words, this.layout.active >> 2, slot);
    if (now !== undefined) this.lastRotation = now;
  }

  /**
   * Rotates when rotateMs have passed since the last rotation; with a fleet
   * key, installs the secrets of the epochs `now` (wall-clock ms) calls for.
   * True if a slot changed.
   */
  maybeRotate(now: number): boolean {
    if (this.fleet) return this.followEpochs(now);
    if (!this.owner || now - this.lastRotation < this.rotateMs) return false;
    this.rotate(now);
    return true;
  }

  /**
   * The fleet schedule: the current epoch's secret in its slot, made active;
   * in the other slot the previous epoch's, or from EPOCH_SKEW_MS before the
   * next epoch, the next one's.
   */
  private followEpochs(wallNow: number): boolean {
    const fleet = this.fleet!;
    const current = epochOf(wallNow);
    const other = epochOf(wallNow + EPOCH_SKEW_MS) > current ? current + 1 : current - 1;
    let changed = false;
    for (const epoch of [current, other]) {
      const slot = epoch & 1;
      if (fleet.slotEpoch[slot] === epoch || epoch < 0) continue;
      this.fill(slot, fleet.key.secret(epoch));
      fleet.slotEpoch[slot] = epoch;
      changed = true;
    }
    Atomics.store(this.words, this.layout.active >> 2, current & 1);
    if (changed) this.lastRotation = wallNow;
    return changed;
  }

  private fill(slot: number, bytes?: Uint8Array): void {
    const w = this.words;
    const version = (this.layout.version >> 2) + slot;
    const valid = (this.layout.valid >> 2) + slot;
    Atomics.store(w, valid, 0);
    Atomics.add(w, version, 1); // odd: readers reject the slot
    const at = this.layout.secret + slot * this.layout.secretBytes;
    if (bytes) this.view.set(bytes.subarray(0, this.layout.secretBytes), at);
    else randomFillSync(this.view, at, this.layout.secretBytes);
    Atomics.store(w, valid, 1);
    Atomics.add(w, version, 1); // even again
  }
}
