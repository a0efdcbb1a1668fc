// SYN cache hot paths, one process per run: `node dist/bench/syncache.js`
// (1M entries) or `node dist/bench/syncache.js 15360 8192` (the defaults).
// Measures the SYN path on a full cache (lookup miss, allocate with
// eviction, setKey, link), lookup misses walking full buckets, timer runs,
// and the resident memory of a filled 1-million-entry cache against the
// typed-array figure (bytesPerEntry). Numbers are for comparison between runs
// on one machine, not targets.
import { resolveConfig } from '../lib/engine/config.js';
import { SynCache } from '../lib/engine/syncache.js';

const ROWS = 2048;
const saddr = new Uint32Array(ROWS * 4);
const daddr = new Uint32Array(ROWS * 4);
const sport = new Uint16Array(ROWS);
const hash = new Uint32Array(ROWS);
let seed = 1;
function fillBatch(): void {
  for (let i = 0; i < ROWS; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    saddr[i * 4] = seed;
    daddr[i * 4] = 0x011312c6; // 198.18.19.1
    sport[i] = seed & 0xffff;
    hash[i] = Math.imul(seed ^ (seed >>> 15), 0x9e3779b1) >>> 0;
  }
}

const rssBefore = process.memoryUsage().rss;
// node dist/bench/syncache.js [cacheLimit=1000000] [hashSize=65536]
const cacheLimit = Number(process.argv[2] ?? 1_000_000);
const hashSize = Number(process.argv[3] ?? 65536);
const cache = new SynCache(resolveConfig({ hashSize, bucketLimit: 30, cacheLimit }));
let now = 0;
let added = 0;
const synPath = (): void => {
  for (let i = 0; i < ROWS; i++) {
    if (cache.lookup(4, saddr, i * 4, daddr, i * 4, sport[i], 80, hash[i]) >= 0) continue;
    const e = cache.allocate(hash[i]);
    if (e < 0) continue;
    cache.setKey(e, 4, saddr, i * 4, daddr, i * 4, sport[i], 80);
    cache.link(e, now);
    added++;
  }
};
const noop = (): void => {};

// Fill (also the warm-up).
while (cache.size < cache.cacheLimit * 0.99) { fillBatch(); synPath(); }
const rssFull = process.memoryUsage().rss;
const filled = cache.size;

let t0 = performance.now();
added = 0;
for (let r = 0; r < 500; r++) { fillBatch(); synPath(); now++; }
const synRate = added / ((performance.now() - t0) / 1000);

const meanBucketLength = Number((cache.size / cache.hashSize).toFixed(1));
fillBatch();
let misses = 0;
t0 = performance.now();
for (let r = 0; r < 200; r++) for (let i = 0; i < ROWS; i++) if (cache.lookup(4, saddr, i * 4, daddr, i * 4, sport[i], 80, hash[i]) < 0) misses++;
const lookupRate = misses / ((performance.now() - t0) / 1000);

// Expand: the ACK path for entries that are there (lookup hit, unlink, free),
// each batch first added so the cache stays full.
let expanded = 0;
let expandMs = 0;
for (let r = 0; r < 200; r++) {
  fillBatch();
  synPath();
  const t = performance.now();
  for (let i = 0; i < ROWS; i++) {
    const e = cache.lookup(4, saddr, i * 4, daddr, i * 4, sport[i], 80, hash[i]);
    if (e < 0) continue;
    cache.unlink(e);
    cache.remove(e);
    expanded++;
  }
  expandMs += performance.now() - t;
}
const expandRate = expanded / (expandMs / 1000);

t0 = performance.now();
let handled = 0;
for (let k = 0; k < 20; k++) { now += 1000; handled += cache.expire(now, noop, noop); }
const expireRate = handled / ((performance.now() - t0) / 1000);

console.log(JSON.stringify({
  entries: cache.cacheLimit,
  bytesPerEntry: Number(cache.bytesPerEntry.toFixed(2)),
  rssPerEntryBytes: Number(((rssFull - rssBefore) / filled).toFixed(1)),
  rssFullMB: Number((rssFull / 2 ** 20).toFixed(1)),
  synPathPerSec: Math.round(synRate),
  expandPerSec: Math.round(expandRate),
  lookupMissPerSec: Math.round(lookupRate),
  meanBucketLength,
  expireEntriesPerSec: Math.round(expireRate),
}));
