// Malformed frames: the committed corpus (each dropped under exactly its
// counter) and a few thousand random truncations, bit flips and random
// option lists (nothing crashes, each frame bumps exactly one counter, and
// no byte past a frame's length changes the outcome).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { addon } from '../../lib/native/addon.js';
import { BatchView } from '../../lib/native/batch.js';
import {
  OUR_PORT, OUR_V4, OUR_V6, PEER_V4, PEER_V6, TCP, fromHex, icmpFrame, linuxSynOptions, opt,
  quotedSegment, tcpFrame,
} from '../fixtures/frames.js';
import { corpusPath, corpusText, type MalformedCorpus } from '../fixtures/make-malformed-frames.js';
import { PARSE_COUNTERS, makePipeline, run } from '../fixtures/wire-harness.js';

const corpus = JSON.parse(readFileSync(corpusPath, 'utf8')) as MalformedCorpus;

test('the committed corpus is what make-malformed-frames.ts generates', () => {
  assert.equal(readFileSync(corpusPath, 'utf8'), corpusText(),
    'regenerate: npx tsc -p . && node dist/test/fixtures/make-malformed-frames.js --write');
});

test('corpus: every counter it names exists and the corpus covers the drop reasons', () => {
  const used = new Set(corpus.frames.map((f) => f.counter));
  for (const name of used) assert.ok(addon.counterNames.includes(name), name);
  for (const name of PARSE_COUNTERS.filter((n) => n.startsWith('drop'))) assert.ok(used.has(name), `no frame for ${name}`);
});

test('corpus: each malformed frame is dropped under exactly its counter', () => {
  const pipeline = makePipeline(corpus.config.addrs, corpus.config.ports);
  for (const f of corpus.frames) {
    const r = run(pipeline, [fromHex(f.hex)]);
    assert.equal(r.rows, 0, f.name);
    assert.deepEqual(r.moved, { rxFrames: 1, [f.counter]: 1 }, f.name);
  }
});

// mulberry32: a small seeded PRNG so a failure can be replayed.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seeds: Uint8Array[] = [
  tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN, options: linuxSynOptions() }),
  tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN, options: linuxSynOptions(), vlan: 5, ipv4: { options: [1, 1, 1, 1, 0x94, 4, 0, 0] } }),
  tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.ACK, options: [1, 1, ...opt.timestamps(1, 2)], payload: [1, 2, 3] }),
  tcpFrame({ src: PEER_V6, dst: OUR_V6, flags: TCP.SYN, options: linuxSynOptions() }),
  tcpFrame({ src: PEER_V6, dst: OUR_V6, flags: TCP.RST, ext: [{ type: 0 }, { type: 43, body: [4, 0] }, { type: 60 }] }),
  icmpFrame('198.19.255.1', OUR_V4, 3, 1, quotedSegment(OUR_V4, PEER_V4, 5)),
  icmpFrame('2001:db8:ff::1', OUR_V6, 1, 4, quotedSegment(OUR_V6, PEER_V6, 5)),
];

function mutate(rand: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(rand() * n);
  const mode = pick(4);
  if (mode === 3) {
    // valid checksums, random flags and option bytes: reaches the option parser
    const options = Array.from({ length: pick(41) }, () => (rand() < 0.3 ? pick(10) : pick(256)));
    const v6 = rand() < 0.5;
    return tcpFrame({ src: v6 ? PEER_V6 : PEER_V4, dst: v6 ? OUR_V6 : OUR_V4, flags: pick(256), options });
  }
  const frame = seeds[pick(seeds.length)].slice();
  if (mode === 0 || mode === 2) {
    for (let n = 1 + pick(3); n > 0; n--) frame[pick(frame.length)] ^= 1 << pick(8);
  }
  if (mode === 1 || mode === 2) return frame.subarray(0, pick(frame.length + 1));
  return frame;
}

test('random truncations, bit flips and option lists: one counter per frame, nothing read past length', () => {
  const pipeline = makePipeline([OUR_V4, OUR_V6], [OUR_PORT]);
  const rand = prng(0x5eed);
  const GAP = 64;
  const perBatch = 1000;
  let total = 0;
  let accepted = 0;
  for (let round = 0; round < 5; round++) {
    const frames = Array.from({ length: perBatch }, () => mutate(rand));
    const size = frames.reduce((n, f) => n + f.length + GAP, 0);
    const offsets = new Uint32Array(perBatch);
    const lengths = new Uint32Array(perBatch);
    const outcome = (fill: number) => {
      const bytes = new Uint8Array(size).fill(fill);
      let at = 0;
      frames.forEach((f, i) => { bytes.set(f, at); offsets[i] = at; lengths[i] = f.length; at += f.length + GAP; });
      const batch = new BatchView();
      const before = pipeline.counters.slice();
      const rows = pipeline.process(bytes, offsets, lengths, perBatch, batch.buffer);
      const moved = addon.counterNames.map((_, i) => Number(pipeline.counters[i] - before[i]));
      return { rows, moved, batch: new Uint8Array(batch.buffer) };
    };
    const a = outcome(0x00);
    const b = outcome(0xff);
    const events = PARSE_COUNTERS.reduce((n, name) => n + a.moved[addon.counterNames.indexOf(name)], 0);
    const parsed = ['parsedSyn', 'parsedAck', 'parsedRst', 'parsedUnreach'].reduce((n, name) => n + a.moved[addon.counterNames.indexOf(name)], 0);
    assert.equal(events, perBatch, 'one parse counter per frame');
    assert.equal(a.rows, parsed, 'one row per accepted frame');
    assert.deepEqual(b.moved, a.moved, 'bytes past a frame changed its counter');
    assert.equal(b.rows, a.rows);
    assert.ok(Buffer.from(a.batch).equals(Buffer.from(b.batch)), 'bytes past a frame changed a row');
    total += perBatch;
    accepted += a.rows;
  }
  assert.equal(total, 5000);
  assert.ok(accepted > 0 && accepted < total, `some accepted, some dropped (${accepted}/${total})`);
});
