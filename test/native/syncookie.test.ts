// The cookie pass (native/cookie/syncookie.cc) over batch rows filled in JS:
// cookies for SYNs, verdicts for ACKs, secret rotation and the seqlock, and
// the keyed flow hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { addon, type CookieMode } from '../../lib/native/addon.js';
import { BatchView, BATCH_CAPACITY } from '../../lib/native/batch.js';
import { writeAddress } from '../../lib/native/address.js';

const { kinds, optFlags, cookieVerdicts } = addon.constants;
const { mssTable, wscaleTable, layout } = addon.cookie;
const L = addon.secretsLayout;

// --- test helper: the secrets buffer, written as the TS owner would ---------

class TestSecrets {
  readonly bytes = new Uint8Array(new SharedArrayBuffer(L.byteLength));
  private readonly words = new Uint32Array(this.bytes.buffer);

  constructor() {
    this.bytes.set(randomBytes(L.secretBytes), L.flowHashKey);
    this.write(0, randomBytes(L.secretBytes));
    this.setActive(0);
  }

  private word(offset: number, slot = 0): number {
    return offset / 4 + slot;
  }

  /** Seqlock write: version odd, bytes, valid, version even. */
  write(slot: number, secret: Uint8Array): void {
    const v = this.word(L.version, slot);
    Atomics.add(this.words, v, 1);
    this.bytes.set(secret, L.secret + slot * L.secretBytes);
    Atomics.store(this.words, this.word(L.valid, slot), 1);
    Atomics.add(this.words, v, 1);
  }

  setActive(slot: number): void {
    Atomics.store(this.words, this.word(L.active), slot);
  }

  setValid(slot: number, valid: boolean): void {
    Atomics.store(this.words, this.word(L.valid, slot), valid ? 1 : 0);
  }

  /** Leaves the slot's version odd, as if a writer were mid-rotation. */
  beginWrite(slot: number): void {
    Atomics.add(this.words, this.word(L.version, slot), 1);
  }

  endWrite(slot: number): void {
    Atomics.add(this.words, this.word(L.version, slot), 1);
  }

  setFlowKey(key: Uint8Array): void {
    this.bytes.set(key, L.flowHashKey);
  }
}

// --- rows -------------------------------------------------------------------

interface Flow {
  peer: string;
  local: string;
  sport: number;
  dport: number;
}

interface SynOptions {
  mss?: number;
  wscale?: number;
  sack?: boolean;
  timestamps?: boolean;
}

const FLOW4: Flow = { peer: '198.18.0.7', local: '198.19.0.1', sport: 40000, dport: 80 };
const FLOW6: Flow = { peer: '2001:db8::7', local: '2001:db8:1::1', sport: 40001, dport: 443 };

function setFlow(b: BatchView, row: number, flow: Flow): void {
  b.saddr.fill(0, row * 4, row * 4 + 4);
  b.daddr.fill(0, row * 4, row * 4 + 4);
  b.family[row] = writeAddress(flow.peer, b.saddr, row * 4);
  writeAddress(flow.local, b.daddr, row * 4);
  b.sport[row] = flow.sport;
  b.dport[row] = flow.dport;
}

function setSyn(b: BatchView, row: number, flow: Flow, isn: number, o: SynOptions = {}): void {
  setFlow(b, row, flow);
  b.kind[row] = kinds.syn;
  b.seq[row] = isn >>> 0;
  b.ack[row] = 0;
  let flags = 0;
  if (o.mss !== undefined) { flags |= optFlags.mss; b.mss[row] = o.mss; } else b.mss[row] = 0;
  if (o.wscale !== undefined) { flags |= optFlags.wscale; b.wscale[row] = o.wscale; } else b.wscale[row] = 0;
  if (o.sack) flags |= optFlags.sackPermitted;
  if (o.timestamps) flags |= optFlags.timestamps;
  b.optFlags[row] = flags;
  b.cookieState[row] = 0xee;
}

function setAck(b: BatchView, row: number, flow: Flow, seq: number, ack: number, timestamps = false): void {
  setFlow(b, row, flow);
  b.kind[row] = kinds.ack;
  b.seq[row] = seq >>> 0;
  b.ack[row] = ack >>> 0;
  b.mss[row] = 0;
  b.wscale[row] = 0;
  b.optFlags[row] = timestamps ? optFlags.timestamps : 0;
  b.cookieState[row] = 0xee;
}

