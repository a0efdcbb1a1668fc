// The live view's layout: one frame's lines from the counter snapshots, the
// seconds between them, the facts beside them and the terminal's size. Pure,
// so its fit is tested without a terminal; live-screen.ts draws the lines.
//
//   syncache listen veth0 198.18.55.1 port 80 (syncookies on)        10:15:27
//   SYN/s 12.3k   answered/s 12.3k   completed/s 1.2k   cookies/s 12.3k
//   io xdp   cache 1234   paused no   key epoch 117603811   (io auto: packet)
//   handoff p50 0.21 ms   p99 1.40 ms   handoffs 1234   open 3        (serve)
//   forwarded 1234   active 3                        (other facts, packed)
//
//   parsedSyn               123456   +12.3k/s  failcookie                12 +0/s
//   ...                                              (column by column)
//   81 zero counters hidden; Ctrl-C to stop
//
// Every line is cut at the terminal's width (never wrapped) and there are
// never more lines than rows: headline counters come first, so a short
// terminal loses the rare ones, and the last line says how many are missing.
// Counters at zero are folded into that line, except linkErrors, whose zero
// says the link never flapped.

export type Counters = Record<string, number>;
export type Facts = Record<string, string | number | boolean | null>;

export interface TerminalSize {
  columns: number;
  rows: number;
}

export interface ViewFrame {
  title: string;
  /** Counters now (responder stats). */
  counters: Counters;
  /** viewNumbers() of the previous frame, for the rates; undefined at first. */
  prev?: Counters;
  /** Seconds since the previous frame. */
  seconds: number;
  /** io, backend, paused, cacheSize, keyEpoch, workers; for serve the handoff stats; anything else is listed. */
  facts?: Facts;
  /** The clock shown in the title (default: now). */
  time?: Date;
}

/** The counters a person watches first, in the order shown. */
const HEADLINE = [
  'parsedSyn', 'synackssent', 'completed', 'added', 'dupsyn', 'retransmitted', 'stale',
  'sendcookie', 'recvcookie', 'failcookie', 'bucketoverflow', 'cacheoverflow', 'zonefail', 'pauses',
  'dropped', 'reset', 'badack', 'unreach', 'aborted', 'kernelDrops', 'txdropped', 'linkErrors',
];

/** Shown even at zero: that zero is news (the link never flapped). */
const SHOWN_AT_ZERO = new Set(['linkErrors']);

/** The rates line: label, then the counter or numeric fact it is the rate of. */
const RATES: ReadonlyArray<readonly [string, string]> = [
  ['SYN/s', 'parsedSyn'], ['answered/s', 'synackssent'], ['completed/s', 'completed'], ['cookies/s', 'sendcookie'],
];
const HANDOFF_RATE = ['handoffs/s', 'handoffs'] as const;

/** Facts given a place of their own; the rest are listed after them. */
const PLACED_FACTS = new Set([
  'io', 'backend', 'paused', 'cacheSize', 'keyEpoch', 'workers',
  'handoffs', 'handoffP50Ms', 'handoffP99Ms', 'connectionP50Ms', 'connectionP99Ms', 'open', 'handoffFailed', 'handoffFailedBy',
  'calm', 'calmConnections',
]);

const NAME_WIDTH = 22;
const VALUE_WIDTH = 7;
const RATE_DIGITS = 5;
const RATE_WIDTH = RATE_DIGITS + '+/s'.length;
/** One counter cell: name, total, rate; cells are two spaces apart, or one if that fits another. */
const CELL_WIDTH = NAME_WIDTH + 1 + VALUE_WIDTH + 1 + RATE_WIDTH;

/** The counters and the numeric facts in one record: what rates are taken of. */
export function viewNumbers(counters: Counters, facts: Facts = {}): Counters {
  const out: Counters = {};
  for (const [k, v] of Object.entries(facts)) if (typeof v === 'number') out[k] = v;
  return Object.assign(out, counters);
}

