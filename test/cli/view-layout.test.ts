// The live view's layout, without a terminal: at 80x24 and at 60x20 every
// line fits the width and there are no more lines than rows, the title and
// the rates are on top, counters at zero are folded into one line that says
// how many, and the responder's state (backend, pause, cache, fleet key
// epoch, handoff latency for serve) is shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCount, renderView, type Counters, type Facts, type TerminalSize } from '../../lib/cli/view-layout.js';
import { Responder } from '../../lib/responder/responder.js';

const LISTEN_TITLE = 'syncache listen scr0 198.18.55.1 port 80 (syncookies on)';
const SERVE_TITLE = 'syncache serve scr0 198.18.55.1,2001:db8:37::1 port 80,443 -> 198.18.55.1:8080';

/** Every counter a responder reports, at zero but for `nonZero`. */
function counters(nonZero: Counters): Counters {
  return { ...Object.fromEntries(Responder.counterNames.map((n) => [n, 0])), ...nonZero };
}

const flood = counters({
  parsedSyn: 1_234_567, synackssent: 1_230_000, sendcookie: 1_229_000, completed: 5000, recvcookie: 4000,
  failcookie: 12, rxFrames: 1_240_000, txFrames: 1_230_000, kernelDrops: 7, dropBadTcpChecksum: 3,
});
const second = counters({
  parsedSyn: 1_000_000, synackssent: 1_000_000, sendcookie: 1_000_000, completed: 4000, recvcookie: 3000,
  failcookie: 10, rxFrames: 1_000_000, txFrames: 1_000_000, kernelDrops: 7, dropBadTcpChecksum: 3,
});
const listenFacts: Facts = { cacheSize: 15_360, io: 'auto', backend: 'xdp', paused: true, keyEpoch: 117_603_811, workers: 2 };
const serveFacts: Facts = {
  ...listenFacts, handoffs: 5000, handoffFailed: 0, handoffFailedBy: '-', handoffDuplicate: 0, relayQueueFull: 0, open: 3,
  handoffP50Ms: 0.213, handoffP99Ms: 1.5, connectionP50Ms: 0.4, connectionP99Ms: 2.25, forwarded: 5000, active: 3, backendErrors: 0, handoffErrors: 0,
};

function assertFits(lines: string[], size: TerminalSize): void {
  assert.ok(lines.length <= size.rows, `${lines.length} lines on ${size.rows} rows:\n${lines.join('\n')}`);
  for (const line of lines) assert.ok(line.length <= size.columns, `${line.length} columns: '${line}'`);
  for (const line of lines) assert.doesNotMatch(line, /[\n\r\x1b]/, 'a line is text only: the screen positions it');
  assert.ok(lines.filter((l) => l === '').length <= 1, `one blank line at most, above the counters:\n${lines.join('\n')}`);
}

/** The counter rows shown (name, total, rate). */
function counterRows(lines: string[]): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of lines) {
    for (const m of line.matchAll(/(\w+) +(\S+) +\+(\S+)\/s/g)) rows.set(m[1], m[2]);
  }
  return rows;
}

for (const size of [{ columns: 80, rows: 24 }, { columns: 60, rows: 20 }]) {
  test(`listen at ${size.columns}x${size.rows}: fits, title and rates on top, zero counters folded`, () => {
    const lines = renderView({ title: LISTEN_TITLE, counters: flood, prev: second, seconds: 2, facts: listenFacts, time: new Date('2026-12-02T10:20:30Z') }, size);
    assertFits(lines, size);
    assert.ok(lines[0].startsWith('syncache listen scr0 198.18.55.1 port 80'), lines[0]);
    if (size.columns >= LISTEN_TITLE.length + 10) assert.ok(lines[0].endsWith('10:20:30'), lines[0]);
    const top = lines.slice(0, 3).join('\n');
    assert.match(top, /SYN\/s 117k/);
    assert.match(top, /answered\/s 115k/);
    assert.match(top, /completed\/s 500\b/);
    assert.match(top, /cookies\/s 115k/);
    assert.doesNotMatch(top, /handoffs\/s/, 'listen makes no handoffs');

    const text = lines.join('\n');
    assert.match(text, /io auto: xdp   cache 15360/, 'the io asked for, and the path it took');
    assert.match(text, /cache 15360/);
    assert.match(text, /PAUSED/);
    assert.match(text, /key epoch 117603811/);
    assert.match(text, /workers 2/);

    const shown = counterRows(lines);
    const nonZero = Object.keys(flood).filter((n) => flood[n] !== 0);
    assert.deepEqual([...shown.keys()].sort(), [...nonZero, 'linkErrors'].sort(), 'the non-zero counters, and linkErrors even at zero');
    assert.equal(shown.get('parsedSyn'), '1234567');
    const zeros = Object.keys(flood).length - nonZero.length - 1;
    assert.match(lines[lines.length - 1], new RegExp(`^${zeros} zero counters hidden`));
    const [first] = [...shown.keys()];
    assert.equal(first, 'parsedSyn', 'headline counters first');
  });

  test(`serve at ${size.columns}x${size.rows}: handoffs/s among the rates, handoff latency, zero facts folded`, () => {
    const lines = renderView({ title: SERVE_TITLE, counters: flood, prev: { ...second, handoffs: 4000 }, seconds: 2, facts: serveFacts }, size);
    assertFits(lines, size);
    assert.ok(SERVE_TITLE.startsWith(lines[0].trimEnd().slice(0, size.columns - 10)), `title cut, not wrapped: '${lines[0]}'`);
    const rates = lines.slice(1, 3).join('\n');
    assert.match(rates, /SYN\/s 117k/);
    assert.match(rates, /handoffs\/s 500\b/);
    const text = lines.join('\n');
    assert.match(text, /handoff p50\/p99 0\.21\/1\.50 ms/);
    assert.match(text, /connection p50\/p99 0\.40\/2\.25 ms/);
    assert.match(text, /open 3/);
    assert.doesNotMatch(text, /backendErrors|handoffErrors|relayQueueFull|failed/, 'zero facts are folded');
    const zeros = Object.values(flood).filter((n) => n === 0).length - 1 + 5;
    const note = lines[lines.length - 1];
    assert.match(note, new RegExp(`(^|; )${zeros} zero counters hidden`));
    const missing = Number(/^(\d+) more not shown/.exec(note)?.[1] ?? 0);
    assert.equal(counterRows(lines).size + missing, Object.values(flood).filter((n) => n !== 0).length + 1, 'every non-zero counter shown or counted');
  });
}