const counterIndex = (name: string): number => {
  const i = addon.counterNames.indexOf(name);
  assert.ok(i >= 0, `counter ${name}`);
  return i;
};

function newCounters(): BigUint64Array {
  return new BigUint64Array(addon.counterNames.length);
}

function run(b: BatchView, count: number, s: TestSecrets, mode: CookieMode = 'on', counters?: BigUint64Array): void {
  addon.processCookies(b.buffer, count, s.bytes, mode, counters);
}

/** Makes a cookie for one SYN and returns it. */
function cookieFor(s: TestSecrets, flow: Flow, isn: number, o: SynOptions = {}): number {
  const b = new BatchView();
  setSyn(b, 0, flow, isn, o);
  run(b, 1, s);
  assert.equal(b.cookieState[0], cookieVerdicts.made);
  return b.cookie[0]!;
}

/** Checks the ACK that completes `flow` and returns the row's verdict view. */
function check(s: TestSecrets, flow: Flow, seq: number, ack: number, timestamps = false): { state: number; mss: number; wscale: number; flags: number; cookie: number } {
  const b = new BatchView();
  setAck(b, 0, flow, seq, ack, timestamps);
  run(b, 1, s);
  return { state: b.cookieState[0]!, mss: b.mss[0]!, wscale: b.wscale[0]!, flags: b.optFlags[0]!, cookie: b.cookie[0]! };
}

const mssIndex = (cookie: number): number => (cookie >>> layout.mssShift) & layout.indexMask;
const wscaleIndex = (cookie: number): number => (cookie >>> layout.wscaleShift) & layout.indexMask;
const sackBit = (cookie: number): number => (cookie >>> layout.sackShift) & 1;
const selector = (cookie: number): number => (cookie >>> layout.selectorShift) & 1;

// --- the cookie ---------------------------------------------------------------

test('tables: MSS ascending with 8 entries, wscale index 0 = none, shifts ascending', () => {
  assert.equal(mssTable.length, 8);
  assert.equal(wscaleTable.length, 8);
  for (let i = 1; i < 8; i++) assert.ok(mssTable[i]! > mssTable[i - 1]!);
  assert.equal(wscaleTable[0], -1);
  for (let i = 2; i < 8; i++) assert.ok(wscaleTable[i]! > wscaleTable[i - 1]!);
  assert.ok(mssTable.includes(addon.cookie.defaultMss));
  assert.ok(mssTable.includes(addon.cookie.defaultMss6));
});

test('a SYN cookie encodes the largest table MSS <= the peer MSS, the rounded-down wscale, and SACK', () => {
  const s = new TestSecrets();
  const largestAtMost = (mss: number): number => {
    let index = 0;
    mssTable.forEach((m, i) => { if (m <= mss) index = i; });
    return index;
  };
  for (const mss of [1, 215, 216, 535, 536, 1000, 1220, 1359, 1440, 1452, 1460, 1500, 8940, 8960, 65535]) {
    const c = cookieFor(s, FLOW4, 1000, { mss });
    assert.equal(mssIndex(c), largestAtMost(mss), `mss ${mss}`);
  }
  assert.equal(mssTable[mssIndex(cookieFor(s, FLOW4, 1))], 536, 'IPv4 without MSS option: 536');
  assert.equal(mssTable[mssIndex(cookieFor(s, FLOW6, 1))], 1220, 'IPv6 without MSS option: 1220');
  assert.equal(mssTable[mssIndex(cookieFor(s, FLOW4, 1, { mss: 1460 }))], 1460);
  assert.equal(mssTable[mssIndex(cookieFor(s, FLOW6, 1, { mss: 1440 }))], 1440);

  assert.equal(wscaleIndex(cookieFor(s, FLOW4, 1)), 0, 'no wscale option: index 0');
  for (let shift = 0; shift <= 20; shift++) {
    const got = wscaleTable[wscaleIndex(cookieFor(s, FLOW4, 1, { wscale: shift }))]!;
    const want = Math.max(...wscaleTable.filter((w) => w >= 0 && w <= Math.min(shift, 14)));
    assert.equal(got, want, `shift ${shift}`);
  }
  assert.equal(sackBit(cookieFor(s, FLOW4, 1, { sack: true })), 1);
  assert.equal(sackBit(cookieFor(s, FLOW4, 1, { sack: false })), 0);
  assert.equal(selector(cookieFor(s, FLOW4, 1)), 0);
});

