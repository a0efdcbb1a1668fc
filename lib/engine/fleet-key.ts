// A fleet's shared master key: hosts behind one ECMP or anycast address that
// hold the same key compute the same cookie secrets at the same time, so a
// flow's final ACK may land on any of them. No service runs between hosts;
// only their clocks must agree to within EPOCH_SKEW_MS.
//
// Time is cut into epochs of EPOCH_MS (15 s) of wall-clock time since the
// Unix epoch. Epoch e's secret is HKDF-SHA256(key, salt, e as 8 bytes
// big-endian), 16 bytes. CookieSecrets keeps two: the secret of the current
// epoch (the slot whose parity is e's, the one new cookies use) and the
// neighbour that matters - the previous epoch's while its cookies may still
// come back, and from EPOCH_SKEW_MS before the next epoch starts, the next
// one's (so a host whose clock runs ahead is understood). A cookie is thus
// accepted from EPOCH_SKEW_MS before its epoch on this host's clock until
// EPOCH_SKEW_MS before the end of the following epoch: a host up to 5 s
// ahead or behind agrees, and a cookie made at the last moment of its epoch
// lives at least 10 s (15 - 5) on hosts with the same time.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { hkdfSync } from 'node:crypto';

export const EPOCH_MS = 15_000;
export const EPOCH_SKEW_MS = 5_000;
export const KEY_MIN_BYTES = 32;
const KEY_MAX_BYTES = 4096;
const SALT = Buffer.from('syncache cookie secret v1');

/** The epoch a wall-clock time (ms since the Unix epoch) falls in. */
export function epochOf(wallMs: number): number {
  return Math.floor(wallMs / EPOCH_MS);
}

export class FleetKey {
  private key: Buffer;

  private constructor(readonly path: string, key: Buffer) {
    this.key = key;
  }

  /** Reads and checks a key file (regular, mode 0600 or stricter, 32 to 4096 bytes); throws a clear error. */
  static load(path: string): FleetKey {
    return new FleetKey(path, readKeyFile(path));
  }

  /** Rereads the file: secrets of epochs derived from now on use the new key. */
  reload(): void {
    this.key = readKeyFile(this.path);
  }

  /** Epoch e's cookie secret (16 bytes). */
  secret(epoch: number): Uint8Array {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be a non-negative integer, got ${epoch}`);
    const info = Buffer.alloc(8);
    info.writeBigUInt64BE(BigInt(epoch));
    return new Uint8Array(hkdfSync('sha256', this.key, SALT, info, 16));
  }
}

function readKeyFile(path: string): Buffer {
  if (typeof path !== 'string' || path === '') throw new TypeError('secrets.keyFile must be the path of a key file');
  const make = `create one with: head -c 32 /dev/urandom > ${path} && chmod 600 ${path} (the same file on every host)`;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw Object.assign(new Error(`key file ${path} does not exist: ${make}`), { code: 'ENOENT' });
    throw Object.assign(new Error(`key file ${path}: ${e.message}`), { code: e.code });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error(`key file ${path} is not a regular file`), { code: 'EINVAL' });
    if ((st.mode & 0o077) !== 0) {
      throw Object.assign(new Error(`key file ${path} can be read by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${path}`), { code: 'EPERM' });
    }
    if (st.size < KEY_MIN_BYTES || st.size > KEY_MAX_BYTES) {
      throw Object.assign(new Error(`key file ${path} holds ${st.size} bytes; a key is ${KEY_MIN_BYTES} to ${KEY_MAX_BYTES}: ${make}`), { code: 'EINVAL' });
    }
    const key = Buffer.alloc(st.size);
    let got = 0;
    while (got < key.length) {
      const n = readSync(fd, key, got, key.length - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got < KEY_MIN_BYTES) throw Object.assign(new Error(`key file ${path} was cut short while reading (${got} bytes)`), { code: 'EINVAL' });
    return key.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