test('io: one word where the path taken is the one asked for, both where auto chose; backend alone if io is not known', () => {
  const status = (facts: Facts): string => renderView({ title: LISTEN_TITLE, counters: flood, seconds: 0, facts }, { columns: 80, rows: 24 })[2];
  assert.match(status({ ...listenFacts, io: 'xdp', backend: 'xdp' }), /^io xdp   cache/);
  assert.match(status({ ...listenFacts, io: 'packet', backend: 'packet' }), /^io packet   cache/);
  assert.match(status({ ...listenFacts, io: 'auto', backend: 'packet' }), /^io auto: packet   cache/);
  assert.match(status({ ...listenFacts, io: null, backend: 'packet' }), /^backend packet   cache/);
});

test('without a fleet key no epoch is shown; running is "paused no"; the first frame has no rates yet', () => {
  const lines = renderView({ title: LISTEN_TITLE, counters: flood, seconds: 0, facts: { ...listenFacts, paused: false, keyEpoch: null, workers: 0 } }, { columns: 80, rows: 24 });
  const text = lines.join('\n');
  assert.doesNotMatch(text, /key epoch|workers|PAUSED/);
  assert.match(text, /paused no/);
  assert.match(lines[1], /^SYN\/s 0 {2,}answered\/s 0/);
});

test('more non-zero counters than rows: the headline ones are shown, the last line says how many are not', () => {
  const all = Object.fromEntries(Responder.counterNames.map((n, i) => [n, i + 1]));
  for (const size of [{ columns: 80, rows: 24 }, { columns: 60, rows: 20 }]) {
    const lines = renderView({ title: LISTEN_TITLE, counters: all, seconds: 1, facts: listenFacts }, size);
    assertFits(lines, size);
    assert.equal(lines.length, size.rows, 'every row used');
    const shown = counterRows(lines);
    for (const name of ['parsedSyn', 'synackssent', 'completed', 'sendcookie', 'recvcookie', 'failcookie']) assert.ok(shown.has(name), name);
    const missing = Responder.counterNames.length - shown.size;
    assert.ok(missing > 0);
    assert.match(lines[lines.length - 1], new RegExp(`^${missing} more not shown .*; 0 zero counters hidden`));
  }
});

test('any size, however small, is never overrun; at too few rows the title and rates stay', () => {
  for (const columns of [1, 10, 39, 40, 41, 79, 81, 200]) {
    for (const rows of [1, 2, 3, 5, 12, 24, 60]) {
      const size = { columns, rows };
      const lines = renderView({ title: SERVE_TITLE, counters: flood, prev: second, seconds: 1, facts: serveFacts }, size);
      assertFits(lines, size);
      assert.ok(lines[0].startsWith(SERVE_TITLE.slice(0, Math.min(columns, 10))));
      if (rows >= 2 && columns >= 20) assert.match(lines[1], /^SYN\/s/);
    }
  }
});

test('linkErrors is shown even at zero, with its rate, so a flap is visible at a glance', () => {
  const quiet = renderView({ title: 't', counters: { linkErrors: 0 }, seconds: 1 }, { columns: 80, rows: 24 });
  assert.ok(quiet.some((l) => /^linkErrors +0 +\+0\/s$/.test(l)), quiet.join('\n'));
  const flapped = renderView({ title: 't', counters: { linkErrors: 3 }, prev: { linkErrors: 1 }, seconds: 1 }, { columns: 80, rows: 24 });
  assert.ok(flapped.some((l) => /^linkErrors +3 +\+2\/s$/.test(l)), flapped.join('\n'));
});

test('counts fit their column: exact up to 7 digits, then k, M, G', () => {
  assert.equal(formatCount(1_234_567), '1234567');
  assert.equal(formatCount(12_345_678), '12346k');
  assert.equal(formatCount(1_234_567_890), '1234.6M');
  assert.equal(formatCount(123_456_789_012), '123457M');
  assert.equal(formatCount(12_345_678_901_234), '12346G');
  assert.equal(formatCount(234_567, 5), '235k');
  assert.equal(formatCount(12_345, 5), '12345');
  for (let n = 1; n < 1e16; n *= 7) assert.ok(formatCount(n).length <= 7, formatCount(n));
});