test('the matching ACK validates and gets mss, wscale and SACK back (IPv4 and IPv6)', () => {
  const s = new TestSecrets();
  const cases: [Flow, SynOptions, number, number | undefined, boolean][] = [
    [FLOW4, { mss: 1460, wscale: 7, sack: true }, 1460, 7, true],
    [FLOW4, { mss: 1452, wscale: 9 }, 1440, 8, false],
    [FLOW4, {}, 536, undefined, false],
    [FLOW6, { mss: 1440, wscale: 6, sack: true }, 1440, 6, true],
    [FLOW6, { wscale: 0 }, 1220, 0, false],
  ];
  for (const [flow, o, mss, wscale, sack] of cases) {
    const isn = 0xfffffffe; // seq = ISN + 1 wraps past 2^32 - 1
    const c = cookieFor(s, flow, isn, o);
    for (const timestamps of [false, true]) {
      const r = check(s, flow, isn + 1, c + 1, timestamps);
      const what = `${flow.peer} ${JSON.stringify(o)} ts=${timestamps}`;
      assert.equal(r.state, cookieVerdicts.valid, what);
      assert.equal(r.cookie, c, what);
      assert.equal(r.mss, mss, what);
      assert.ok(r.flags & optFlags.mss, what);
      assert.equal(Boolean(r.flags & optFlags.wscale), wscale !== undefined, what);
      if (wscale !== undefined) assert.equal(r.wscale, wscale, what);
      assert.equal(Boolean(r.flags & optFlags.sackPermitted), sack, what);
      assert.equal(Boolean(r.flags & optFlags.timestamps), timestamps, what);
    }
  }
});

// The byte layout documented in native/cookie/syncookie.cc, rebuilt here and
// run through md5Lanes (itself checked against @noble/hashes in md5.test.ts).
test('the MAC is MD5 of the documented 64-byte block, first 24 bits', () => {
  const s = new TestSecrets();
  s.write(1, randomBytes(16));
  const lanes = addon.cookie.md5Lanes;
  for (const [flow, slot, isn] of [[FLOW4, 0, 0x01020304], [FLOW6, 1, 0xfedcba98]] as const) {
    s.setActive(slot);
    const c = cookieFor(s, flow, isn, { mss: 1400, wscale: 2, sack: true });
    const block = new Uint8Array(64);
    const view = new DataView(block.buffer);
    block.set(s.bytes.subarray(L.secret + slot * L.secretBytes, L.secret + (slot + 1) * L.secretBytes), 0);
    const words = new Uint32Array(4);
    const family = writeAddress(flow.peer, words, 0);
    block.set(new Uint8Array(words.buffer), 16);
    writeAddress(flow.local, words.fill(0), 0);
    block.set(new Uint8Array(words.buffer), 32);
    view.setUint16(48, flow.sport, true);
    view.setUint16(50, flow.dport, true);
    view.setUint32(52, isn, true);
    block[56] = c & 0xff;
    block[57] = family;
    const input = new Uint32Array(16 * lanes);
    for (let i = 0; i < 16; i++) input[i * lanes] = view.getUint32(i * 4, true);
    const out = new Uint32Array(4 * lanes);
    addon.md5Lanes(input, out);
    const digest = new DataView(new ArrayBuffer(4));
    digest.setUint32(0, out[0]!, true);
    const mac = (digest.getUint8(0) << 16) | (digest.getUint8(1) << 8) | digest.getUint8(2);
    assert.equal(c >>> layout.macShift, mac, flow.peer);
    assert.equal(selector(c), slot);
  }
});

