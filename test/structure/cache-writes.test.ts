// The SYN cache's typed arrays are written by SynCache alone: its methods
// keep the bucket lists, the heap of bucket deadlines and the entry states
// in step (a deadline written from outside once left its bucket's timer
// late). Outside lib/engine/syncache.ts, lib/ reads them and calls methods.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SynCache } from '../../lib/engine/syncache.js';
import { resolveConfig } from '../../lib/engine/config.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return tsFiles(path);
    return d.name.endsWith('.ts') ? [path] : [];
  });
}

test('nothing in lib/ but SynCache writes the cache\'s typed arrays', () => {
  const cache = new SynCache(resolveConfig({ cacheLimit: 1, hashSize: 1 }));
  const arrays = Object.entries(cache).filter(([, v]) => ArrayBuffer.isView(v)).map(([k]) => k);
  assert.ok(arrays.includes('deadline') && arrays.includes('flags'), `found the arrays ${arrays.join(', ')}`);
  // `cache.x[i] = `, `cache?.x[i] |= `, `(this.cache as SynCache).x[i]++` ...
  const write = new RegExp(String.raw`(\bcache\??|\(this\.cache as SynCache\))\.(${arrays.join('|')})\[[^\]]*\]\s*(=(?!=)|[|&^+\-*]=|\+\+|--)`, 'g');
  const found: string[] = [];
  for (const file of tsFiles(join(ROOT, 'lib'))) {
    if (file.endsWith(join('engine', 'syncache.ts'))) continue;
    readFileSync(file, 'utf8').split('\n').forEach((line, n) => {
      if (write.test(line)) found.push(`${relative(ROOT, file)}:${n + 1}: ${line.trim()}`);
      write.lastIndex = 0;
    });
  }
  assert.deepEqual(found, []);
});
