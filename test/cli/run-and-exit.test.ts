// How a run ends and what it says on the way: the final stats line is never
// empty (SIGINT and SIGTERM, text and --json), a responder 'error' (its
// interface deleted) ends the run with the final stats and one line, exit 1,
// and --workers above the cores warns on stderr but runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { finalStatsLine } from '../../lib/cli/view.js';
import { workersWarning } from '../../lib/cli/args.js';
import { catchStopSignals } from '../../lib/cli/stop-signals.js';
import { cliIn, type CliChild } from '../helpers/cli-child.js';

const skip = labUnavailableReason();
let pair: PairLab;
before(() => { if (!skip) pair = createPairLab('cliexit', 53); });
after(() => pair?.lab.destroy());

function listen(iface: string, addr: string, port: number, more: string[]): CliChild {
  return cliIn(pair.responder, ['listen', '--iface', iface, '--addr', addr, '--port', String(port), '--stats-interval', '0.2', ...more]);
}

test('the final stats line names the headline counters even when nothing happened', () => {
  assert.equal(finalStatsLine({}, {}), 'final stats: parsedSyn=0 synackssent=0 completed=0');
  assert.equal(finalStatsLine({ parsedSyn: 0, synackssent: 0, completed: 0, dropped: 0 }, { cacheSize: 0 }), 'final stats: parsedSyn=0 synackssent=0 completed=0');
  assert.equal(finalStatsLine({ parsedSyn: 5, synackssent: 5, completed: 0, dropped: 2 }, { handoffFailedBy: '-' }), 'final stats: parsedSyn=5 synackssent=5 completed=0 handoffFailedBy=- dropped=2');
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} on an idle listen: a final stats line with the headline counters (text) and a final stats event (--json), exit 0`, { skip }, async () => {
    const text = listen(pair.responderIface, pair.responderV4, 8090, []);
    const json = listen(pair.responderIface, pair.responderV4, 8091, ['--json']);
    await text.line(/answering/);
    await json.line(/"type":"stats"/);
    text.child.kill(signal);
    json.child.kill(signal);
    assert.equal(await text.exited, 0, text.stderr());
    assert.equal(await json.exited, 0, json.stderr());
    assert.match(text.stdout().trim().split('\n').at(-1)!, /^final stats: parsedSyn=0 synackssent=0 completed=0( |$)/);
    const last = JSON.parse(json.stdout().trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(last.type, 'stats');
    assert.equal(last.final, true);
    assert.equal(last.parsedSyn, 0);
  });
}

test('the interface deleted under listen: final stats, then one line naming it, exit 1', { skip }, async () => {
  pair.responder.ip(['link', 'add', 'scx0', 'type', 'veth', 'peer', 'name', 'scx1']);
  pair.responder.ip(['link', 'set', 'scx0', 'up']);
  pair.responder.ip(['link', 'set', 'scx1', 'up']);
  pair.responder.ip(['addr', 'add', '198.18.53.101/32', 'dev', 'scx0']);
  const run = listen('scx0', '198.18.53.101', 8092, []);
  await run.line(/answering/);
  pair.responder.ip(['link', 'del', 'scx0']);
  assert.equal(await run.exited, 1, run.stderr());
  assert.match(run.stdout().trim().split('\n').at(-1)!, /^final stats: parsedSyn=0 /);
  assert.match(run.stderr(), /^syncache: .*scx0/);
  assert.equal(run.stderr().trim().split('\n').length, 1, run.stderr());
});

test('--workers above the cores: one warning line on stderr, and it runs', { skip }, async () => {
  const cores = availableParallelism();
  assert.equal(workersWarning(cores, cores), undefined);
  assert.match(workersWarning(cores + 1, cores)!, /^syncache: warning: --workers \d+ is more than the \d+ cores? this process may use/);
  const run = listen(pair.responderIface, pair.responderV4, 8093, ['--workers', String(cores + 1), '--json']);
  try {
    await run.line(/"type":"stats"/);
    assert.match(run.stderr(), new RegExp(`^syncache: warning: --workers ${cores + 1} is more than the ${cores} cores? this process may use: [^\\n]*\\n$`));
  } finally {
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
  }
});

test('SIGINT or SIGTERM is caught from the start of a run, so one during start-up ends it in order once it is up', async () => {
  const before = process.listenerCount('SIGTERM');
  const stops = catchStopSignals();
  process.emit('SIGTERM', 'SIGTERM');
  assert.equal(await stops.stopped, 'SIGTERM');
  stops.release();
  assert.equal(process.listenerCount('SIGTERM'), before);
});
