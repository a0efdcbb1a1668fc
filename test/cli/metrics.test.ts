// --metrics HOST:PORT: listen, serve and lab serve GET /metrics (prom-client's
// text exposition) on that address, in the network namespace the command
// runs in. Scraped with curl from the same namespace, never the root one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPairLab, labUnavailableReason, NetnsLab, type Namespace, type PairLab } from '../../lib/lab/netns.js';
import { Responder } from '../../lib/responder/responder.js';
import { metricName } from '../../lib/metrics/prometheus.js';
import { cliIn, runIn, type CliChild } from '../helpers/cli-child.js';
import { track } from '../helpers/children.js';
import { spawn } from 'node:child_process';

const skip = labUnavailableReason() ?? (spawnSync('curl', ['--version']).status === 0 ? undefined : 'curl is not installed');
let pair: PairLab;
before(() => { if (!skip) pair = createPairLab('climet', 52); });
after(() => pair?.lab.destroy());

/** GET (or -X method) from inside `ns`: status and body. */
async function curl(ns: Namespace, url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const r = await runIn(ns, 'curl', ['-s', '-X', method, '-m', '10', '-w', '\n%{http_code}', url]);
  const at = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(at + 1)), body: r.stdout.slice(0, at) };
}

/** The samples of an exposition text: 'name{labels}' -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function value(s: Map<string, number>, name: string): number | undefined {
  for (const [k, v] of s) if (k === name || k.startsWith(`${name}{`)) return v;
  return undefined;
}

/** Scrapes until `ok` holds for the samples (the machine is loaded: wait on counters, not sleeps). */
async function scrapeUntil(ns: Namespace, url: string, ok: (s: Map<string, number>) => boolean, what: string): Promise<Map<string, number>> {
  const deadline = Date.now() + 30_000;
  let last = '';
  for (;;) {
    const r = await curl(ns, url);
    last = `${r.status} ${r.body.slice(0, 300)}`;
    if (r.status === 200) {
      const s = samples(r.body);
      if (ok(s)) return s;
    }
    if (Date.now() > deadline) throw new Error(`${what}: last scrape ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function everyCounter(s: Map<string, number>): string[] {
  return Responder.counterNames.filter((n) => value(s, `syncache_${metricName(n)}_total`) === undefined);
}

async function stop(run: CliChild): Promise<void> {
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0, run.stderr());
}

test('listen --metrics serves every counter at /metrics, labelled with the interface, and 404 elsewhere', { skip }, async () => {
  const run = cliIn(pair.responder, ['listen', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8070', '--metrics', '127.0.0.1:9470', '--json', '--stats-interval', '0.2']);
  try {
    await run.line(/"type":"stats"/);
    pair.peer.exec(process.execPath, ['-e', `require('net').connect({ host: ${JSON.stringify(pair.responderV4)}, port: 8070 }).on('connect', function () { this.destroy(); }).on('error', () => {})`]);
    const s = await scrapeUntil(pair.responder, 'http://127.0.0.1:9470/metrics', (m) => (value(m, 'syncache_completed_total') ?? 0) >= 1, 'a completed handshake in the metrics');
    assert.deepEqual(everyCounter(s), [], 'every counter is exposed');
    assert.ok(s.has(`syncache_completed_total{interface="${pair.responderIface}"}`), [...s.keys()].slice(0, 5).join(' '));
    assert.equal(value(s, 'syncache_workers'), 0);
    assert.equal((await curl(pair.responder, 'http://127.0.0.1:9470/')).status, 404);
    assert.equal((await curl(pair.responder, 'http://127.0.0.1:9470/metrics', 'POST')).status, 404);
  } finally {
    await stop(run);
  }
});

test('serve --metrics adds the handoffs to the counters', { skip }, async () => {
  const backend = track(spawn(...pair.responder.wrap(process.execPath, ['-e', `
    require('http').createServer((q, s) => s.end('backend says hi')).listen(9071, '127.0.0.1', () => console.log('ready'));
  `]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise((resolve) => backend.stdout!.once('data', resolve));
  const run = cliIn(pair.responder, ['serve', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8071', '--forward', '127.0.0.1:9071', '--metrics', '127.0.0.1:9472', '--json', '--stats-interval', '0.2']);
  try {
    await run.line(/"type":"stats"/);
    const r = await runIn(pair.peer, 'curl', ['-s', '-m', '10', `http://${pair.responderV4}:8071/`]);
    assert.equal(r.stdout, 'backend says hi');
    const s = await scrapeUntil(pair.responder, 'http://127.0.0.1:9472/metrics', (m) => (value(m, 'syncache_handoffs_total') ?? 0) >= 1, 'a handoff in the metrics');
    assert.deepEqual(everyCounter(s), []);
    assert.ok(value(s, 'syncache_connection_seconds_count')! >= 1);
  } finally {
    await stop(run);
    backend.kill('SIGTERM');
  }
});

test('--metrics on an address it cannot bind: exit 1, one line, before the gate is made', { skip }, async () => {
  const args = ['--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8072'];
  const foreign = cliIn(pair.responder, ['listen', ...args, '--metrics', '198.18.52.99:9473']);
  assert.equal(await foreign.exited, 1);
  assert.match(foreign.stderr(), /^syncache: --metrics 198\.18\.52\.99:9473: cannot listen: not an address of this host/);
  assert.equal(foreign.stderr().trim().split('\n').length, 1);

  const first = cliIn(pair.responder, ['listen', ...args, '--metrics', '127.0.0.1:9474', '--json']);
  try {
    await first.line(/"type":"stats"/);
    const second = cliIn(pair.responder, ['serve', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8073', '--forward', '127.0.0.1:9', '--metrics', '127.0.0.1:9474']);
    assert.equal(await second.exited, 1);
    assert.match(second.stderr(), /^syncache: --metrics 127\.0\.0\.1:9474: cannot listen: the address is in use\n$/);
    assert.equal(pair.responder.exec('nft', ['list', 'tables']).split('\n').filter((l) => l.includes('syncache_')).length, 1, 'only the first one\'s gate');
  } finally {
    await stop(first);
  }
});

test('syncache lab --metrics, run inside a namespace of its own, serves every counter there while the flood runs', { skip }, async () => {
  const outer = new NetnsLab('climetl');
  try {
    const host = outer.add('host');
    const run = cliIn(host, ['lab', '--seconds', '6', '--rate', '2000', '--clients', '5', '--metrics', '127.0.0.1:9475', '--json']);
    try {
      await run.line(/"type":"progress"/, 60_000);
      const s = await scrapeUntil(host, 'http://127.0.0.1:9475/metrics', (m) => (value(m, 'syncache_parsed_syn_total') ?? 0) > 0, 'flood SYNs in the lab\'s metrics');
      assert.deepEqual(everyCounter(s), [], 'every counter is exposed');
      const summary = JSON.parse(await run.line(/"type":"summary"/, 60_000)) as { synsSent: number };
      assert.ok(summary.synsSent > 0);
    } catch (error) {
      run.child.kill('SIGTERM');
      throw error;
    }
    assert.equal(await run.exited, 0, run.stderr());
  } finally {
    outer.destroy();
  }
});
