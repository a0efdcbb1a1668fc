// --io xdp on the command line, on real packets: `syncache listen` runs the
// XDP door in a pair lab whose peer passes XDP_TX frames on, says so in each
// JSON line ("io" as asked, "backend" as taken) and in Prometheus, installs
// no gate, and a kernel client's connect completes; --no-gate beside it
// warns and changes nothing; `serve` pipes a curl through kernel sockets
// made behind the door; `syncache lab --io xdp` reports io xdp in its
// summary, in JSON and in text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createPairLab, labUnavailableReason, NetnsLab, type PairLab } from '../../lib/lab/netns.js';
import { vethXdpUnavailableReason } from '../../lib/lab/veth-xdp.js';
import { doorUnavailableReason } from '../../lib/door/door.js';
import { summaryText } from '../../lib/cli/lab.js';
import type { LabReport } from '../../lib/lab/scenario.js';
import { cliIn, runIn, type CliChild } from '../helpers/cli-child.js';
import { connectFrom } from '../native/ring-helpers.js';
import { track } from '../helpers/children.js';

const skip = labUnavailableReason() ?? doorUnavailableReason() ?? vethXdpUnavailableReason()
  ?? (spawnSync('curl', ['--version']).status === 0 ? undefined : 'curl is not installed');
if (skip) console.log(`# skipping --io xdp runs: ${skip}`);
let pair: PairLab;
before(() => {
  if (skip) return;
  pair = createPairLab('cliio', 88, { xdp: true });
  // A local sender's checksum offload leaves its segments unfinished where XDP sees them.
  pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tx', 'off']);
});
after(() => pair?.lab.destroy());

/** A kernel connect from the peer: 'connected', 'refused', 'timeout' or the error code. */
function connectFromPeer(port: number): Promise<string> {
  return connectFrom(pair.peer, pair.responderV4, port, 8000);
}

async function stop(run: CliChild): Promise<void> {
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0, run.stderr());
}

function xdpAttached(): boolean {
  return /prog\/xdp/.test(pair.responder.ip(['link', 'show', 'dev', pair.responderIface]));
}

test('listen --io xdp --json: every line says io xdp, a kernel client connects through the door, no gate, Prometheus carries it', { skip }, async () => {
  const run = cliIn(pair.responder, ['listen', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8086',
    '--io', 'xdp', '--json', '--stats-interval', '0.2', '--metrics', '127.0.0.1:9486']);
  try {
    const first = JSON.parse(await run.line(/"type":"stats"/)) as Record<string, unknown>;
    assert.equal(first.io, 'xdp');
    assert.equal(first.backend, 'xdp');
    assert.ok(xdpAttached(), 'the door is on the interface');
    assert.equal(pair.responder.exec('nft', ['list', 'tables']).trim(), '', 'no gate behind the door');

    assert.equal(await connectFromPeer(8086), 'connected');
    const handshake = JSON.parse(await run.line(/"type":"handshake"/)) as Record<string, unknown>;
    assert.deepEqual([handshake.io, handshake.backend, handshake.localPort], ['xdp', 'xdp', 8086]);
    const done = JSON.parse(await run.line(/"type":"stats".*"completed":[1-9]/)) as Record<string, number>;
    assert.ok(done.doorRedirected >= 1, `the door handed the flow to the ring: ${JSON.stringify(done)}`);

    const metrics = await runIn(pair.responder, 'curl', ['-s', '-m', '10', 'http://127.0.0.1:9486/metrics']);
    assert.match(metrics.stdout, /^syncache_backend_info\{backend="xdp",io="xdp",interface="scr0"\} 1$/m);
  } finally {
    await stop(run);
  }
  const lines = run.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const line of lines) assert.deepEqual([line.io, line.backend], ['xdp', 'xdp'], `every line: ${JSON.stringify(line)}`);
  assert.equal(lines.at(-1)?.final, true);
  assert.equal(run.stderr(), '');
  assert.ok(!xdpAttached(), 'the door left on exit');
});

