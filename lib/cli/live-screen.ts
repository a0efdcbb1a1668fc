// Draws the live view's frames on a terminal in place. Each frame goes home
// (top left), clears and writes each line, then clears the rest of the
// screen: nothing scrolls and the screen is never cleared whole, so a redraw
// does not flicker or push frames into the scrollback. Each line is cleared
// before it is written, not after: a line as wide as the terminal leaves the
// cursor on its last column, and clearing from there would erase that column.
// No newline follows a frame that fills every row (it would scroll).
//
// The cursor is hidden while frames are drawn and shown again by close(),
// which the view calls on SIGINT/SIGTERM, and on the process's 'exit' (an
// error on the way out). A 'resize' of the terminal redraws at the new size.
import type { TerminalSize } from './view-layout.js';

export const HOME = '\x1b[H';
export const CLEAR_TO_LINE_END = '\x1b[K';
export const CLEAR_TO_SCREEN_END = '\x1b[J';
export const HIDE_CURSOR = '\x1b[?25l';
export const SHOW_CURSOR = '\x1b[?25h';

/** What a terminal that does not say its size is taken to be. */
const DEFAULT_SIZE: TerminalSize = { columns: 80, rows: 24 };

/** The bytes that draw `lines` (at most `rows` of them, each fitting) over the previous frame. */
export function encodeFrame(lines: readonly string[], rows: number): string {
  const body = lines.map((line) => `${CLEAR_TO_LINE_END}${line}`).join('\r\n');
  return lines.length < rows ? `${HOME}${body}\r\n${CLEAR_TO_SCREEN_END}` : `${HOME}${body}`;
}

export class LiveScreen {
  private closed = false;
  /** Whether the last frame filled every row (the cursor is on its last line). */
  private filled = false;
  private readonly onExit = (): void => this.close();

  /** `redraw` is called when the terminal's size changes. */
  constructor(private readonly out: NodeJS.WriteStream, private readonly redraw: () => void) {
    out.write(HIDE_CURSOR);
    out.on('resize', redraw);
    process.on('exit', this.onExit);
  }

  size(): TerminalSize {
    const { columns, rows } = this.out;
    return { columns: columns > 0 ? columns : DEFAULT_SIZE.columns, rows: rows > 0 ? rows : DEFAULT_SIZE.rows };
  }

  draw(lines: readonly string[]): void {
    if (this.closed) return;
    const { rows } = this.size();
    this.out.write(encodeFrame(lines, rows));
    this.filled = lines.length >= rows;
  }

  /** Leaves the last frame on screen, the cursor visible at the start of the line below it. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.off('resize', this.redraw);
    process.off('exit', this.onExit);
    // Below a short frame the cursor is on a free line already (where the
    // terminal may have echoed ^C): clear it.
    this.out.write(`${this.filled ? '\r\n' : `\r${CLEAR_TO_LINE_END}`}${SHOW_CURSOR}`);
  }
}
