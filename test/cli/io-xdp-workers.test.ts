// --io xdp with --workers on the command line, on real packets: in a pair
// lab whose veth has two queues at each end (its peer passing XDP_TX frames
// on), `syncache listen` runs the door with a worker a queue and kernel
// clients connect through both; three workers for two queues is refused in
// one line; `serve` pipes curls through kernel sockets the workers made
// behind the door; `syncache lab --io xdp --workers 2` builds its veths with
// a queue a worker and reports io xdp.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createPairLab, labUnavailableReason, NetnsLab, type PairLab } from '../../lib/lab/netns.js';
import { vethXdpUnavailableReason } from '../../lib/lab/veth-xdp.js';
import { doorUnavailableReason } from '../../lib/door/door.js';
import { cliIn, runIn, type CliChild } from '../helpers/cli-child.js';
import { track } from '../helpers/children.js';

const skip = labUnavailableReason() ?? doorUnavailableReason() ?? vethXdpUnavailableReason()
  ?? (spawnSync('curl', ['--version']).status === 0 ? undefined : 'curl is not installed');
if (skip) console.log(`# skipping --io xdp --workers runs: ${skip}`);
let pair: PairLab;
before(() => {
  if (skip) return;
  pair = createPairLab('cliwk', 92, { xdp: true, queues: 2 });
  // A local sender's checksum offload leaves its segments unfinished where XDP sees them.
  pair.peer.exec('ethtool', ['-K', pair.peerIface, 'tx', 'off']);
});
after(() => pair?.lab.destroy());

/** `count` kernel connects from the peer, one after another, each ended with a RST; prints how many connected. */
async function connectFromPeer(port: number, count: number): Promise<string> {
  const r = await runIn(pair.peer, process.execPath, ['-e', `
    const net = require('net');
    let ok = 0;
    const next = (i) => {
      if (i === ${count}) return console.log(ok);
      const s = net.connect({ host: ${JSON.stringify(pair.responderV4)}, port: ${port}, timeout: 5000 }, () => { ok++; s.resetAndDestroy(); next(i + 1); });
      s.on('error', () => next(i + 1));
      s.on('timeout', () => s.destroy(new Error('timeout')));
    };
    next(0);
  `]);
  return r.stdout.trim();
}

async function stop(run: CliChild): Promise<void> {
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0, run.stderr());
}

test('listen --io xdp --workers 2 on two queues: clients connect through both workers; --workers 3 is refused in one line', { skip }, async () => {
  const run = cliIn(pair.responder, ['listen', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8092',
    '--io', 'xdp', '--workers', '2', '--json', '--stats-interval', '0.2']);
  try {
    const first = JSON.parse(await run.line(/"type":"stats"/)) as Record<string, unknown>;
    assert.deepEqual([first.io, first.backend, first.workers], ['xdp', 'xdp', 2]);
    assert.equal(await connectFromPeer(8092, 12), '12');
    await run.line(/"type":"stats".*"completed":12[,}]/);
  } finally {
    await stop(run);
  }
  assert.equal(run.stderr(), '');

  const refused = cliIn(pair.responder, ['listen', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8092',
    '--io', 'xdp', '--workers', '3']);
  assert.notEqual(await refused.exited, 0);
  assert.match(refused.stderr(), /the door gives each worker a receive queue of its own and scr0 has 2: use workers 2 or fewer, set the queues \(ethtool -L scr0 combined 3\) or use io 'packet'/);
  // (A machine with fewer cores than 3 also warns about that, on a line of its own.)
  assert.equal(refused.stderr().trim().split('\n').filter((l) => !l.startsWith('syncache: warning:')).length, 1, refused.stderr());
});

test('serve --io xdp --workers 2: curls from the peer reach the backend through kernel sockets the workers made', { skip }, async () => {
  const backend = track(spawn(...pair.responder.wrap(process.execPath, ['-e', `
    require('http').createServer((q, s) => s.end('through the door')).listen(9092, '127.0.0.1', () => console.log('ready'));
  `]), { stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise((resolve) => backend.stdout!.once('data', resolve));
  const run = cliIn(pair.responder, ['serve', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8093',
    '--forward', '127.0.0.1:9092', '--io', 'xdp', '--workers', '2', '--json', '--stats-interval', '0.2', '--calm', '0']);
  try {
    await run.line(/"type":"stats".*"io":"xdp","backend":"xdp"/);
    for (let i = 0; i < 8; i++) {
      const r = await runIn(pair.peer, 'curl', ['-s', '-m', '10', `http://${pair.responderV4}:8093/`]);
      assert.equal(r.stdout, 'through the door', `curl ${i}`);
    }
    await run.line(/"type":"stats".*"handoffs":8[,}]/);
  } finally {
    await stop(run);
    backend.kill('SIGTERM');
  }
});

test('syncache lab --io xdp --workers 2 --seconds 2 --json: a queue a worker, io xdp taken as asked, real clients got through', { skip }, async () => {
  const outer = new NetnsLab('cliwkl');
  try {
    const host = outer.add('host');
    const run = cliIn(host, ['lab', '--io', 'xdp', '--workers', '2', '--seconds', '2', '--rate', '5000', '--clients', '20', '--json']);
    let summary: Record<string, unknown> & { clients: { completed: number } };
    try {
      summary = JSON.parse(await run.line(/"type":"summary"/, 60_000)) as typeof summary;
    } catch (error) {
      run.child.kill('SIGTERM');
      throw error;
    }
    assert.equal(await run.exited, 0, run.stderr());
    assert.deepEqual([summary.io, summary.backend, summary.workers], ['xdp', 'xdp', 2]);
    assert.ok(summary.clients.completed > 0, JSON.stringify(summary.clients));
    assert.ok(Number(summary.synsAnswered) > 0, 'the flood was answered');
  } finally {
    outer.destroy();
  }
});
