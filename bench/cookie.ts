// The cookie hot path, measured against @noble/hashes in the same process:
//   - md5 of one 64-byte block: native addon.md5 (one call per digest) vs
//     noble md5, 100 calls per timed iteration;
//   - the MD5 core: one-block compressions as SIMD lanes vs one at a time
//     (md5Lanes, 1000 runs per call so the call costs nothing);
//   - processCookies over a full batch: SYN rows (cookies made), ACK rows
//     (cookies checked), and mode 'off' (flow hash only).
// Run: npx tsc -p . && node dist/bench/cookie.js [--time ms] [--json]
import { Bench } from 'tinybench';
import { md5 as nobleMd5 } from '@noble/hashes/legacy.js';
import { randomBytes } from 'node:crypto';
import { addon } from '../lib/native/addon.js';
import { BatchView, BATCH_CAPACITY } from '../lib/native/batch.js';

const json = process.argv.includes('--json');
const timeArg = process.argv.indexOf('--time');
const time = timeArg > 0 ? Number(process.argv[timeArg + 1]) : 1000;

const { kinds, optFlags } = addon.constants;
const S = addon.secretsLayout;
const lanes = addon.cookie.md5Lanes;
const REPEAT = 1000;
// Calls per timed iteration, so the timer's own cost does not count.
const CALLS = 100;

function secrets(): Uint8Array {
  const bytes = new Uint8Array(new SharedArrayBuffer(S.byteLength));
  const words = new Uint32Array(bytes.buffer);
  bytes.set(randomBytes(S.secretBytes), S.flowHashKey);
  bytes.set(randomBytes(S.secretBytes), S.secret);
  words[S.valid / 4] = 1;
  words[S.active / 4] = 0;
  return bytes;
}

function synBatch(): BatchView {
  const b = new BatchView();
  for (let i = 0; i < BATCH_CAPACITY; i++) {
    b.kind[i] = kinds.syn;
    b.family[i] = 4;
    b.saddr[i * 4] = (0xc6120000 + i) >>> 0; // any bytes will do
    b.daddr[i * 4] = 0x010013c6;
    b.sport[i] = 1024 + i;
    b.dport[i] = 80;
    b.seq[i] = (i * 2654435761) >>> 0;
    b.mss[i] = 1460;
    b.wscale[i] = 7;
    b.optFlags[i] = optFlags.mss | optFlags.wscale | optFlags.sackPermitted;
  }
  return b;
}

const keys = secrets();
const syns = synBatch();
const acks = synBatch();
addon.processCookies(acks.buffer, BATCH_CAPACITY, keys, 'on');
for (let i = 0; i < BATCH_CAPACITY; i++) {
  acks.kind[i] = kinds.ack;
  acks.ack[i] = (acks.cookie[i]! + 1) >>> 0;
  acks.seq[i] = (acks.seq[i]! + 1) >>> 0;
}

const block = randomBytes(64);
const digest = new Uint8Array(16);
const laneWords = new Uint32Array(16 * lanes).map(() => randomBytes(4).readUInt32LE());
const laneOut = new Uint32Array(4 * lanes);

const bench = new Bench({ time, warmupTime: Math.min(time, 300) });
bench
  .add(`md5 64 B x${CALLS}: noble`, () => { for (let i = 0; i < CALLS; i++) nobleMd5(block); })
  .add(`md5 64 B x${CALLS}: native`, () => { for (let i = 0; i < CALLS; i++) addon.md5(block, digest); })
  .add(`md5 core x${lanes * REPEAT}: one at a time`, () => { addon.md5Lanes(laneWords, laneOut, REPEAT, true); })
  .add(`md5 core x${lanes * REPEAT}: ${lanes} lanes`, () => { addon.md5Lanes(laneWords, laneOut, REPEAT, false); })
  .add(`processCookies ${BATCH_CAPACITY} SYN`, () => { addon.processCookies(syns.buffer, BATCH_CAPACITY, keys, 'on'); })
  .add(`processCookies ${BATCH_CAPACITY} ACK`, () => { addon.processCookies(acks.buffer, BATCH_CAPACITY, keys, 'on'); })
  .add(`processCookies ${BATCH_CAPACITY} hash only`, () => { addon.processCookies(syns.buffer, BATCH_CAPACITY, keys, 'off'); });

await bench.run();

// ns per item: one digest, one compressed block, one batch row.
const perItem = new Map<string, number>();
const rows = bench.tasks.map((task) => {
  const r = task.result;
  if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}`);
  const items = task.name.startsWith('md5 core') ? lanes * REPEAT : task.name.startsWith('processCookies') ? BATCH_CAPACITY : CALLS;
  const ns = (r.latency.mean * 1e6) / items;
  perItem.set(task.name, ns);
  return {
    task: task.name,
    'ns/item': Number(ns.toFixed(1)),
    'items/s': Math.round(1e9 / ns).toLocaleString('en-US'),
    '±%': Number(r.latency.rme.toFixed(2)),
    samples: r.latency.samples?.length ?? 0,
  };
});
const ns = (name: string): number => perItem.get(name)!;
const noble = ns(`md5 64 B x${CALLS}: noble`);
const summary = {
  callVsNoble: noble / ns(`md5 64 B x${CALLS}: native`),
  lanesVsOneAtATime: ns(`md5 core x${lanes * REPEAT}: one at a time`) / ns(`md5 core x${lanes * REPEAT}: ${lanes} lanes`),
  cookieMadeVsNoble: noble / ns(`processCookies ${BATCH_CAPACITY} SYN`),
  cookieCheckedVsNoble: noble / ns(`processCookies ${BATCH_CAPACITY} ACK`),
  synPerSecond: 1e9 / ns(`processCookies ${BATCH_CAPACITY} SYN`),
};
if (json) {
  console.log(JSON.stringify({ type: 'cookie', node: process.version, lanes, avx2: addon.cookie.md5Avx2, timeMs: time, nsPerItem: Object.fromEntries(perItem), ...summary }));
} else {
  console.log(`MD5 lanes: ${lanes}, AVX2: ${addon.cookie.md5Avx2}; node ${process.version}; ${time} ms per task`);
  console.table(rows);
  console.log(`native md5 call / noble md5:          ${summary.callVsNoble.toFixed(1)}x`);
  console.log(`lanes / one at a time (md5 core):     ${summary.lanesVsOneAtATime.toFixed(2)}x`);
  console.log(`cookie made (batch) / noble md5:      ${summary.cookieMadeVsNoble.toFixed(1)}x`);
  console.log(`cookie checked (batch) / noble md5:   ${summary.cookieCheckedVsNoble.toFixed(1)}x`);
  console.log(`SYN/s per core (cookie + flow hash):  ${Math.round(summary.synPerSecond).toLocaleString('en-US')}`);
}
