// The SSE2 build of the MD5 lanes and the flow hash (what runs on a CPU
// without AVX2) gives the same digests, hashes and cookies as the AVX2 build:
// two child processes, one with SYNCACHE_NO_AVX2=1, run the same fixed work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const addonUrl = pathToFileURL(path.resolve(here, '../../lib/native/addon.js')).href;
const batchUrl = pathToFileURL(path.resolve(here, '../../lib/native/batch.js')).href;

const script = `
import { addon } from ${JSON.stringify(addonUrl)};
import { BatchView, BATCH_CAPACITY } from ${JSON.stringify(batchUrl)};
const lanes = addon.cookie.md5Lanes;
const words = new Uint32Array(16 * lanes).map((_, i) => Math.imul(i + 1, 2654435761) >>> 0);
const digests = new Uint32Array(4 * lanes);
addon.md5Lanes(words, digests);
const S = addon.secretsLayout;
const secrets = new Uint8Array(new SharedArrayBuffer(S.byteLength)).map((_, i) => (i * 29 + 3) & 0xff);
const w = new Uint32Array(secrets.buffer);
w[S.version / 4] = 0; w[S.version / 4 + 1] = 0; w[S.valid / 4] = 1; w[S.valid / 4 + 1] = 1; w[S.active / 4] = 1;
const b = new BatchView();
const n = BATCH_CAPACITY - 5;
for (let i = 0; i < n; i++) {
  b.kind[i] = addon.constants.kinds.syn;
  b.family[i] = i % 2 ? 4 : 6;
  for (let k = 0; k < 4; k++) b.saddr[i * 4 + k] = Math.imul(i * 4 + k + 1, 0x9e3779b1) >>> 0;
  b.daddr[i * 4] = 0x010013c6;
  b.sport[i] = i; b.dport[i] = 80; b.seq[i] = Math.imul(i, 7919) >>> 0;
  b.optFlags[i] = addon.constants.optFlags.mss; b.mss[i] = 1000 + i;
}
addon.processCookies(b.buffer, n, secrets, 'on');
console.log(JSON.stringify({ avx2: addon.cookie.md5Avx2, digests: [...digests], hash: [...b.hash.subarray(0, n)], cookie: [...b.cookie.subarray(0, n)] }));
`;

function runChild(env: NodeJS.ProcessEnv): { avx2: boolean; digests: number[]; hash: number[]; cookie: number[] } {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  return JSON.parse(out);
}

test('SSE2 and AVX2 builds agree on MD5 lanes, flow hashes and cookies', (t) => {
  const fast = runChild({ ...process.env, SYNCACHE_NO_AVX2: undefined });
  const baseline = runChild({ ...process.env, SYNCACHE_NO_AVX2: '1' });
  assert.equal(baseline.avx2, false);
  if (!fast.avx2) t.diagnostic('this CPU has no AVX2: both runs used the SSE2 build');
  assert.deepEqual(baseline.digests, fast.digests);
  assert.deepEqual(baseline.hash, fast.hash);
  assert.deepEqual(baseline.cookie, fast.cookie);
});
