// Where benchmark history lives: every run of flood, serve, micro and soak
// appends its full JSON record, one line, to bench/results/<name>.jsonl in
// the source tree. The README's summary quotes the latest line of each.
import { appendFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The results folder in the source tree (bench/ beside dist/). */
export const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

/** Appends the run's record to bench/results/<bench>.jsonl; returns the file's path. */
export function saveResult(bench: string, record: object): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${bench}.jsonl`;
  appendFileSync(path, `${JSON.stringify(record)}\n`);
  return path;
}
