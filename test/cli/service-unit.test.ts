// The shipped systemd unit (lib/cli/syncache.service): its settings are the
// ones the README promises, systemd-analyze finds nothing to ignore in it,
// and its ExecStart, run as written with a test config, serves a kernel
// client's curl - as root with the config pointing into a lab namespace
// (--netns), and as the unit runs it: a non-root uid with exactly the unit's
// capabilities (ambient and bounding) and no_new_privs. Its ExecReload
// rereads the key file. No systemd is needed: the lines are run as systemd
// would run them, inside the lab's responder namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { unreadableBy } from '../../lib/handoff/split.js';
import { CLI, runIn } from '../helpers/cli-child.js';
import { track } from '../helpers/children.js';

const UNIT = fileURLToPath(new URL('../../../lib/cli/syncache.service', import.meta.url));
const skip = labUnavailableReason() ?? (spawnSync('curl', ['--version']).status === 0 ? undefined : 'curl is not installed');
const setprivMissing = spawnSync('setpriv', ['--version']).status === 0 ? undefined : 'setpriv (util-linux) is not installed';
const asUnitSkip = skip ?? setprivMissing ?? unreadableBy([CLI, fileURLToPath(new URL('../../lib', import.meta.url))], 65534, 65534);
let pair: PairLab;
const dir = mkdtempSync(join(tmpdir(), 'syncache-cli-unit-'));
chmodSync(dir, 0o755);
before(() => { if (!skip) pair = createPairLab('cliunit', 54); });
after(() => { pair?.lab.destroy(); rmSync(dir, { recursive: true, force: true }); });

/** A unit file's settings: section -> key -> values (in order; a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1], current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `not a setting: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const unit = parseUnit(readFileSync(UNIT, 'utf8'));
const service = unit.get('Service')!;
const one = (key: string): string => {
  const v = service.get(key);
  assert.equal(v?.length, 1, `${key} once in [Service]`);
  return v![0];
};

test('the unit runs serve from a config file with two capabilities, restarts on failure, reloads with SIGHUP, and is hardened without losing its sockets', () => {
  assert.deepEqual(one('ExecStart').split(/\s+/).slice(1), ['serve', '--config', '/etc/syncache/serve.json']);
  assert.match(one('ExecStart'), /^\/\S+\/syncache /);
  assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one('Restart'), 'on-failure');
  assert.deepEqual(one('AmbientCapabilities').split(/\s+/).sort(), ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
  assert.deepEqual(one('CapabilityBoundingSet').split(/\s+/).sort(), ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
  assert.ok(service.has('User') || one('DynamicUser') === 'yes', 'a user of its own');
  assert.notEqual(service.get('User')?.[0], 'root');
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('ProtectSystem'), 'strict');
  const families = one('RestrictAddressFamilies').split(/\s+/);
  for (const f of ['AF_PACKET', 'AF_NETLINK', 'AF_INET', 'AF_INET6']) assert.ok(families.includes(f), `${f} allowed`);
  assert.ok(!service.has('PrivateNetwork'), 'it works on the host\'s interfaces');
  assert.ok(!service.has('MemoryDenyWriteExecute'), 'V8 needs W+X pages');
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { files: string[] };
  assert.ok(pkg.files.includes('lib/'), 'the package ships lib/, the unit with it');
});

test('systemd-analyze verify finds no unknown or ignored setting in the unit', (t) => {
  if (spawnSync('systemd-analyze', ['--version']).status !== 0) return t.skip('systemd-analyze is not installed');
  // verify checks that ExecStart's program exists: point it at this build.
  const copy = join(dir, 'syncache.service');
  writeFileSync(copy, readFileSync(UNIT, 'utf8').replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath} ${CLI}`));
  const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Unknown|ignoring|Failed|not executable/i, r.stderr);
});

/** ExecStart as argv, with this build for the program and `config` for the unit's config path. */
function execStart(config: string): string[] {
  const [, ...args] = one('ExecStart').split(/\s+/);
  return [process.execPath, CLI, ...args.map((a) => (a === '/etc/syncache/serve.json' ? config : a))];
}

