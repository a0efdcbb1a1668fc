// Native MD5: RFC 1321's test suite, random inputs against @noble/hashes,
// and the multi-lane one-block compression the cookies use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { md5 as nobleMd5 } from '@noble/hashes/legacy.js';
import { addon } from '../../lib/native/addon.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function nativeMd5(data: Uint8Array): string {
  const out = new Uint8Array(16);
  addon.md5(data, out);
  return hex(out);
}

// xorshift32: reproducible "random" inputs.
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

test('RFC 1321 A.5 test suite', () => {
  const suite: [string, string][] = [
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['1234567890'.repeat(8), '57edf4a22be3c955ac49da2e2107b67a'],
  ];
  for (const [text, digest] of suite) {
    assert.equal(nativeMd5(new TextEncoder().encode(text)), digest, JSON.stringify(text));
  }
});

test('1000 random inputs of 0..300 bytes match @noble/hashes md5', () => {
  const next = rng(0x5eed1321);
  for (let n = 0; n < 1000; n++) {
    const data = new Uint8Array(next() % 301);
    for (let i = 0; i < data.length; i++) data[i] = next() & 0xff;
    assert.equal(nativeMd5(data), hex(nobleMd5(data)), `input ${n}, ${data.length} bytes`);
  }
});

test('every length around the padding boundaries (0..200) matches', () => {
  const data = new Uint8Array(200).map((_, i) => (i * 37 + 11) & 0xff);
  for (let length = 0; length <= 200; length++) {
    const part = data.subarray(0, length);
    assert.equal(nativeMd5(part), hex(nobleMd5(part)), `${length} bytes`);
  }
});

test('md5 reads a subarray at an offset and a SharedArrayBuffer view', () => {
  const shared = new Uint8Array(new SharedArrayBuffer(64));
  shared.set(new TextEncoder().encode('xxabcxx'));
  assert.equal(nativeMd5(shared.subarray(2, 5)), '900150983cd24fb0d6963f7d28e17f72');
  const out = new Uint8Array(32);
  addon.md5(new TextEncoder().encode('abc'), out.subarray(16));
  assert.equal(hex(out.subarray(16)), '900150983cd24fb0d6963f7d28e17f72');
  assert.equal(hex(out.subarray(0, 16)), '0'.repeat(32));
});

test('md5 names a bad argument', () => {
  const md5 = addon.md5 as unknown as (...args: unknown[]) => void;
  assert.throws(() => md5('abc', new Uint8Array(16)), { name: 'TypeError', message: /data/ });
  assert.throws(() => md5(new Uint8Array(1), null), { name: 'TypeError', message: /out/ });
  assert.throws(() => md5(new Uint8Array(1), new Uint8Array(15)), { name: 'RangeError', message: /out must be exactly 16 bytes/ });
});

// A padded single-block message is one compression from the IV, so each lane
// of md5Lanes must equal MD5 of a message of 0..55 bytes.
test('md5Lanes: each lane (SIMD and one at a time) equals MD5 of its padded message', () => {
  const lanes = addon.cookie.md5Lanes;
  const next = rng(77);
  for (let round = 0; round < 50; round++) {
    const words = new Uint32Array(16 * lanes);
    const messages: Uint8Array[] = [];
    for (let lane = 0; lane < lanes; lane++) {
      const message = new Uint8Array(next() % 56);
      for (let i = 0; i < message.length; i++) message[i] = next() & 0xff;
      messages.push(message);
      const block = new Uint8Array(64);
      block.set(message);
      block[message.length] = 0x80;
      const view = new DataView(block.buffer);
      view.setUint32(56, message.length * 8, true);
      for (let i = 0; i < 16; i++) words[i * lanes + lane] = view.getUint32(i * 4, true);
    }
    for (const scalar of [false, true]) {
      const out = new Uint32Array(4 * lanes);
      addon.md5Lanes(words, out, 1, scalar);
      for (let lane = 0; lane < lanes; lane++) {
        const digest = new Uint8Array(16);
        const view = new DataView(digest.buffer);
        for (let j = 0; j < 4; j++) view.setUint32(j * 4, out[j * lanes + lane]!, true);
        assert.equal(hex(digest), hex(nobleMd5(messages[lane]!)), `round ${round} lane ${lane} scalar=${scalar}`);
      }
    }
  }
});

test('md5Lanes names a bad argument', () => {
  const lanes = addon.cookie.md5Lanes;
  const md5Lanes = addon.md5Lanes as unknown as (...args: unknown[]) => void;
  assert.throws(() => md5Lanes(new Uint8Array(64 * lanes), new Uint32Array(4 * lanes)), { name: 'TypeError', message: /words/ });
  assert.throws(() => md5Lanes(new Uint32Array(16 * lanes), new Uint32Array(4)), { name: 'RangeError', message: /out/ });
  assert.throws(() => md5Lanes(new Uint32Array(16 * lanes), new Uint32Array(4 * lanes), 0), { name: 'RangeError', message: /repeat/ });
});
