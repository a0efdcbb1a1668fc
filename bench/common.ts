// What every benchmark needs: its flags (with --help), the line that says
// which machine a figure comes from, a median, and a clear exit when the lab
// cannot be built here.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { labUnavailableReason } from '../lib/lab/netns.js';

/** A flag of a benchmark's, always with its default (so always has a value). */
interface Flag {
  type: 'string' | 'boolean';
  default: string | boolean;
}

type FlagValues<T extends Record<string, Flag>> = { [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean : string };

/**
 * A benchmark's flags: --help (or -h) prints `usage` and exits 0; a flag it
 * does not take, or one without its value, is one line that names it, and
 * exit 2. Values are checked by the caller.
 */
export function benchFlags<T extends Record<string, Flag>>(bench: string, usage: string, options: T): FlagValues<T> {
  if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  try {
    // parseArgs's own result type is not nameable in a declaration; with every flag defaulted it is this.
    return parseArgs({ options: options as Record<string, Flag> }).values as FlagValues<T>;
  } catch (error) {
    console.error(`${bench}: ${(error as Error).message} (--help lists the flags)`);
    process.exit(2);
  }
}

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