test('changing saddr, daddr, sport, dport, the ISN, any state bit or the MAC makes the ACK invalid', () => {
  const s = new TestSecrets();
  s.write(1, randomBytes(16)); // both slots live: a flipped selector still needs the right secret
  const isn = 123456789;
  const c = cookieFor(s, FLOW4, isn, { mss: 1460, wscale: 7, sack: true });
  assert.equal(check(s, FLOW4, isn + 1, c + 1).state, cookieVerdicts.valid);
  const invalid = (flow: Flow, seq: number, ack: number, what: string): void =>
    assert.equal(check(s, flow, seq, ack).state, cookieVerdicts.invalid, what);
  invalid({ ...FLOW4, peer: '198.18.0.8' }, isn + 1, c + 1, 'saddr');
  invalid({ ...FLOW4, local: '198.19.0.2' }, isn + 1, c + 1, 'daddr');
  invalid({ ...FLOW4, sport: FLOW4.sport + 1 }, isn + 1, c + 1, 'sport');
  invalid({ ...FLOW4, dport: FLOW4.dport + 1 }, isn + 1, c + 1, 'dport');
  invalid({ ...FLOW4, sport: FLOW4.dport, dport: FLOW4.sport }, isn + 1, c + 1, 'ports swapped');
  invalid({ ...FLOW4, peer: FLOW4.local, local: FLOW4.peer }, isn + 1, c + 1, 'addresses swapped');
  invalid(FLOW4, isn + 2, c + 1, 'ISN + 1');
  invalid(FLOW4, isn, c + 1, 'ISN - 1');
  for (let bit = 0; bit < 32; bit++) invalid(FLOW4, isn + 1, (c ^ (1 << bit)) + 1, `cookie bit ${bit}`);
  // The same address bytes as IPv4 and as IPv6 are different flows.
  const b = new BatchView();
  setAck(b, 0, FLOW4, isn + 1, c + 1);
  b.family[0] = 6;
  run(b, 1, s);
  assert.equal(b.cookieState[0], cookieVerdicts.invalid, 'family');
});

test('an invalidated slot makes no cookie and validates none', () => {
  const s = new TestSecrets();
  const c = cookieFor(s, FLOW4, 5);
  s.setValid(0, false);
  assert.equal(check(s, FLOW4, 6, c + 1).state, cookieVerdicts.invalid);
  const b = new BatchView();
  setSyn(b, 0, FLOW4, 5);
  const counters = newCounters();
  run(b, 1, s, 'on', counters);
  assert.equal(b.cookieState[0], cookieVerdicts.notChecked);
  assert.equal(counters[counterIndex('cookiesNoSecret')], 1n);
  assert.equal(counters[counterIndex('cookiesMade')], 0n);
  s.setValid(0, true);
  assert.equal(check(s, FLOW4, 6, c + 1).state, cookieVerdicts.valid, 'same secret back: valid again');
});

test('rotation: old cookies stay valid until their slot is replaced', () => {
  const s = new TestSecrets();
  const old = cookieFor(s, FLOW4, 1000);
  assert.equal(selector(old), 0);
  s.write(1, randomBytes(16));
  s.setActive(1);
  const fresh = cookieFor(s, FLOW4, 1000);
  assert.equal(selector(fresh), 1);
  assert.notEqual(fresh, old);
  assert.equal(check(s, FLOW4, 1001, old + 1).state, cookieVerdicts.valid, 'old cookie after rotation');
  assert.equal(check(s, FLOW4, 1001, fresh + 1).state, cookieVerdicts.valid, 'new cookie');
  s.write(0, randomBytes(16));
  s.setActive(0);
  assert.equal(check(s, FLOW4, 1001, old + 1).state, cookieVerdicts.invalid, 'old cookie after its slot is replaced');
  assert.equal(check(s, FLOW4, 1001, fresh + 1).state, cookieVerdicts.valid, 'cookie of the other slot');
});

test('seqlock: a slot with an odd version makes and validates nothing', () => {
  const s = new TestSecrets();
  const c = cookieFor(s, FLOW4, 42);
  s.beginWrite(0);
  assert.equal(check(s, FLOW4, 43, c + 1).state, cookieVerdicts.invalid);
  const b = new BatchView();
  setSyn(b, 0, FLOW4, 42);
  run(b, 1, s);
  assert.equal(b.cookieState[0], cookieVerdicts.notChecked);
  s.endWrite(0);
  assert.equal(check(s, FLOW4, 43, c + 1).state, cookieVerdicts.valid);
});

