// What every benchmark needs: the line that says which machine a figure
// comes from, a median, and a clear exit when the lab cannot be built here.
import os from 'node:os';
import { labUnavailableReason } from '../lib/lab/netns.js';

/** CPUs, their model, kernel and Node: printed with every table. */
export function machine(): string {
  return `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Linux ${os.release()}, node ${process.version}`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Exits (status 1) with one line saying why, if network namespaces cannot be used here. */
export function requireLab(bench: string): void {
  const why = labUnavailableReason();
  if (why) {
    console.error(`${bench}: cannot run: ${why}`);
    process.exit(1);
  }
}
