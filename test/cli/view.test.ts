// The live view of the real CLI on a real pseudo-terminal (script(1) from
// util-linux), answering in a lab namespace: every frame is drawn in place
// from the top left (never a whole-screen clear, never a scroll), fits the
// terminal, follows it when it is resized, and Ctrl-C (the terminal's own
// SIGINT) leaves the cursor visible and prints the final stats.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { CLEAR_TO_LINE_END, CLEAR_TO_SCREEN_END, HIDE_CURSOR, HOME, SHOW_CURSOR } from '../../lib/cli/live-screen.js';

const CLI = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));

function ptyUnavailableReason(): string | undefined {
  if (spawnSync('script', ['--version']).status !== 0) return 'script (util-linux) is not installed';
  if (spawnSync('stty', ['--version']).status !== 0) return 'stty (coreutils) is not installed';
  return undefined;
}

const skip = labUnavailableReason() ?? ptyUnavailableReason();
let pair: PairLab;
before(() => { if (!skip) pair = createPairLab('view', 57); });
after(() => pair?.lab.destroy());

/** A command on a fresh pseudo-terminal of the given size; its output as the terminal receives it. */
class OnTerminal {
  output = '';
  readonly exited: Promise<number | null>;
  private readonly script: ChildProcessWithoutNullStreams;

  constructor(columns: number, rows: number, args: string[]) {
    const command = [`stty cols ${columns} rows ${rows}`, `exec ${[process.execPath, CLI, ...args].join(' ')}`].join('; ');
    // -e: script exits with the command's code; -f: output as it comes.
    this.script = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.script.stdout.setEncoding('utf8').on('data', (s: string) => { this.output += s; });
    this.script.stderr.setEncoding('utf8').on('data', (s: string) => { this.output += s; });
    this.exited = new Promise((resolve) => this.script.once('exit', (code) => resolve(code)));
  }

  async waitFor(what: string, done: (output: string) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.output)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output's end:\n${JSON.stringify(this.output.slice(-3000))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The terminal device the command draws on (its stdout). */
  terminalDevice(): string {
    const [pid] = readFileSync(`/proc/${this.script.pid}/task/${this.script.pid}/children`, 'utf8').trim().split(/\s+/);
    return readlinkSync(`/proc/${pid}/fd/1`);
  }

  /** Types Ctrl-C: the terminal sends SIGINT to the command. */
  interrupt(): void {
    this.script.stdin.write('\x03');
  }

  kill(): void {
    if (this.script.exitCode === null) this.script.kill('SIGKILL');
  }
}

interface Frame {
  /** Its lines, without the escapes. */
  lines: string[];
  /** Newlines written after going home: fewer than the rows, or the screen scrolled. */
  newlines: number;
}

/**
 * The complete frames in `output`: each runs from a cursor-home to the next
 * one, or to the clear of the rest of the screen, or to the cursor shown on
 * exit (a frame that fills every row has no clear after it).
 */