test('a full batch: every lane group and the tail, mixed SYN/ACK/other rows, counters', () => {
  const s = new TestSecrets();
  const b = new BatchView();
  const count = BATCH_CAPACITY - 3; // not a multiple of the lane count
  const flowOf = (i: number): Flow =>
    i % 3 === 0
      ? { peer: `2001:db8::${(i + 1).toString(16)}`, local: '2001:db8:1::1', sport: 1024 + i, dport: 443 }
      : { peer: `198.18.${i >> 8}.${i & 0xff}`, local: '198.19.0.1', sport: 1024 + i, dport: 80 };
  for (let i = 0; i < count; i++) setSyn(b, i, flowOf(i), i * 7919, { mss: 1460, wscale: i % 15, sack: i % 2 === 0 });
  const counters = newCounters();
  run(b, count, s, 'on', counters);
  assert.equal(counters[counterIndex('cookiesMade')], BigInt(count));
  const cookies = b.cookie.slice(0, count);
  for (let i = 0; i < count; i++) assert.equal(b.cookieState[i], cookieVerdicts.made, `row ${i}`);

  // Every 5th ACK is tampered with; every 7th row is a RST (not checked).
  let good = 0;
  let bad = 0;
  let rst = 0;
  for (let i = 0; i < count; i++) {
    if (i % 7 === 0) {
      setFlow(b, i, flowOf(i));
      b.kind[i] = kinds.rst;
      b.cookieState[i] = 0xee;
      rst++;
      continue;
    }
    const tamper = i % 5 === 0;
    setAck(b, i, flowOf(i), i * 7919 + 1 + (tamper ? 1 : 0), cookies[i]! + 1);
    if (tamper) bad++;
    else good++;
  }
  counters.fill(0n);
  run(b, count, s, 'only', counters);
  for (let i = 0; i < count; i++) {
    const want = i % 7 === 0 ? cookieVerdicts.notChecked : i % 5 === 0 ? cookieVerdicts.invalid : cookieVerdicts.valid;
    assert.equal(b.cookieState[i], want, `row ${i}`);
    if (want === cookieVerdicts.valid) {
      assert.equal(b.mss[i], 1460);
      assert.equal(Boolean(b.optFlags[i]! & optFlags.sackPermitted), i % 2 === 0);
    }
  }
  assert.equal(counters[counterIndex('cookiesChecked')], BigInt(good + bad));
  assert.equal(counters[counterIndex('cookiesValid')], BigInt(good));
  assert.equal(counters[counterIndex('cookiesInvalid')], BigInt(bad));
  assert.equal(counters[counterIndex('cookiesMade')], 0n);
  assert.ok(rst > 0);
});

test("mode 'off' makes and checks no cookies but still hashes every row", () => {
  const s = new TestSecrets();
  const b = new BatchView();
  setSyn(b, 0, FLOW4, 1);
  setAck(b, 1, FLOW4, 2, 12345);
  b.hash.fill(0);
  const counters = newCounters();
  run(b, 2, s, 'off', counters);
  assert.equal(b.cookieState[0], cookieVerdicts.notChecked);
  assert.equal(b.cookieState[1], cookieVerdicts.notChecked);
  assert.ok(counters.every((v) => v === 0n));
  assert.notEqual(b.hash[0], 0);
  assert.equal(b.hash[0], b.hash[1], 'SYN and ACK of one flow share a hash');
});

// --- the flow hash ------------------------------------------------------------

function hashes(s: TestSecrets, flows: Flow[]): number[] {
  const out: number[] = [];
  const b = new BatchView();
  for (let at = 0; at < flows.length; at += BATCH_CAPACITY) {
    const n = Math.min(BATCH_CAPACITY, flows.length - at);
    for (let i = 0; i < n; i++) setSyn(b, i, flows[at + i]!, 0);
    run(b, n, s, 'off');
    out.push(...b.hash.subarray(0, n));
  }
  return out;
}

