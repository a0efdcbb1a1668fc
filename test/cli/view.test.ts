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
import { createPairLab, labUnavailableReason, type Namespace, type PairLab } from '../../lib/lab/netns.js';
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

  /** In namespace `ns` if given (ip netns exec execs script: its pid stays ours). */
  constructor(columns: number, rows: number, args: string[], ns?: Namespace) {
    const command = [`stty cols ${columns} rows ${rows}`, `exec ${[process.execPath, CLI, ...args].join(' ')}`].join('; ');
    // -e: script exits with the command's code; -f: output as it comes.
    const [file, argv] = ns ? ns.wrap('script', ['-qefc', command, '/dev/null']) : ['script', ['-qefc', command, '/dev/null']];
    this.script = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
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

  /** The command's pid: script's one child (the shell, which exec'd it). */
  commandPid(): number {
    return Number(readFileSync(`/proc/${this.script.pid}/task/${this.script.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
  }

  /** The terminal device the command draws on (its stdout). */
  terminalDevice(): string {
    return readlinkSync(`/proc/${this.commandPid()}/fd/1`);
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
  assert.match(frame[0], /^syncache (listen|serve) scr0 198\.18\.57\.1 port 80/);
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
    assert.match(text, /io packet +cache \d+ +paused no/);
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

test('syncache serve on a 60x20 terminal: handoffs/s among the rates, the handoff latency, and SIGTERM shows the cursor again', { skip, timeout: 90_000 }, async () => {
  // The backend: an echo server in the responder namespace, where serve runs too.
  const backend = spawn(...pair.responder.wrap(process.execPath, ['-e', `
    require('net').createServer((s) => s.pipe(s)).listen(9057, '127.0.0.1', () => console.log('ready'));
  `]), { stdio: ['ignore', 'pipe', 'inherit'] });
  const run = new OnTerminal(60, 20, [
    'serve', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '80', '--forward', '127.0.0.1:9057', '--stats-interval', '0.2',
  ], pair.responder);
  try {
    await new Promise<void>((resolve) => backend.stdout.once('data', () => resolve()));
    await run.waitFor('a frame', (out) => frames(out).length >= 1);
    const echoed = spawnSync('ip', ['netns', 'exec', pair.peer.name, process.execPath, '-e', `
      const s = require('net').connect(80, ${JSON.stringify(pair.responderV4)}, () => s.write('hello'));
      s.on('data', (d) => { console.log(String(d)); s.destroy(); });
    `], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(echoed.stdout.trim(), 'hello', echoed.stderr);
    const showsHandoff = (out: string): boolean => frames(out).some((f) => f.lines.some((l) => /^handoffs 1 /.test(l)));
    await run.waitFor('a frame with the handoff', showsHandoff);
    process.kill(run.commandPid(), 'SIGTERM');
    assert.equal(await run.exited, 0, run.output.slice(-3000));

    const out = run.output;
    assert.ok(!out.includes('\x1b[2J'), 'never a whole-screen clear');
    const shown = out.lastIndexOf(SHOW_CURSOR);
    assert.ok(shown > out.lastIndexOf(HOME), 'cursor shown again after the last frame, on SIGTERM');
    assert.match(out.slice(shown), /final stats: .*handoffs=1/);
    const all = frames(out);
    for (const frame of all) assertFrameFits(frame, 60, 20);
    const frame = all.find((f) => f.lines.some((l) => /^handoffs 1 /.test(l)))!.lines;
    assert.match(frame.slice(1, 3).join('\n'), /handoffs\/s \d+/);
    assert.match(frame.join('\n'), /^handoffs 1 +handoff p50\/p99 \d+(\.\d\d)?\/\d+(\.\d\d)? ms/m);
    assert.match(frame.join('\n'), /io packet +cache \d+ +paused no/);
  } finally {
    run.kill();
    backend.kill('SIGTERM');
  }
});