/** `n` in at most `width` characters if it can be: exact, else 12.3k, 456M, 7.8G... */
export function formatCount(n: number, width = VALUE_WIDTH): string {
  const exact = String(Math.round(n));
  if (exact.length <= width) return exact;
  for (const [unit, suffix] of [[1e3, 'k'], [1e6, 'M'], [1e9, 'G'], [1e12, 'T']] as const) {
    for (const digits of [1, 0]) {
      const short = `${(n / unit).toFixed(digits)}${suffix}`;
      if (short.length <= width) return short;
    }
  }
  return `${(n / 1e12).toFixed(0)}T`;
}

/** A rate on the rates line and in a counter's cell: 12345, 235k. */
const formatRate = (n: number): string => formatCount(n, RATE_DIGITS);

function formatMs(ms: number | string | boolean | null | undefined): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '-';
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(0);
}

function formatFact(v: string | number | boolean): string {
  if (typeof v === 'number') return Number.isInteger(v) ? formatCount(v) : v.toFixed(2);
  return String(v);
}

/** Cut at `width` columns (the view's text is ASCII). */
function cut(line: string, width: number): string {
  return line.length > width ? line.slice(0, Math.max(0, width)) : line;
}

/** Fields on one line, three spaces apart if they fit, else two, else one, else cut. */
function spread(fields: string[], width: number): string {
  for (const gap of ['   ', '  ', ' ']) {
    const line = fields.join(gap);
    if (line.length <= width) return line;
  }
  return cut(fields.join(' '), width);
}

/** Fields on one line if they fit (spread), else packed into as few lines as fit, `gap` apart. */
function pack(fields: string[], width: number, gap = '   '): string[] {
  if (fields.length === 0) return [];
  if (fields.join(' ').length <= width || fields.length === 1) return [spread(fields, width)];
  const lines: string[] = [];
  let line = '';
  for (const field of fields) {
    if (line === '') line = field;
    else if (line.length + gap.length + field.length <= width) line += `${gap}${field}`;
    else {
      lines.push(line);
      line = field;
    }
  }
  if (line !== '') lines.push(line);
  return lines.map((l) => cut(l, width));
}

/** `io xdp` (the path asked for and taken), `io auto: packet` (asked, taken), or `backend packet` if only that is known. */
function ioField(facts: Facts): string | undefined {
  const { io, backend } = facts;
  if (io == null) return backend == null ? undefined : `backend ${backend}`;
  return backend == null || backend === io ? `io ${io}` : `io ${io}: ${backend}`;
}

/** The responder's state: io, cache, pause, fleet key epoch, workers. */
function statusFields(facts: Facts): string[] {
  const fields: string[] = [];
  const io = ioField(facts);
  if (io !== undefined) fields.push(io);
  if (facts.cacheSize != null) fields.push(`cache ${formatCount(Number(facts.cacheSize))}`);
  if (facts.paused != null) fields.push(facts.paused === true ? 'PAUSED' : 'paused no');
  if (facts.keyEpoch != null) fields.push(`key epoch ${facts.keyEpoch}`);
  if (typeof facts.workers === 'number' && facts.workers > 0) fields.push(`workers ${facts.workers}`);
  return fields;
}

/** serve's handoffs: how many, how long (p50/p99), open, the calm listener's (if any), failed (if any) and why. */
function handoffFields(facts: Facts): string[] {
  const fields = [
    `handoffs ${formatCount(Number(facts.handoffs))}`,
    `handoff p50/p99 ${formatMs(facts.handoffP50Ms)}/${formatMs(facts.handoffP99Ms)} ms`,
  ];
  if ('connectionP50Ms' in facts) fields.push(`connection p50/p99 ${formatMs(facts.connectionP50Ms)}/${formatMs(facts.connectionP99Ms)} ms`);
  if (typeof facts.open === 'number') fields.push(`open ${formatCount(facts.open)}`);
  if (typeof facts.calm === 'number' && facts.calm > 0) fields.push(`calm <${formatCount(facts.calm)}/s: kernel took ${formatCount(Number(facts.calmConnections))}`);
  if (typeof facts.handoffFailed === 'number' && facts.handoffFailed !== 0) {
    const by = typeof facts.handoffFailedBy === 'string' && facts.handoffFailedBy !== '-' ? ` (${facts.handoffFailedBy})` : '';
    fields.push(`failed ${formatCount(facts.handoffFailed)}${by}`);
  }
  return fields;
}