function frames(output: string): Frame[] {
  const chunks = output.split(HOME).slice(1);
  const complete: Frame[] = [];
  chunks.forEach((chunk, i) => {
    let body: string;
    if (chunk.includes(CLEAR_TO_SCREEN_END)) body = chunk.slice(0, chunk.indexOf(CLEAR_TO_SCREEN_END));
    // The last frame filled every row: what close() wrote below it, and the ^C the terminal echoed, are not its own.
    else if (chunk.includes(SHOW_CURSOR)) body = chunk.slice(0, chunk.indexOf(SHOW_CURSOR)).replace(/(\^C)?(\r*\n|\r\x1b\[K)?$/, '');
    else if (i < chunks.length - 1) body = chunk;
    else return;
    const newlines = body.split('\n').length - 1;
    const lines = body.replace(/\r*\n$/, '').split(/\r*\n/).map((line) => {
      assert.ok(line.startsWith(CLEAR_TO_LINE_END), `each line is cleared before it is written: ${JSON.stringify(line)}`);
      return line.slice(CLEAR_TO_LINE_END.length);
    });
    complete.push({ lines, newlines });
  });
  return complete;
}

function assertFrameFits({ lines: frame, newlines }: Frame, columns: number, rows: number): void {
  assert.ok(frame.length <= rows && newlines < rows, `${frame.length} lines, ${newlines} newlines on ${rows} rows`);
  for (const line of frame) {
    assert.ok(line.length <= columns, `${line.length} > ${columns} columns: '${line}'`);
    assert.doesNotMatch(line, /\x1b/, `one escape per line, the clear: ${JSON.stringify(line)}`);
  }
  assert.match(frame[0], /^syncache listen scr0 198\.18\.57\.1 port 80/);
  assert.match(frame[1], /^SYN\/s \d+ +answered\/s \d+ +completed\/s \d+ +cookies\/s \d+/);
}

test('syncache listen on an 80x24 terminal: redrawn in place, fits, follows a resize to 60x20, Ctrl-C restores the cursor', { skip, timeout: 90_000 }, async () => {
  const run = new OnTerminal(80, 24, [
    'listen', '--netns', pair.responder.name, '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '80', '--stats-interval', '0.2',
  ]);
  try {
    await run.waitFor('two frames', (out) => frames(out).length >= 2);
    // One handshake from the kernel's own client (no server behind it: curl times out, having connected).
    spawnSync('ip', ['netns', 'exec', pair.peer.name, 'curl', '-s', '-m', '1', `http://${pair.responderV4}/`]);
    const showsHandshake = (out: string): boolean => frames(out).some((f) => f.lines.some((l) => /^completed +1 /.test(l)));
    await run.waitFor('a frame with the completed handshake', showsHandshake);

    const before80 = frames(run.output).length;
    spawnSync('stty', ['-F', run.terminalDevice(), 'cols', '60', 'rows', '20'], { stdio: 'inherit' });
    await run.waitFor('two frames after the resize', (out) => frames(out).length >= before80 + 3);
    const beforeInterrupt = run.output.length;
    run.interrupt();
    assert.equal(await run.exited, 0, run.output);

    const out = run.output;
    assert.ok(!out.includes('\x1b[2J') && !out.includes('\x1b[3J') && !out.includes('\x1bc'), 'never a whole-screen clear');
    assert.ok(out.indexOf(HIDE_CURSOR) >= 0 && out.indexOf(HIDE_CURSOR) < out.indexOf(HOME), 'cursor hidden before the first frame');
    const shown = out.lastIndexOf(SHOW_CURSOR);
    assert.ok(shown > out.lastIndexOf(HOME) && shown > beforeInterrupt, 'cursor shown again after the last frame, on Ctrl-C');
    assert.match(out.slice(shown), /final stats: .*completed=1/);

    const all = frames(out);
    for (const frame of all.slice(0, before80)) assertFrameFits(frame, 80, 24);
    assertFrameFits(all[all.length - 1], 60, 20);

    const withHandshake = all.find((f) => f.lines.some((l) => /^completed +1 /.test(l)))!.lines;
    const text = withHandshake.join('\n');
    assert.match(text, /backend packet +cache \d+ +paused no/);
    assert.match(withHandshake[withHandshake.length - 1], /^\d+ zero counters hidden/);
    for (const line of withHandshake.slice(3)) {
      for (const m of line.matchAll(/(\w+) +(\d+) +\+\d+\/s/g)) {
        assert.ok(m[2] !== '0' || m[1] === 'linkErrors', `a zero counter is folded, not shown: '${line}'`);
      }
    }
    // At 80 columns two counters share a row; at 60, one.
    assert.ok(withHandshake.some((l) => (l.match(/\+\d+\/s/g) ?? []).length === 2), text);
    assert.ok(all[all.length - 1].lines.every((l) => (l.match(/\+\d+\/s/g) ?? []).length <= 1));
  } finally {
    run.kill();
  }
});