test('listen --io xdp --no-gate: one warning line that it does nothing, and it runs as without it', { skip }, async () => {
  const run = cliIn(pair.responder, ['listen', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8087',
    '--io', 'xdp', '--no-gate', '--json', '--stats-interval', '0.2']);
  try {
    await run.line(/"type":"stats".*"io":"xdp","backend":"xdp"/);
    assert.equal(run.stderr(), 'syncache: warning: --no-gate does nothing with --io xdp: the XDP door keeps the kernel out of the handshakes without a gate\n');
    assert.equal(await connectFromPeer(8087), 'connected');
  } finally {
    await stop(run);
  }
});

for (const calm of [undefined, '0']) test(`serve --io xdp${calm === undefined ? '' : ` --calm ${calm}`}: a curl from the peer reaches the backend through ${calm === undefined ? "the calm listener's kernel socket (no flood: the kernel made the handshake)" : 'a kernel socket made behind the door'}`, { skip }, async () => {
  const backend = track(spawn(...pair.responder.wrap(process.execPath, ['-e', `
    require('http').createServer((q, s) => s.end('through the door')).listen(9088, '127.0.0.1', () => console.log('ready'));
  `]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise((resolve) => backend.stdout!.once('data', resolve));
  const run = cliIn(pair.responder, ['serve', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8088',
    '--forward', '127.0.0.1:9088', '--io', 'xdp', '--json', '--stats-interval', '0.2', ...(calm === undefined ? [] : ['--calm', calm])]);
  try {
    await run.line(/"type":"stats".*"io":"xdp","backend":"xdp"/);
    assert.equal(pair.responder.exec('nft', ['list', 'tables']).trim(), '', 'no gate behind the door');
    const r = await runIn(pair.peer, 'curl', ['-s', '-m', '10', `http://${pair.responderV4}:8088/`]);
    assert.equal(r.stdout, 'through the door');
    if (calm === undefined) await run.line(/"type":"stats".*"handoffs":0,.*"calm":10000,"calmConnections":1,/);
    else await run.line(/"type":"stats".*"handoffs":[1-9].*"calm":0,"calmConnections":0,/);
  } finally {
    await stop(run);
    backend.kill('SIGTERM');
  }
});

test('syncache lab --io xdp --seconds 2 --json: the summary says io xdp, taken as asked, and real clients got through', { skip }, async () => {
  const outer = new NetnsLab('cliiol');
  try {
    const host = outer.add('host');
    const run = cliIn(host, ['lab', '--io', 'xdp', '--seconds', '2', '--rate', '5000', '--clients', '20', '--json']);
    let summary: Record<string, unknown> & { clients: { completed: number } };
    try {
      const progress = JSON.parse(await run.line(/"type":"progress"/, 60_000)) as Record<string, unknown>;
      assert.deepEqual([progress.io, progress.backend], ['xdp', 'xdp']);
      summary = JSON.parse(await run.line(/"type":"summary"/, 60_000)) as typeof summary;
    } catch (error) {
      run.child.kill('SIGTERM');
      throw error;
    }
    assert.equal(await run.exited, 0, run.stderr());
    assert.deepEqual([summary.io, summary.backend], ['xdp', 'xdp']);
    assert.ok(summary.clients.completed > 0, JSON.stringify(summary.clients));
    assert.ok(Number(summary.synsAnswered) > 0, 'the flood was answered');
  } finally {
    outer.destroy();
  }
});

test('the lab\'s text summary names the io: one word when taken as asked, both when auto chose', () => {
  const report = {
    target: 'syncache', profile: 'switch', syncookies: 'on', workers: 0, io: 'xdp', seconds: 2, synsSent: 10, synAcksSeen: 10, synsAnswered: 10,
    offeredPerSecond: 5, answeredPerSecond: 5, answeredShare: 1, clients: { attempted: 1, completed: 1, failed: 0, errors: {}, p50: 1, p99: 1 },
    cacheEntries: 0, cachePeak: 0, counters: {}, date: '',
  } as unknown as LabReport;
  assert.match(summaryText(report, 'xdp'), /^summary \(2\.0 s, syncache, syncookies on, main thread, io xdp\)$/m);
  assert.match(summaryText(report, 'auto'), /, io auto: xdp\)$/m);
  assert.match(summaryText({ ...report, io: 'packet' }, 'auto'), /, io auto: packet\)$/m);
});