/** Cells in as many columns as `columns` holds, filled column by column, on at most `rows` rows; `missing`: cells with no room. */
function counterGrid(cells: string[], columns: number, rows: number): { grid: string[]; missing: number } {
  const across = (gap: number): number => Math.max(1, Math.floor((columns + gap) / (CELL_WIDTH + gap)));
  const gap = across(2) === across(1) ? '  ' : ' ';
  const perRow = across(gap.length);
  const fitting = Math.min(cells.length, rows * perRow);
  const height = Math.ceil(fitting / perRow);
  const grid: string[] = [];
  for (let r = 0; r < height; r++) {
    const row: string[] = [];
    for (let c = 0; c < perRow; c++) {
      const i = c * height + r;
      if (i < fitting) row.push(cells[i]);
    }
    grid.push(cut(row.join(gap).trimEnd(), columns));
  }
  return { grid, missing: cells.length - fitting };
}

export function renderView(frame: ViewFrame, size: TerminalSize): string[] {
  const columns = Math.max(1, Math.floor(size.columns));
  const rows = Math.max(1, Math.floor(size.rows));
  const facts = frame.facts ?? {};
  const now = viewNumbers(frame.counters, facts);
  const rate = (name: string): number => {
    if (frame.prev === undefined || frame.seconds <= 0) return 0;
    return ((now[name] ?? 0) - (frame.prev[name] ?? 0)) / frame.seconds;
  };

  const header: string[] = [];
  let hidden = 0;
  const clock = (frame.time ?? new Date()).toISOString().slice(11, 19);
  header.push(frame.title.length + 2 + clock.length <= columns
    ? `${frame.title}${' '.repeat(columns - frame.title.length - clock.length)}${clock}`
    : cut(frame.title, columns));

  const rates = [...RATES, ...('handoffs' in facts ? [HANDOFF_RATE] : [])];
  header.push(...pack(rates.map(([label, name]) => `${label} ${formatRate(rate(name))}`), columns, '  '));

  header.push(...pack(statusFields(facts), columns));
  if ('handoffs' in facts) {
    header.push(...pack(handoffFields(facts), columns));
    if (facts.handoffFailed === 0) hidden++;
  }

  const others: string[] = [];
  for (const [name, v] of Object.entries(facts)) {
    if (PLACED_FACTS.has(name) || v === null || v === '' || v === '-' || v === false) continue;
    if (v === 0) hidden++;
    else others.push(`${name} ${formatFact(v)}`);
  }
  header.push(...pack(others, columns));

  const order = [...HEADLINE.filter((n) => n in frame.counters), ...Object.keys(frame.counters).filter((n) => !HEADLINE.includes(n))];
  const shown = order.filter((n) => frame.counters[n] !== 0 || SHOWN_AT_ZERO.has(n));
  hidden += order.length - shown.length;

  const cell = (name: string): string => {
    const total = formatCount(frame.counters[name] ?? 0).padStart(VALUE_WIDTH);
    const perSecond = `+${formatRate(rate(name))}/s`.padStart(RATE_WIDTH);
    return `${cut(name, NAME_WIDTH).padEnd(NAME_WIDTH)} ${total} ${perSecond}`;
  };
  // Rows left: the header, a blank line, and one line for what is not shown.
  const { grid, missing } = counterGrid(shown.map(cell), columns, Math.max(0, rows - header.length - 2));

  const note = [
    ...(missing > 0 ? [`${missing} more not shown (bigger terminal)`] : []),
    `${hidden} zero counters hidden`,
    'Ctrl-C to stop',
  ].join('; ');
  const lines = [...header, ...(grid.length > 0 ? ['', ...grid] : []), cut(note, columns)];
  // Too few rows even for the header: its top lines (title, rates) win.
  return lines.slice(0, rows);
}
