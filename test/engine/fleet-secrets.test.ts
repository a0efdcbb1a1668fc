// Fleet secrets: hosts with one key file hold the same cookie secrets at the
// same time, agree with clocks up to 5 s apart, and refuse another key's.
// Times are wall-clock ms handed in directly (no sleeps).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CookieSecrets } from '../../lib/engine/cookie-secrets.js';
import { EPOCH_MS, EPOCH_SKEW_MS, FleetKey, epochOf } from '../../lib/engine/fleet-key.js';

const dir = mkdtempSync(join(tmpdir(), 'syncache-fleet-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function keyFile(name: string, bytes: Buffer = randomBytes(32), mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, bytes, { mode });
  chmodSync(path, mode);
  return path;
}

/** The secret a cookie made now by `maker` carries, and whether `validator` holds it in that slot. */
function agrees(maker: CookieSecrets, validator: CookieSecrets): boolean {
  const slot = maker.activeSlot;
  const made = maker.secret(slot)!;
  const held = validator.secret(slot);
  return held !== null && Buffer.compare(Buffer.from(made), Buffer.from(held)) === 0;
}

test('a key file must exist, be 0600 and hold 32 bytes or more; each error says what to do', () => {
  assert.throws(() => FleetKey.load(join(dir, 'missing')), { code: 'ENOENT', message: /does not exist: create one with: head -c 32 \/dev\/urandom/ });
  assert.throws(() => FleetKey.load(keyFile('open', randomBytes(32), 0o644)), { code: 'EPERM', message: /mode 0644\): chmod 600/ });
  assert.throws(() => FleetKey.load(keyFile('short', randomBytes(31))), { code: 'EINVAL', message: /31 bytes; a key is 32 to 4096/ });
  assert.throws(() => FleetKey.load(dir), { message: /not a regular file/ });
  assert.doesNotThrow(() => FleetKey.load(keyFile('good')));
});

test('two hosts with one key agree on every cookie made while their clocks are within 5 s', () => {
  const path = keyFile('shared');
  const base = 1_800_000_000_000; // some wall-clock time
  for (const made of [0, 1, 4_999, 5_000, 9_999, 10_000, 14_999]) {
    for (const skew of [-4_900, -2_000, 0, 2_000, 4_900]) {
      for (const later of [0, 100, 4_000]) {
        // The maker's clock reads t; the validator's reads t + skew, `later` ms after (the ACK's way back).
        const t = base + made;
        const maker = CookieSecrets.createFleet(FleetKey.load(path), t);
        const validator = CookieSecrets.createFleet(FleetKey.load(path), t + skew + later);
        assert.ok(agrees(maker, validator), `made ${made} ms into an epoch, validator ${skew} ms off, ACK ${later} ms later`);
      }
    }
  }
});

test('a cookie lives at least 10 s and at most 25 s on hosts with one clock; then it is refused', () => {
  const path = keyFile('life');
  const start = epochOf(1_800_000_000_000) * EPOCH_MS;
  const lastMoment = start + EPOCH_MS - 1;
  const maker = CookieSecrets.createFleet(FleetKey.load(path), lastMoment);
  const validator = CookieSecrets.createFleet(FleetKey.load(path), lastMoment);
  validator.maybeRotate(lastMoment + EPOCH_MS - EPOCH_SKEW_MS - 1);
  assert.ok(agrees(maker, validator), 'valid 10 s after it was made at the end of its epoch');
  validator.maybeRotate(lastMoment + EPOCH_MS - EPOCH_SKEW_MS + 1);
  assert.ok(!agrees(maker, validator), 'still valid after its secret was replaced');
  const early = CookieSecrets.createFleet(FleetKey.load(path), start);
  const v2 = CookieSecrets.createFleet(FleetKey.load(path), start);
  v2.maybeRotate(start + 2 * EPOCH_MS - EPOCH_SKEW_MS - 1);
  assert.ok(agrees(early, v2), 'valid 25 s after it was made at the start of its epoch');
});

test('following the epochs, the slots change only at the schedule\'s moments and the owner\'s epoch is the clock\'s', () => {
  const key = FleetKey.load(keyFile('sched'));
  const start = epochOf(1_800_000_000_000) * EPOCH_MS;
  const s = CookieSecrets.createFleet(key, start + 1_000);
  assert.equal(s.epoch, epochOf(start));
  assert.equal(s.maybeRotate(start + 2_000), false);
  assert.equal(s.maybeRotate(start + EPOCH_MS - EPOCH_SKEW_MS), true, 'the next epoch\'s secret comes 5 s early');
  assert.equal(s.epoch, epochOf(start), 'but new cookies keep the current one');
  assert.equal(s.maybeRotate(start + EPOCH_MS), false, 'at the epoch only the active slot moves');
  assert.equal(s.epoch, epochOf(start) + 1);
  assert.throws(() => s.rotate(), /follow the clock/);
});

test('another key\'s cookies are refused', () => {
  const t = 1_800_000_000_000;
  const a = CookieSecrets.createFleet(FleetKey.load(keyFile('a')), t);
  const b = CookieSecrets.createFleet(FleetKey.load(keyFile('b')), t);
  assert.ok(!agrees(a, b));
});

test('a reloaded key makes the secrets of later epochs; the old key\'s cookies live out their time', () => {
  const path = keyFile('roll');
  const start = epochOf(1_800_000_000_000) * EPOCH_MS;
  const host = CookieSecrets.createFleet(FleetKey.load(path), start);
  const oldMaker = CookieSecrets.createFleet(FleetKey.load(path), start);
  writeFileSync(path, randomBytes(32));
  host.reloadKey();
  assert.ok(agrees(oldMaker, host), 'the old key\'s cookie of this epoch is still valid');
  host.maybeRotate(start + EPOCH_MS);
  const newMaker = CookieSecrets.createFleet(FleetKey.load(path), start + EPOCH_MS);
  assert.ok(agrees(newMaker, host), 'the next epoch uses the new key');
  assert.ok(agrees(oldMaker, host), 'and the old key\'s cookie lives on through it');
  writeFileSync(path, randomBytes(8));
  assert.throws(() => host.reloadKey(), /8 bytes/);
  assert.ok(agrees(newMaker, host), 'a bad key file leaves the secrets as they were');
});

test('random per-host secrets have no key to reload', () => {
  assert.throws(() => CookieSecrets.create(0).reloadKey(), /no key file/);
  assert.equal(CookieSecrets.create(0).epoch, null);
});
