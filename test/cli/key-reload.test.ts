// --key-file and SIGHUP: the running command rereads the fleet key through
// reloadKey() and says so in one line (a {"type":"reload"} event with
// --json); a key file that went bad keeps the old key, says so, and the
// process runs on and exits 0. Without --key-file SIGHUP is reported as
// nothing to reload (its default would end the process).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { KeyReloader } from '../../lib/cli/key-reload.js';
import { cliIn, type CliChild } from '../helpers/cli-child.js';

const skip = labUnavailableReason();
let pair: PairLab;
const dir = mkdtempSync(join(tmpdir(), 'syncache-cli-key-'));
before(() => { if (!skip) pair = createPairLab('clikey', 53); });
after(() => { pair?.lab.destroy(); rmSync(dir, { recursive: true, force: true }); });

function keyFile(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, randomBytes(32), { mode: 0o600 });
  return path;
}

function listen(port: number, more: string[]): CliChild {
  return cliIn(pair.responder, ['listen', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', String(port), '--stats-interval', '0.2', ...more]);
}

/** Waits for the count of lines matching `match` to reach n. */
async function lines(run: CliChild, match: RegExp, n: number): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found = run.stdout().split('\n').filter((l) => match.test(l));
    if (found.length >= n) return found;
    if (Date.now() > deadline) throw new Error(`fewer than ${n} lines matching ${match}: ${run.stdout()} ${run.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('--json: SIGHUP rereads --key-file ({"type":"reload","ok":true}); a key file made readable by others is refused, the old key kept, and it runs on', { skip }, async () => {
  const key = keyFile('fleet.key');
  const run = listen(8080, ['--key-file', key, '--json']);
  try {
    await run.line(/"type":"stats"/);
    run.child.kill('SIGHUP');
    const [ok] = await lines(run, /"type":"reload"/, 1);
    assert.deepEqual({ ...JSON.parse(ok), time: undefined }, { type: 'reload', time: undefined, ok: true, keyFile: key });
    chmodSync(key, 0o644);
    run.child.kill('SIGHUP');
    const bad = JSON.parse((await lines(run, /"type":"reload"/, 2))[1]) as { ok: boolean; error: string };
    assert.equal(bad.ok, false);
    assert.match(bad.error, /can be read by others \(mode 0644\).*; kept the old key$/);
    const stats = (await lines(run, /"type":"stats"/, 1)).length;
    await lines(run, /"type":"stats"/, stats + 2);
  } finally {
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
  }
  assert.match(run.stdout().trim().split('\n').at(-1)!, /"type":"stats".*"final":true/);
});

test('text mode: SIGHUP says what it did on stderr, one line each; without --key-file it says there is nothing to reload and runs on', { skip }, async () => {
  const run = listen(8081, ['--key-file', keyFile('text.key')]);
  const plain = listen(8082, []);
  try {
    await run.line(/answering/);
    await plain.line(/answering/);
    run.child.kill('SIGHUP');
    plain.child.kill('SIGHUP');
    const deadline = Date.now() + 20_000;
    while ((!run.stderr().includes('\n') || !plain.stderr().includes('\n')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(run.stderr(), /^syncache: SIGHUP: reloaded the key file .*text\.key\n$/);
    assert.match(plain.stderr(), /^syncache: SIGHUP: no --key-file, nothing to reload\n$/);
  } finally {
    run.child.kill('SIGTERM');
    plain.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
    assert.equal(await plain.exited, 0, plain.stderr());
  }
});

test('a key file that is not a key: exit 1, one line saying how to make one', { skip }, async () => {
  const short = join(dir, 'short.key');
  writeFileSync(short, 'too short', { mode: 0o600 });
  const run = listen(8083, ['--key-file', short]);
  assert.equal(await run.exited, 1);
  assert.match(run.stderr(), /^syncache: key file .*short\.key holds 9 bytes; a key is 32 to 4096: create one with: head -c 32 \/dev\/urandom/);
  assert.equal(run.stderr().trim().split('\n').length, 1);
});

test('a SIGHUP that comes while the responder opens is carried out once it is open', (t) => {
  const written: string[] = [];
  t.mock.method(process.stdout, 'write', (chunk: string) => { written.push(chunk); return true; });
  let reloads = 0;
  const listeners = process.listenerCount('SIGHUP');
  const reloader = new KeyReloader('/etc/syncache/key', true);
  try {
    process.emit('SIGHUP', 'SIGHUP');
    assert.equal(reloads, 0);
    assert.deepEqual(written, [], 'nothing said before there is something to reload');
    reloader.attach({ reloadKey: () => { reloads++; } });
    assert.equal(reloads, 1);
    assert.match(written[0], /"type":"reload".*"ok":true,"keyFile":"\/etc\/syncache\/key"/);
    process.emit('SIGHUP', 'SIGHUP');
    assert.equal(reloads, 2);
  } finally {
    reloader.stop();
  }
  assert.equal(process.listenerCount('SIGHUP'), listeners);
});