test('flow hash: same flow same hash, any field or the key changes it', () => {
  const s = new TestSecrets();
  const variants: Flow[] = [
    FLOW4,
    { ...FLOW4, peer: '198.18.0.8' },
    { ...FLOW4, local: '198.19.0.2' },
    { ...FLOW4, sport: FLOW4.sport + 1 },
    { ...FLOW4, dport: FLOW4.dport + 1 },
    { ...FLOW4, sport: FLOW4.dport, dport: FLOW4.sport },
    FLOW6,
  ];
  const first = hashes(s, [...variants, ...variants]);
  assert.deepEqual(first.slice(0, variants.length), first.slice(variants.length), 'stable within a batch');
  assert.deepEqual(hashes(s, variants), first.slice(0, variants.length), 'stable across batches');
  assert.equal(new Set(first.slice(0, variants.length)).size, variants.length, 'every field matters');
  s.setFlowKey(randomBytes(16));
  const rekeyed = hashes(s, variants);
  for (let i = 0; i < variants.length; i++) assert.notEqual(rekeyed[i], first[i], `key change, flow ${i}`);
});

// Pearson's chi-squared over `buckets` cells; with n >> buckets it is close
// to normal with mean buckets-1 and sd sqrt(2(buckets-1)). 6 sd: a false
// failure is practically impossible, a skewed hash is caught.
function assertUniform(values: number[], bits: number, what: string): void {
  const buckets = 1 << bits;
  const cells = new Uint32Array(buckets);
  for (const v of values) cells[v & (buckets - 1)]!++;
  const expected = values.length / buckets;
  let chi2 = 0;
  for (const c of cells) chi2 += (c - expected) ** 2 / expected;
  const limit = buckets - 1 + 6 * Math.sqrt(2 * (buckets - 1));
  assert.ok(chi2 < limit, `${what}: chi2 ${chi2.toFixed(1)} over ${buckets} buckets (limit ${limit.toFixed(1)})`);
}

test('flow hash: roughly uniform over 2^k buckets for sequential ports and addresses', () => {
  const s = new TestSecrets();
  const n = 32768;
  const byPort: Flow[] = Array.from({ length: n }, (_, i) => ({ ...FLOW4, sport: 1024 + i }));
  const byAddr4: Flow[] = Array.from({ length: n }, (_, i) => ({ ...FLOW4, peer: `198.18.${i >> 8}.${i & 0xff}` }));
  const byAddr6: Flow[] = Array.from({ length: n }, (_, i) => ({ ...FLOW6, peer: `2001:db8::${i.toString(16)}` }));
  for (const [what, flows] of [['ports', byPort], ['IPv4 addresses', byAddr4], ['IPv6 addresses', byAddr6]] as const) {
    const h = hashes(s, flows);
    for (const bits of [4, 8, 12]) {
      assertUniform(h, bits, `${what}, low bits`);
      assertUniform(h.map((v) => v >>> (32 - bits)), bits, `${what}, high bits`);
    }
  }
});

test('processCookies names a bad argument', () => {
  const s = new TestSecrets();
  const b = new BatchView();
  const pc = addon.processCookies as unknown as (...args: unknown[]) => void;
  assert.throws(() => pc(new ArrayBuffer(8), 1, s.bytes, 'on'), { name: 'RangeError', message: /batch/ });
  assert.throws(() => pc('x', 1, s.bytes, 'on'), { name: 'TypeError', message: /batch/ });
  assert.throws(() => pc(b.buffer, BATCH_CAPACITY + 1, s.bytes, 'on'), { name: 'RangeError', message: /count/ });
  assert.throws(() => pc(b.buffer, -1, s.bytes, 'on'), { name: 'RangeError', message: /count/ });
  assert.throws(() => pc(b.buffer, 1.5, s.bytes, 'on'), { name: 'RangeError', message: /count/ });
  assert.throws(() => pc(b.buffer, 1, new Uint8Array(4), 'on'), { name: 'RangeError', message: /secrets/ });
  assert.throws(() => pc(b.buffer, 1, s.bytes, 'sometimes'), { name: 'TypeError', message: /mode/ });
  assert.throws(() => pc(b.buffer, 1, s.bytes, 'on', new Float64Array(100)), { name: 'TypeError', message: /counters/ });
  assert.throws(() => pc(b.buffer, 1, s.bytes, 'on', new BigUint64Array(1)), { name: 'RangeError', message: /counters/ });
});
