import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../lib/engine/config.js';

test('defaults follow the seed sysctls, with more buckets for the same entries', () => {
  const c = resolveConfig();
  assert.equal(c.hashSize, 8192);
  assert.equal(c.bucketLimit, 30);
  assert.equal(c.cacheLimit, 512 * 30);
  assert.equal(c.rexmtLimit, 3);
  assert.equal(c.syncookies, 'on');
  assert.equal(c.mss, 1460);
  assert.equal(c.mss6, 1440);
  assert.equal(c.windowScale, 7);
  assert.equal(c.window, 65535);
  assert.equal(c.rexmtInitialMs, 1000);
  assert.equal(c.cookieRotateMs, 15000);
  assert.equal(c.pauseMs, 15000);
  assert.ok(Object.isFrozen(c));
});

test("cacheLimit defaults to hashSize x bucketLimit once either is set, else the seed's 15,360; mss6 derives from mss", () => {
  const c = resolveConfig({ hashSize: 1024, bucketLimit: 4, mss: 9000 });
  assert.equal(c.cacheLimit, 4096);
  assert.equal(resolveConfig({ hashSize: 65536 }).cacheLimit, 65536 * 30);
  assert.equal(resolveConfig({ bucketLimit: 2 }).cacheLimit, 8192 * 2);
  assert.equal(resolveConfig({}).cacheLimit, 15360);
  assert.equal(c.mss6, 8980);
  assert.equal(resolveConfig({ mss: 536 }).mss6, 1220);
  assert.equal(resolveConfig({ cacheLimit: 7 }).cacheLimit, 7);
});

test('validation errors name the field and the allowed range', () => {
  const cases: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
    [{ hashSize: 1000 }, RangeError, /^hashSize must be a power of 2 from 1 to 2\^24, got 1000$/],
    [{ hashSize: 2 ** 24, bucketLimit: 30 }, RangeError, /^cacheLimit must be .*hashSize 16777216 x bucketLimit 30/],
    [{ hashSize: 2 ** 25 }, RangeError, /^hashSize must be an integer from 1 to 2\^24, got 33554432$/],
    [{ hashSize: '512' }, TypeError, /^hashSize must be an integer from 1 to 2\^24, got "512"$/],
    [{ hashSize: 0 }, RangeError, /^hashSize /],
    [{ bucketLimit: 0 }, RangeError, /^bucketLimit must be an integer from 1 to 65535, got 0$/],
    [{ bucketLimit: 1.5 }, TypeError, /^bucketLimit must be an integer from 1 to 65535, got 1.5$/],
    [{ cacheLimit: 2 ** 27 }, RangeError, /^cacheLimit must be an integer from 1 to 2\^26, got 134217728$/],
    [{ rexmtLimit: 9 }, RangeError, /^rexmtLimit must be an integer from 0 to 8, got 9$/],
    [{ syncookies: 'yes' }, TypeError, /^syncookies must be 'off', 'on' or 'only', got "yes"$/],
    [{ mss: 100 }, RangeError, /^mss must be an integer from 536 to 65495, got 100$/],
    [{ mss6: 1000 }, RangeError, /^mss6 must be an integer from 1220 to 65475, got 1000$/],
    [{ windowScale: 15 }, RangeError, /^windowScale must be an integer from 0 to 14, got 15$/],
    [{ window: 70000 }, RangeError, /^window must be an integer from 1 to 65535, got 70000$/],
    [{ rexmtInitialMs: 0 }, RangeError, /^rexmtInitialMs must be an integer from 1 to 60000, got 0$/],
    [{ cookieRotateMs: 10 }, RangeError, /^cookieRotateMs must be an integer from 100 to 3600000, got 10$/],
    [{ pauseMs: -1 }, RangeError, /^pauseMs must be an integer from 0 to 3600000, got -1$/],
    [{ hashsize: 512 }, TypeError, /^unknown config field "hashsize" \(known: hashSize, /],
  ];
  for (const [input, type, message] of cases) {
    assert.throws(() => resolveConfig(input as never), (e: unknown) => {
      assert.ok(e instanceof type, `${JSON.stringify(input)} threw ${String(e)}`);
      assert.match((e as Error).message, message);
      return true;
    });
  }
  assert.throws(() => resolveConfig(null as never), /^TypeError: config must be an object, got null$/);
});

test('accepts every syncookies mode and undefined as "use the default"', () => {
  for (const mode of ['off', 'on', 'only'] as const) assert.equal(resolveConfig({ syncookies: mode }).syncookies, mode);
  assert.equal(resolveConfig({ hashSize: undefined }).hashSize, 8192);
});
