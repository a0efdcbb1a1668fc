// The command line's errors: one line that says what to do, and an exit code
// a script can tell apart (2: how it was called; 1: what it ran into).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CLI } from '../helpers/cli-child.js';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { processStartTime, ownPidNamespace } from '../../lib/gate/owner-process.js';

const skip = labUnavailableReason();
let pair: PairLab;
before(() => { if (!skip) pair = createPairLab('cli', 3); });
after(() => pair?.lab.destroy());

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--help and --version', () => {
  const help = cli(['--help']);
  assert.equal(help.code, 0);
  for (const command of ['listen', 'serve', 'lab', 'cleanup']) assert.match(help.stdout, new RegExp(`syncache ${command}`));
  assert.match(cli(['listen', '--help']).stdout, /--syncookies MODE/);
  assert.match(cli(['--version']).stdout, /^\d+\.\d+\.\d+\n$/);
});

test('each command\'s --help names every flag it takes, and only those', async () => {
  const { runListen } = await import('../../lib/cli/listen.js');
  const { runServe } = await import('../../lib/cli/serve.js');
  const { runLab } = await import('../../lib/cli/lab.js');
  const { runCleanup } = await import('../../lib/cli/cleanup.js');
  for (const [name, command] of Object.entries({ listen: runListen, serve: runServe, lab: runLab, cleanup: runCleanup })) {
    const help = cli([name, '--help']).stdout;
    assert.equal(help, command.help);
    const named = new Set([...help.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]));
    assert.deepEqual([...named].filter((f) => !(f in command.options)).sort(), [], `${name} --help names flags it does not take`);
    assert.deepEqual(Object.keys(command.options).filter((f) => !named.has(f)).sort(), [], `${name} --help leaves out flags it takes`);
  }
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
    // resolveConfig's own checks, said in the flag's name (main: exit 1, 'hashSize').
    [['listen', '--iface', 'x', '--addr', '1.2.3.4', '--port', '80', '--hash-size', '1000'], /^syncache: --hash-size must be a power of 2/],
    [['listen', '--iface', 'x', '--addr', '1.2.3.4', '--port', '80', '--hash-size', '16777216', '--bucket-limit', '8'], /^syncache: --cache-limit must be .*\(--hash-size 16777216 x --bucket-limit 8\): set --cache-limit/],
    // A negative number is a value, checked by our range (main: Node's parser wording).
    [['lab', '--seconds', '-1'], /^syncache: --seconds must be an integer from 1 to 3600, got '-1'/],
    [['listen', '--iface', 'x', '--addr', '1.2.3.4', '--port', '80', '--pause-ms', '-5'], /^syncache: --pause-ms must be an integer from 0 to/],
    [['lab', '--seconds'], /^syncache: --seconds needs a value\./],
    [['lab', '--seconds', '--json'], /^syncache: --seconds needs a value; to give one that starts with a dash, write --seconds=-VALUE/],
    [['lab', '--json=yes'], /^syncache: --json takes no value/],
    [['lab', 'now'], /^syncache: unexpected argument 'now'/],
    [['listen', '--iface', 'x', '--addr', '1.2.3.4', '--port', '80', '--workers', 'many'], /^syncache: --workers must be an integer/],
    [['listen', '--iface', 'x', '--addr', '1.2.3.4', '--port', '80', '--metrics', '9464'], /^syncache: --metrics must be HOST:PORT/],
    [['lab', '--metrics', 'localhost:0'], /^syncache: --metrics must be HOST:PORT/],
    [['serve', '--iface', 'x', '--addr', '1.2.3.4', '--port', '80', '--forward', 'nope'], /^syncache: --forward must be HOST:PORT/],
    [['listen', '--iface', 'x', '--addr', '1.2.3.4', '--port', '80', '--stats-interval', '-1'], /^syncache: --stats-interval must be a number from 0.1 to 3600, got '-1'/],
  ] as const) {
    const r = cli([...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
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
