// The command line's errors: one line that says what to do, and an exit code
// a script can tell apart (2: how it was called; 1: what it ran into).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { unreadableBy } from '../../lib/handoff/split.js';
import { processStartTime, ownPidNamespace } from '../../lib/gate/owner-process.js';

const CLI = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));
const skip = labUnavailableReason();
let pair: PairLab;
before(() => { if (!skip) pair = createPairLab('cli', 3); });
after(() => pair?.lab.destroy());

function cli(args: string[], asNobody = false) {
  const cmd = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args] : [process.execPath, CLI, ...args];
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--help and --version', () => {
  const help = cli(['--help']);
  assert.equal(help.code, 0);
  for (const command of ['listen', 'serve', 'lab', 'cleanup']) assert.match(help.stdout, new RegExp(`syncache ${command}`));
  assert.match(cli(['listen', '--help']).stdout, /--syncookies MODE/);
  assert.match(cli(['--version']).stdout, /^\d+\.\d+\.\d+\n$/);
});

test('a bad flag or value: exit 2 and one line naming it', () => {
  for (const [args, message] of [
    [['listen', '--bogus'], /unknown option '--bogus'/],
    [['listen', '--iface', 'x', '--addr', '1.2.3.4', '--port', '99999'], /--port: '99999' is not a port/],
    [['listen', '--iface', 'x', '--addr', 'nope', '--port', '80'], /--addr: 'nope' is not an IPv4 or IPv6 address/],
    [['listen', '--iface', 'x', '--addr', '0.0.0.0', '--port', '80'], /--addr: 0\.0\.0\.0 is the wildcard .*give that interface's own addresses/],
    [['serve', '--iface', 'x', '--addr', '::', '--port', '80', '--forward', '127.0.0.1:81'], /--addr: :: is the wildcard/],
    [['listen', '--iface', 'x', '--addr', '127.0.0.1', '--port', '80'], /--addr: 127\.0\.0\.1 is a loopback address/],
    [['listen', '--iface', 'x', '--addr', '1.2.3.4', '--port', '80', '--syncookies', 'maybe'], /--syncookies must be one of off, on, only/],
    [['serve', '--iface', 'x', '--addr', '1.2.3.4', '--port', '80'], /--forward HOST:PORT is required/],
    [['nosuch'], /unknown command 'nosuch'/],
  ] as const) {
    const r = cli([...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('not root: exit 1 and one line saying to use sudo', (t) => {
  if (spawnSync('setpriv', ['--version']).status !== 0) return t.skip('setpriv (util-linux) is not installed');
  // From a checkout uid 65534 cannot read (e.g. inside a 0700 home) node
  // could not even load the CLI: there is no "needs root" to see.
  const unreadable = unreadableBy([CLI, fileURLToPath(new URL('../../lib', import.meta.url))], 65534, 65534);
  if (unreadable !== undefined) return t.skip(unreadable);
  const r = cli(['listen', '--iface', 'eth0', '--addr', '198.18.0.1', '--port', '80'], true);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /needs root .*run it with sudo/);
});

test('an address not on the interface: exit 1 and one line saying so', { skip }, () => {
  const r = cli(['listen', '--netns', pair.responder.name, '--iface', pair.responderIface, '--addr', '198.18.3.99', '--port', '80']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`198\\.18\\.3\\.99 is not configured on ${pair.responderIface}`));
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('an unknown interface: exit 1 and one line naming it', { skip }, () => {
  const r = cli(['listen', '--netns', pair.responder.name, '--iface', 'nope0', '--addr', pair.responderV4, '--port', '80']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nope0/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('cleanup removes a gate whose pid now belongs to another process, and reports one from another PID namespace as kept', { skip }, () => {
  const ns = pair.responder;
  const pidns = ownPidNamespace();
  const reused = `syncache_${process.pid}_950_s${processStartTime(process.pid)! + 7}_ns${pidns}`;
  const foreign = `syncache_${process.pid}_951_s1_ns${pidns + 1}`;
  for (const table of [reused, foreign]) ns.exec('nft', [`table inet ${table} { set ports { type inet_service; elements = { 9 }; }; }`]);
  try {
    const r = cli(['cleanup', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { gates: string[]; keptOtherPidNamespace: string[] };
    assert.ok(report.gates.includes(`${ns.name}/${reused}`), r.stdout);
    assert.ok(report.keptOtherPidNamespace.includes(`${ns.name}/${foreign}`), r.stdout);
    assert.ok(!report.gates.includes(`${ns.name}/${foreign}`), r.stdout);
    assert.equal(ns.exec('nft', ['list', 'tables']).trim(), `table inet ${foreign}`);
  } finally {
    ns.exec('nft', ['delete', 'table', 'inet', foreign]);
  }
});
