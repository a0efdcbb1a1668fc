// Drawing frames in place: home, each line cleared then written, the rest of
// the screen cleared; never a whole-screen clear, never a newline after the
// last row; the cursor hidden while drawing and shown again on close, on
// 'exit', and a redraw on 'resize'. A stand-in stream records the bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { CLEAR_TO_LINE_END, CLEAR_TO_SCREEN_END, HIDE_CURSOR, HOME, LiveScreen, SHOW_CURSOR, encodeFrame } from '../../lib/cli/live-screen.js';

class RecordingTerminal extends EventEmitter {
  written = '';
  constructor(public columns: number, public rows: number) {
    super();
  }

  write(text: string): boolean {
    this.written += text;
    return true;
  }
}

test('a frame shorter than the screen: home, each line cleared then written, the rest of the screen cleared', () => {
  assert.equal(encodeFrame(['title', 'rates'], 24), `${HOME}${CLEAR_TO_LINE_END}title\r\n${CLEAR_TO_LINE_END}rates\r\n${CLEAR_TO_SCREEN_END}`);
});

test('a frame of every row ends on its last line: no newline that would scroll', () => {
  const lines = Array.from({ length: 24 }, (_, i) => `line ${i}`.padEnd(80, '.'));
  const frame = encodeFrame(lines, 24);
  assert.ok(frame.startsWith(HOME));
  assert.ok(frame.endsWith(`${CLEAR_TO_LINE_END}${lines[23]}`));
  assert.equal(frame.split('\n').length, 24);
  assert.ok(!frame.includes('\x1b[2J'));
});

test('LiveScreen hides the cursor, redraws in place, redraws on resize and shows the cursor on close', () => {
  const out = new RecordingTerminal(80, 24);
  let redraws = 0;
  const exitListeners = process.listenerCount('exit');
  const screen = new LiveScreen(out as unknown as NodeJS.WriteStream, () => { redraws++; });
  assert.equal(out.written, HIDE_CURSOR);
  assert.equal(process.listenerCount('exit'), exitListeners + 1, 'restores the cursor if the process exits first');
  assert.deepEqual(screen.size(), { columns: 80, rows: 24 });
  screen.draw(['a', 'b']);
  screen.draw(['a', 'c']);
  assert.equal(out.written.split(HOME).length - 1, 2);
  assert.ok(!out.written.includes('\x1b[2J') && !out.written.includes('\x1b[3J'));

  out.columns = 60;
  out.rows = 20;
  out.emit('resize');
  assert.equal(redraws, 1);
  assert.deepEqual(screen.size(), { columns: 60, rows: 20 });

  screen.close();
  assert.ok(out.written.endsWith(`${CLEAR_TO_SCREEN_END}\r${CLEAR_TO_LINE_END}${SHOW_CURSOR}`), 'below a short frame the cursor is already on a free line (cleared of an echoed ^C)');
  assert.equal(process.listenerCount('exit'), exitListeners);
  assert.equal(out.listenerCount('resize'), 0);
  const after = out.written.length;
  screen.close();
  screen.draw(['late']);
  assert.equal(out.written.length, after, 'close() is idempotent and nothing is drawn after it');
});

test('closing after a frame that filled the screen moves to a new line first', () => {
  const out = new RecordingTerminal(80, 3);
  const screen = new LiveScreen(out as unknown as NodeJS.WriteStream, () => {});
  screen.draw(['1', '2', '3']);
  screen.close();
  assert.ok(out.written.endsWith(`3\r\n${SHOW_CURSOR}`));
});

test('a terminal that does not say its size is taken as 80x24', () => {
  const out = new RecordingTerminal(0, 0);
  const screen = new LiveScreen(out as unknown as NodeJS.WriteStream, () => {});
  assert.deepEqual(screen.size(), { columns: 80, rows: 24 });
  screen.close();
});
