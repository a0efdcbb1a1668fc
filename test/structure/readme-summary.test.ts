// Every figure in the README's benchmark summary is one a bench script
// wrote: the block between its markers is exactly what `npm run
// bench:summary` makes from the latest record of each bench/results file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BEGIN, END, summaryMarkdown } from '../../bench/summary.js';

test('the README\'s benchmark summary is the one the results files give', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  assert.ok(a >= 0 && b > a, 'the README has the summary markers');
  assert.equal(readme.slice(a, b + END.length), summaryMarkdown(), 'run: npm run bench:summary -- --write');
});
