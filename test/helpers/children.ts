// Child processes a test file started: each is tracked until it exits, and
// whatever is still running when the test process exits is ended by its PID.
import type { ChildProcess } from 'node:child_process';

const children = new Set<ChildProcess>();

process.on('exit', () => {
  for (const c of children) {
    try {
      if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    } catch {
      // it exited unseen
    }
  }
});

/** Tracks `child` until it exits; returns it. */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