function startBackend(port: number) {
  const backend = track(spawn(...pair.responder.wrap(process.execPath, ['-e', `
    require('http').createServer((q, s) => s.end('served through the unit')).listen(${port}, '127.0.0.1', () => console.log('ready'));
  `]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  return new Promise<typeof backend>((resolve) => backend.stdout!.once('data', () => resolve(backend)));
}

function startService(argv: string[]) {
  const child = track(spawn(...pair.responder.wrap(argv[0], argv.slice(1)), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const until = async (match: RegExp, ms = 20_000): Promise<string> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = out.split('\n').find((l) => match.test(l));
      if (found) return found;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${match}: exit ${child.exitCode}; stdout ${out}; stderr ${err}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { child, exited, until, out: () => out, err: () => err };
}

async function curlThrough(port: number): Promise<string> {
  return (await runIn(pair.peer, 'curl', ['-s', '-m', '10', `http://${pair.responderV4}:${port}/`])).stdout;
}

test('the unit\'s ExecStart with a config pointing into a lab namespace (--netns) serves a curl, ExecReload rereads the key, SIGTERM ends it with exit 0', { skip }, async () => {
  const backend = await startBackend(9080);
  const key = join(dir, 'fleet.key');
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  const config = join(dir, 'serve.json');
  writeFileSync(config, JSON.stringify({
    netns: pair.responder.name, iface: pair.responderIface, addr: [pair.responderV4], port: [8080],
    forward: '127.0.0.1:9080', 'key-file': key, metrics: '127.0.0.1:9480', json: true, 'stats-interval': 0.2,
  }));
  const service = startService(execStart(config));
  try {
    await service.until(/"type":"stats"/);
    assert.equal(await curlThrough(8080), 'served through the unit');
    const scrape = await runIn(pair.responder, 'curl', ['-s', '-m', '10', 'http://127.0.0.1:9480/metrics']);
    assert.match(scrape.stdout, /^syncache_handoffs_total\{interface="scr0"\} [1-9]\d*$/m);
    const reload = one('ExecReload').replace('$MAINPID', String(service.child.pid)).split(/\s+/);
    assert.equal(spawnSync(reload[0], reload.slice(1)).status, 0);
    assert.equal(JSON.parse(await service.until(/"type":"reload"/)).ok, true);
  } finally {
    service.child.kill('SIGTERM');
    backend.kill('SIGTERM');
  }
  assert.equal(await service.exited, 0, service.err());
  assert.match(service.out().trim().split('\n').at(-1)!, /"final":true/);
});

test('the unit\'s ExecStart as the unit runs it: a non-root uid with only the unit\'s capabilities and no_new_privs serves a curl; --netns would need CAP_SYS_ADMIN and says so', { skip: asUnitSkip }, async () => {
  const caps = one('AmbientCapabilities').split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
  const asUnit = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs',
    `--bounding-set=-all,${caps}`, `--inh-caps=-all,${caps}`, `--ambient-caps=-all,${caps}`];
  const backend = await startBackend(9081);
  const config = join(dir, 'serve-as-unit.json');
  writeFileSync(config, JSON.stringify({ iface: pair.responderIface, addr: [pair.responderV4], port: [8081], forward: '127.0.0.1:9081', json: true }), { mode: 0o644 });
  const service = startService([...asUnit, ...execStart(config)]);
  try {
    await service.until(/"type":"stats"/);
    assert.equal(await curlThrough(8081), 'served through the unit');
  } finally {
    service.child.kill('SIGTERM');
    backend.kill('SIGTERM');
  }
  assert.equal(await service.exited, 0, service.err());

  const withNetns = join(dir, 'serve-netns.json');
  writeFileSync(withNetns, JSON.stringify({ netns: pair.responder.name, iface: pair.responderIface, addr: [pair.responderV4], port: [8082], forward: '127.0.0.1:9' }), { mode: 0o644 });
  const refused = startService([...asUnit, ...execStart(withNetns)]);
  assert.equal(await refused.exited, 1);
  assert.match(refused.err(), /^syncache: syncache serve needs CAP_SYS_ADMIN \(--netns, entering the namespace\)/);
});
