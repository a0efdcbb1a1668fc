// The live view: the headline rows are shown even at zero, so an operator
// sees at a glance that the link never flapped (linkErrors 0) or that it did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderScreen } from '../../lib/cli/view.js';

test('the live view always shows linkErrors, with its rate', () => {
  const quiet = renderScreen('t', { linkErrors: 0 }, undefined, 1);
  assert.match(quiet, /^ {2}linkErrors +0 +\+0\/s$/m);
  const flapped = renderScreen('t', { linkErrors: 3 }, { linkErrors: 1 }, 1);
  assert.match(flapped, /^ {2}linkErrors +3 +\+2\/s$/m);
});
