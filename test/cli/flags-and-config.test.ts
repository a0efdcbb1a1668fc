// How listen and serve read their options: repeated --port/--addr add up
// (main kept only the last), --config FILE gives the same keys as the flags
// and a flag replaces the file's value, and a bad file or key is one line
// with exit 2 (1 for a file it cannot read); --io takes packet, xdp or auto.
// Checked on the wire: the kernel's TCP stack in the peer namespace
// connects to what was asked for.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { readConfigFile, mergeFlags } from '../../lib/cli/config-file.js';
import { RESPONDER_FLAGS, list, responderOptions } from '../../lib/cli/args.js';
import { UsageError } from '../../lib/cli/errors.js';
import { unreadableBy } from '../../lib/handoff/split.js';
import { CLI, cliIn } from '../helpers/cli-child.js';
import { connectFrom } from '../native/ring-helpers.js';

const skip = labUnavailableReason();
let pair: PairLab;
const dir = mkdtempSync(join(tmpdir(), 'syncache-cli-config-'));
before(() => { if (!skip) pair = createPairLab('clicfg', 50); });
after(() => { pair?.lab.destroy(); rmSync(dir, { recursive: true, force: true }); });

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function cli(args: string[], prefix: string[] = []) {
  const argv = [...prefix, process.execPath, CLI, ...args];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A kernel connect from the peer: 'connected', 'refused', 'timeout' or the error code. */
function connectFromPeer(host: string, port: number): Promise<string> {
  return connectFrom(pair.peer, host, port, 8000);
}

test('a flag given more than once, or as a list, gives every value, each once', () => {
  assert.deepEqual(list('port', ['80', '81,82', '80']), ['80', '81', '82']);
  assert.deepEqual(list('addr', '198.18.0.1, 198.18.0.2'), ['198.18.0.1', '198.18.0.2']);
  assert.throws(() => list('port', []), /--port is required/);
});

test('a config file gives the flags\' keys in JSON; a flag replaces the file\'s value', () => {
  const path = file('ok.json', JSON.stringify({ iface: 'eth0', addr: ['198.18.0.1'], port: [80, '81'], syncookies: 'only', 'hash-size': 1024, json: true }));
  const fromFile = readConfigFile(path, RESPONDER_FLAGS);
  assert.deepEqual(fromFile, { iface: 'eth0', addr: ['198.18.0.1'], port: ['80', '81'], syncookies: 'only', 'hash-size': '1024', json: true });
  assert.deepEqual(mergeFlags(fromFile, { port: ['443'], json: undefined }).port, ['443']);
  assert.equal(mergeFlags(fromFile, { port: ['443'] }).syncookies, 'only');
});

test('a bad config file: exit 2 and one line naming the file and the key (1 if it cannot be read)', () => {
  const base = ['listen', '--config'];
  for (const [content, message] of [
    ['{"iface": "x",', /--config .*bad-json\.json: not valid JSON/],
    ['[1, 2]', /--config .*\.json: must hold one JSON object of flags/],
    ['{"iface":"x","ifname":"y"}', /--config .*\.json: unknown key "ifname" \(known: iface, addr, port/],
    ['{"config":"other.json"}', /unknown key "config"/],
    ['{"json":"yes"}', /key "json" \(--json\) must be true or false, got "yes"/],
    ['{"port":{"a":1}}', /key "port" \(--port\) must be a string, a number or a non-empty list of them/],
    ['{"iface":["a","b"]}', /key "iface" \(--iface\) must be a string or a number/],
    ['{"iface":"x","addr":"198.18.0.1","port":[80],"hash-size":1000}', /--hash-size must be a power of 2 .*\(key "hash-size" in .*\.json\)/],
    ['{"iface":"x","addr":"198.18.0.1","port":[80],"syncookies":"maybe"}', /--syncookies must be one of off, on, only, got 'maybe' \(key "syncookies" in/],
  ] as const) {
    const r = cli([...base, file(content.startsWith('{"iface": "x",') ? 'bad-json.json' : `case-${content.length}.json`, content)]);
    assert.equal(r.code, 2, `${content}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const lab = cli(['lab', '--config', file('lab.json', '{"seconds":-1,"rate":1000}')]);
  assert.equal(lab.code, 2, lab.stderr);
  assert.match(lab.stderr, /^syncache: --seconds must be an integer from 1 to 3600, got '-1' \(key "seconds" in .*lab\.json\)/);
  assert.match(cli(['lab', '--config', file('lab2.json', '{"iface":"eth0"}')]).stderr, /unknown key "iface" \(known: seconds, rate, clients, syncookies, io, pause-ms, workers, metrics, json\)/);
  const missing = cli([...base, join(dir, 'nope.json')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--config .*nope\.json: no such file/);
  mkdirSync(join(dir, 'adir'), { recursive: true });
  assert.match(cli([...base, join(dir, 'adir')]).stderr, /is a directory, not a JSON file/);
  // A flag that is wrong on the command line is said as the flag, not the file's key.
  const both = cli(['listen', '--config', file('good.json', '{"iface":"x","addr":"198.18.0.1","port":80}'), '--port', '0']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--port: '0' is not a port from 1 to 65535\. See/);
});

test('a config file the user cannot read: exit 1 and one line', (t) => {
  if (spawnSync('setpriv', ['--version']).status !== 0) return t.skip('setpriv (util-linux) is not installed');
  const unreadable = unreadableBy([CLI, fileURLToPath(new URL('../../lib', import.meta.url))], 65534, 65534);
  if (unreadable !== undefined) return t.skip(unreadable);
  const secret = file('root-only.json', '{}');
  chmodSync(secret, 0o600);
  chmodSync(dir, 0o755);
  const r = cli(['listen', '--config', secret], ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /--config .*root-only\.json: cannot read it \(EACCES\)/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('listen --port twice and --addr twice answers on both ports and both addresses', { skip }, async () => {
  const run = cliIn(pair.responder, ['listen', '--iface', pair.responderIface, '--addr', pair.responderV4, '--addr', pair.responderV6,
    '--port', '8050', '--port', '8051', '--json', '--stats-interval', '0.2']);
  try {
    await run.line(/"type":"stats"/);
    assert.equal(await connectFromPeer(pair.responderV4, 8050), 'connected');
    assert.equal(await connectFromPeer(pair.responderV6, 8051), 'connected');
    assert.equal(await connectFromPeer(pair.responderV4, 8051), 'connected');
    await run.line(/"type":"handshake".*"localPort":8050/);
    await run.line(/"type":"handshake".*"localPort":8051/);
  } finally {
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
  }
});

test('listen --config FILE runs from the file, and --port on the command line replaces the file\'s ports', { skip }, async () => {
  const config = file('listen.json', JSON.stringify({
    iface: pair.responderIface, addr: [pair.responderV4], port: [8052], json: true, 'stats-interval': 0.2, syncookies: 'only',
  }));
  const run = cliIn(pair.responder, ['listen', '--config', config, '--port', '8053']);
  try {
    await run.line(/"type":"stats"/);
    assert.equal(await connectFromPeer(pair.responderV4, 8053), 'connected');
    assert.equal(await connectFromPeer(pair.responderV4, 8052), 'refused', 'the file\'s port is replaced, not added');
    const handshake = JSON.parse(await run.line(/"type":"handshake"/)) as { localPort: number; viaCookie: boolean };
    assert.equal(handshake.localPort, 8053);
    assert.equal(handshake.viaCookie, true, 'syncookies only, from the file');
  } finally {
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
  }
});

test('--io packet|xdp|auto, on the command line or as the key "io" (default packet); another value exits 2 naming the flag; xdp with workers is for the Responder to judge', async () => {
  const { runLab } = await import('../../lib/cli/lab.js');
  const { runServe } = await import('../../lib/cli/serve.js');
  const where = { iface: 'eth0', addr: '198.18.86.1', port: '80' };
  assert.equal(responderOptions(where).io, 'packet');
  for (const io of ['packet', 'xdp', 'auto']) assert.equal(responderOptions({ ...where, io }).io, io);
  assert.equal(responderOptions({ ...where, io: 'auto', workers: '2' }).io, 'auto', 'auto with workers: the packet path, decided later');
  assert.throws(() => responderOptions({ ...where, io: 'XDP' }), (e: UsageError) => e.flag === 'io' && /^--io must be one of packet, xdp, auto, got 'XDP'$/.test(e.message));
  assert.equal(responderOptions({ ...where, io: 'xdp', workers: '2' }).io, 'xdp', 'xdp with workers: no more workers than the interface has receive queues (the Responder checks)');
  for (const options of [RESPONDER_FLAGS, runServe.options, runLab.options]) {
    assert.deepEqual(readConfigFile(file('io.json', '{"io":"xdp"}'), options), { io: 'xdp' });
  }

  const listen = ['listen', '--iface', 'x', '--addr', '198.18.86.1', '--port', '80'];
  for (const [args, message] of [
    [[...listen, '--io', 'bpf'], /^syncache: --io must be one of packet, xdp, auto, got 'bpf'\. See/],
    [['serve', ...listen.slice(1), '--forward', '127.0.0.1:81', '--io', ''], /^syncache: --io must be one of packet, xdp, auto, got ''/],
    [['lab', '--io', 'door'], /^syncache: --io must be one of packet, xdp, auto, got 'door'/],
    [['serve', ...listen.slice(1), '--forward', '127.0.0.1:81', '--calm', '100'], /^syncache: --calm needs the XDP door \(--io xdp or auto\): with --io packet leave it out or give 0/],
    [['serve', ...listen.slice(1), '--forward', '127.0.0.1:81', '--io', 'xdp', '--calm=-1'], /^syncache: --calm must be an integer from 0 to 100000000/],
    [[...listen, '--io'], /^syncache: --io needs a value/],
    [['listen', '--config', file('io-bad.json', JSON.stringify({ ...where, io: 'fast' }))], /^syncache: --io must be one of packet, xdp, auto, got 'fast' \(key "io" in .*io-bad\.json\)/],
    [['listen', '--config', file('io-num.json', JSON.stringify({ ...where, io: ['xdp'] }))], /key "io" \(--io\) must be a string or a number/],
  ] as const) {
    const r = cli([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('UsageError carries the flag it is about', () => {
  assert.equal(new UsageError('x', 'port').flag, 'port');
});
