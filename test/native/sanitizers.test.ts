// The native packet path (parser, cookies, builder; what the handoff does
// with frames still in the ring; the next-hop table) built on its own with
// AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer
// (native/fuzz), then fed the malformed-frame corpus and 300,000 mutations of
// well-formed SYNs, ACKs and RSTs: no memory error, no undefined behaviour,
// no leak, every frame either accepted or counted under a reason, a
// handed-over flow's segments taken before a receive and counted, and peeks
// at flows' data that stay within their buffer. And the TPACKET and AF_XDP
// ring walkers (native/io/tpacket_ring.h, xsk_ring.h) over rings a model
// kernel writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SOURCE = `${ROOT}native/fuzz`;
const BUILD = `${ROOT}build/fuzz`;
const CORPUS = `${ROOT}test/fixtures/malformed-frames.json`;

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => existsSync(`${dir}/${cmd}`));
}

const skip = !onPath('cmake') ? 'cmake is not installed (apt-get install cmake)' : !onPath('g++') ? 'g++ is not installed' : undefined;

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('under ASan, LSan and UBSan the native packet path survives the corpus and 300,000 mutated frames', { skip, timeout: 300_000 }, (t) => {
  const configured = run('cmake', ['-S', SOURCE, '-B', BUILD, '-DCMAKE_BUILD_TYPE=Debug']);
  assert.equal(configured.status, 0, configured.out);
  const built = run('cmake', ['--build', BUILD, '-j2']);
  assert.equal(built.status, 0, built.out);

  const dir = mkdtempSync(`${tmpdir()}/syncache-fuzz-`);
  try {
    const corpus = JSON.parse(readFileSync(CORPUS, 'utf8')) as { frames: Array<{ hex: string }> };
    writeFileSync(`${dir}/frames.hex`, corpus.frames.map((f) => f.hex).join('\n') + '\n');
    const seed = randomInt(1, 2 ** 31);
    const fuzz = run(`${BUILD}/pipeline_fuzz`, ['--corpus', `${dir}/frames.hex`, '--iterations', '300000', '--seed', String(seed)]);
    t.diagnostic(`seed ${seed} (rerun: build/fuzz/pipeline_fuzz --seed ${seed} ...): ${fuzz.out.trim().split('\n').pop()}`);
    assert.equal(fuzz.status, 0, fuzz.out);
    const summary = JSON.parse(fuzz.out.trim().split('\n').pop()!) as {
      frames: number; accepted: number; miscounted: number; skipped: number; peeked: number; lookAheadErrors: number;
    };
    assert.equal(summary.frames, 300_000 + corpus.frames.length + 16);
    assert.equal(summary.miscounted, 0);
    assert.ok(summary.accepted > 16, 'the mutations reach past the first checks');
    assert.ok(summary.skipped > 0, 'HandedOverSkip takes handed-over segments');
    assert.ok(summary.peeked > 0, 'PeekSerializer copies data segments out');
    assert.equal(summary.lookAheadErrors, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('under ASan, LSan and UBSan the next-hop table agrees with a plain model over 400,000 random operations', { skip, timeout: 300_000 }, (t) => {
  const configured = run('cmake', ['-S', SOURCE, '-B', BUILD, '-DCMAKE_BUILD_TYPE=Debug']);
  assert.equal(configured.status, 0, configured.out);
  const built = run('cmake', ['--build', BUILD, '-j2', '--target', 'next_hop_table_check']);
  assert.equal(built.status, 0, built.out);
  const seed = randomInt(1, 2 ** 31);
  const check = run(`${BUILD}/next_hop_table_check`, ['--iterations', '400000', '--seed', String(seed)]);
  t.diagnostic(`seed ${seed} (rerun: build/fuzz/next_hop_table_check --seed ${seed}): ${check.out.trim().split('\n').pop()}`);
  assert.equal(check.status, 0, check.out);
  const summary = JSON.parse(check.out.trim().split('\n').pop()!) as { lookups: number; neighbours: number; mismatches: number };
  assert.equal(summary.mismatches, 0);
  assert.ok(summary.lookups > 100_000);
  assert.ok(summary.neighbours > 3000, 'the table ran nearly full');
});

test('under ASan and UBSan the TPACKET ring walkers take every frame a model kernel writes once, and stay inside the ring when a header is wrong', { skip, timeout: 300_000 }, (t) => {
  const configured = run('cmake', ['-S', SOURCE, '-B', BUILD, '-DCMAKE_BUILD_TYPE=Debug']);
  assert.equal(configured.status, 0, configured.out);
  const built = run('cmake', ['--build', BUILD, '-j2', '--target', 'tpacket_ring_check']);
  assert.equal(built.status, 0, built.out);
  const seed = randomInt(1, 2 ** 31);
  const check = run(`${BUILD}/tpacket_ring_check`, ['--rounds', '20000', '--seed', String(seed)]);
  t.diagnostic(`seed ${seed} (rerun: build/fuzz/tpacket_ring_check --seed ${seed}): ${check.out.trim().split('\n').pop()}`);
  assert.equal(check.status, 0, check.out);
  const summary = JSON.parse(check.out.trim().split('\n').pop()!) as {
    v3Taken: number; v3Corrupted: number; v2Received: number; v2Urgent: number; v2Skipped: number; v2Peeked: number; v2Corrupted: number; failures: number;
  };
  assert.equal(summary.failures, 0);
  for (const [name, value] of Object.entries(summary)) {
    if (name !== 'failures') assert.ok(value > 0, `${name} > 0: every path of the walkers ran`);
  }
});

test('under ASan and UBSan the AF_XDP ring walkers take every frame a model kernel writes once, and follow no bad descriptor, completion or index', { skip, timeout: 300_000 }, (t) => {
  const configured = run('cmake', ['-S', SOURCE, '-B', BUILD, '-DCMAKE_BUILD_TYPE=Debug']);
  assert.equal(configured.status, 0, configured.out);
  const built = run('cmake', ['--build', BUILD, '-j2', '--target', 'xsk_ring_check']);
  assert.equal(built.status, 0, built.out);
  const seed = randomInt(1, 2 ** 31);
  const check = run(`${BUILD}/xsk_ring_check`, ['--rounds', '20000', '--seed', String(seed)]);
  t.diagnostic(`seed ${seed} (rerun: build/fuzz/xsk_ring_check --seed ${seed}): ${check.out.trim().split('\n').pop()}`);
  assert.equal(check.status, 0, check.out);
  const summary = JSON.parse(check.out.trim().split('\n').pop()!) as Record<string, number>;
  assert.equal(summary.failures, 0);
  for (const [name, value] of Object.entries(summary)) {
    if (name !== 'failures') assert.ok(value > 0, `${name} > 0: every path of the walkers ran`);
  }
});
