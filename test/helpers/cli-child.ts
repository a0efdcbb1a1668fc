// The syncache CLI as a child process inside a lab namespace: start it, wait
// for a line on its stdout, signal it, collect its exit. Every child is
// tracked and ended by PID if the test process exits first.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Namespace } from '../../lib/lab/netns.js';
import { track } from './children.js';

/** The CLI under test; SYNCACHE_TEST_CLI runs the tests against another build (e.g. main's, to see them fail there). */
export const CLI = process.env.SYNCACHE_TEST_CLI ?? fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));

export interface CliChild {
  child: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `match` (already written or to come). */
  line(match: RegExp, ms?: number): Promise<string>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** Runs `prefix... node CLI args` inside `ns` (prefix: e.g. setpriv and its options). */
export function cliIn(ns: Namespace, args: string[], prefix: string[] = []): CliChild {
  const [cmd, argv] = ns.wrap(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), CLI, ...args]);
  const child = track(spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d) => { out += d; for (const w of [...waiters]) w(); });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => { for (const w of [...waiters]) w(); resolve(code ?? signal ?? -1); }));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    line(match, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = out.split('\n').find((l) => match.test(l));
          if (found !== undefined) {
            done();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`exited (${child.exitCode ?? child.signalCode}) without a line matching ${match}; stdout: ${out}; stderr: ${err}`));
          }
        };
        const timer = setTimeout(() => { done(); reject(new Error(`no line matching ${match} in ${ms} ms; stdout: ${out}; stderr: ${err}`)); }, ms);
        const done = (): void => {
          clearTimeout(timer);
          const i = waiters.indexOf(check);
          if (i >= 0) waiters.splice(i, 1);
        };
        waiters.push(check);
        check();
      });
    },
  };
}

/** Runs a command inside `ns` to its end. */
export function runIn(ns: Namespace, cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [c, a] = ns.wrap(cmd, args);
  const child = track(spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}
