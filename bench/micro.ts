// npm run bench: the microbenchmarks, each in a process of its own so one
// cannot warm or pollute another's heap, then one table against the targets.
//   cookie.js    native MD5 cookie vs @noble/hashes md5 (same process)
//   pipeline.js  parse + cookie + build SYN-ACK, and the whole SYN path
//   syncache.js  cache add + expand, bytes per entry, 1M-entry RSS
// Run: node dist/bench/micro.js [--json]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { machine as hostLine } from './common.js';
import { saveResult } from './results.js';

const json = process.argv.includes('--json');
const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
function run(script: string, args: string[] = []): string {
  if (!json) process.stderr.write(`  ${script} ${args.join(' ')}\n`);
  return execFileSync(process.execPath, ['--expose-gc', here(script), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

const cookie = JSON.parse(run('cookie.js', ['--json'])) as { lanes: number; avx2: boolean; callVsNoble: number; lanesVsOneAtATime: number; cookieMadeVsNoble: number; cookieCheckedVsNoble: number };
const pipeline = JSON.parse(run('pipeline.js', ['--json'])) as { results: Array<{ name: string; nsPerSyn: number; synPerSecond: number }> };
const cache1m = run('syncache.js');

const cookieVsNoble = cookie.cookieMadeVsNoble;
const callVsNoble = cookie.callVsNoble;
const cacheLine = cache1m.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}';
const cache = JSON.parse(cacheLine) as Record<string, number>;
const parse = pipeline.results[0];

const machine = hostLine();
const rows = [
  { what: 'native MD5 cookie (batch) vs @noble/hashes md5', value: `${cookieVsNoble.toFixed(1)}x`, target: '>= 10x', ok: cookieVsNoble >= 10 },
  { what: 'native md5() per JS call vs @noble/hashes md5', value: `${callVsNoble.toFixed(1)}x`, target: '(call overhead)', ok: true },
  { what: 'parse + cookie + build SYN-ACK, one core', value: `${(parse.synPerSecond / 1e6).toFixed(2)} M SYN/s`, target: '>= 2 M SYN/s', ok: parse.synPerSecond >= 2e6 },
  ...pipeline.results.slice(1).map((r) => ({ what: r.name, value: `${(r.synPerSecond / 1e6).toFixed(2)} M SYN/s`, target: '', ok: true })),
  { what: 'cache add (lookup miss, allocate, link), 1M entries', value: `${((cache.synPathPerSec ?? NaN) / 1e6).toFixed(2)} M/s`, target: '', ok: true },
  { what: 'cache expand (lookup hit, unlink, free), 1M entries', value: `${((cache.expandPerSec ?? NaN) / 1e6).toFixed(2)} M/s`, target: '', ok: true },
  { what: 'bytes per cache entry (typed arrays)', value: `${cache.bytesPerEntry?.toFixed?.(1) ?? '?'}`, target: '<= 128', ok: (cache.bytesPerEntry ?? Infinity) <= 128 },
  { what: '1M-entry cache, process RSS', value: `${(cache.rssFullMB ?? NaN).toFixed(0)} MB`, target: '< 200 MB', ok: (cache.rssFullMB ?? Infinity) < 200 },
];
const record = { type: 'micro', date: new Date().toISOString(), machine, rows, cookie, cache, pipeline: pipeline.results };
const saved = saveResult('micro', record);
if (!json) process.stderr.write(`  (appended to ${saved})\n`);
if (json) {
  console.log(JSON.stringify(record));
} else {
  console.log(`\nmicrobenchmarks ${new Date().toISOString()} on ${machine}\n`);
  console.log(`MD5: ${cookie.lanes} lanes${cookie.avx2 ? ' (AVX2)' : ''}, ${cookie.lanesVsOneAtATime.toFixed(2)}x one at a time; cookies checked (batch) ${cookie.cookieCheckedVsNoble.toFixed(1)}x noble md5\n`);
  console.log('| what | measured | target | |');
  console.log('|---|---:|---:|---|');
  for (const r of rows) console.log(`| ${r.what} | ${r.value} | ${r.target} | ${r.ok ? 'ok' : 'MISSED'} |`);
}
