// The userspace SYN path on one core, without the ring's syscalls: native
// parse + flow hash + cookie of a batch of real SYN frames, the engine's
// decisions over the batch (syncookies on: cache add; only: stateless), and
// native build of every SYN-ACK. Also parse + cookie + build alone.
// Run: node dist/bench/pipeline.js [--time ms] [--json]
import { Bench } from 'tinybench';
import { addon } from '../lib/native/addon.js';
import { BatchView, BATCH_CAPACITY } from '../lib/native/batch.js';
import { CookieSecrets } from '../lib/engine/cookie-secrets.js';
import { resolveConfig } from '../lib/engine/config.js';
import { ManualClock } from '../lib/engine/clock.js';
import { SynEngine } from '../lib/engine/engine.js';
import { SHARD_COUNTER_NAMES } from '../lib/engine/stats.js';
import { TCP, tcpFrame, OUR_V4 } from '../test/fixtures/frames.js';

const timeArg = process.argv.indexOf('--time');
const time = timeArg > 0 ? Number(process.argv[timeArg + 1]) : 1000;
const json = process.argv.includes('--json');

// A batch of Linux-like SYNs (MSS, SACK_PERM, TS, NOP, WS) from distinct sources.
const LINUX_OPTIONS = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
const frames: Uint8Array[] = [];
for (let i = 0; i < BATCH_CAPACITY; i++) {
  frames.push(tcpFrame({
    src: `198.19.${(i >> 8) & 255}.${i & 255}`, dst: OUR_V4, sport: 1024 + i, dport: 80,
    seq: (i * 2654435761) >>> 0, flags: TCP.SYN, options: LINUX_OPTIONS,
  }));
}
const total = frames.reduce((n, f) => n + f.length, 0);
const buffer = new Uint8Array(total);
const offsets = new Uint32Array(BATCH_CAPACITY);
const lengths = new Uint32Array(BATCH_CAPACITY);
let at = 0;
frames.forEach((f, i) => { buffer.set(f, at); offsets[i] = at; lengths[i] = f.length; at += f.length; });

const secrets = CookieSecrets.create(0);
const srcMac = Uint8Array.from([2, 0, 0, 0, 0, 1]);
const out = new Uint8Array(BATCH_CAPACITY * 128);
const outOffsets = new Uint32Array(BATCH_CAPACITY);
const outLengths = new Uint32Array(BATCH_CAPACITY);

function setup(mode: 'on' | 'only') {
  const pipeline = new addon.Pipeline({ addrs: [OUR_V4], ports: [80], cookies: mode, secrets: secrets.view });
  const rx = new BatchView();
  const tx = new BatchView();
  const clock = new ManualClock(1e6);
  const engine = new SynEngine({
    config: resolveConfig({ syncookies: mode, hashSize: 65536, bucketLimit: 30 }), clock,
    stats: new Float64Array(SHARD_COUNTER_NAMES.length), tx,
    send: (count) => pipeline.build(tx.buffer, count, srcMac, out, outOffsets, outLengths),
    onHandshake: () => true,
  });
  return { pipeline, rx, tx, engine, clock };
}

const on = setup('on');
const only = setup('only');
const bare = setup('only');
// SYN-ACK rows for the bare parse + cookie + build path: turn each row around.
function turnAround(rx: BatchView, tx: BatchView, n: number): void {
  for (let i = 0; i < n; i++) {
    tx.kind[i] = addon.constants.kinds.synAck; tx.family[i] = rx.family[i];
    tx.saddr[i * 4] = rx.daddr[i * 4]; tx.daddr[i * 4] = rx.saddr[i * 4];
    tx.sport[i] = rx.dport[i]; tx.dport[i] = rx.sport[i];
    tx.seq[i] = rx.cookie[i]; tx.ack[i] = (rx.seq[i] + 1) >>> 0;
    tx.optFlags[i] = rx.optFlags[i]; tx.mss[i] = 1460; tx.wscale[i] = 7; tx.tsval[i] = 1; tx.tsecr[i] = rx.tsval[i];
    tx.window[i] = 65535;
  }
}

const bench = new Bench({ time, warmupTime: 200 });
bench
  .add('parse + cookie + build SYN-ACK (native, batch of 2048)', () => {
    const n = bare.pipeline.process(buffer, offsets, lengths, BATCH_CAPACITY, bare.rx.buffer);
    turnAround(bare.rx, bare.tx, n);
    bare.pipeline.build(bare.tx.buffer, n, srcMac, out, outOffsets, outLengths);
  })
  .add('full SYN path, syncookies=only (parse, cookie, engine, build)', () => {
    const n = only.pipeline.process(buffer, offsets, lengths, BATCH_CAPACITY, only.rx.buffer);
    only.engine.handle(only.rx, n);
  })
  .add('full SYN path, syncookies=on (parse, cookie, cache add, build)', () => {
    const n = on.pipeline.process(buffer, offsets, lengths, BATCH_CAPACITY, on.rx.buffer);
    on.clock.advance(1);
    on.engine.handle(on.rx, n);
  });
await bench.run();

const results = bench.tasks.map((t) => {
  const r = t.result as { latency?: { mean: number }; period?: number } | undefined;
  const ms = r?.latency?.mean ?? r?.period ?? NaN;
  return { name: t.name, nsPerSyn: (ms * 1e6) / BATCH_CAPACITY, synPerSecond: Math.round((BATCH_CAPACITY * 1000) / ms) };
});
if (json) {
  console.log(JSON.stringify({ type: 'pipeline', node: process.version, results }));
} else {
  console.log(`SYN path on one core (batch of ${BATCH_CAPACITY} SYN frames, ${time} ms per task)`);
  for (const r of results) console.log(`  ${r.name.padEnd(64)} ${r.nsPerSyn.toFixed(0).padStart(5)} ns/SYN  ${(r.synPerSecond / 1e6).toFixed(2)} M SYN/s`);
}
