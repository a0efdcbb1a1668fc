// Process-wide teardown for things that outlive a process unless removed:
// lab namespaces, nftables gates, child processes.
//
// Every registered action runs once, newest first, synchronously, at process
// 'exit' and on SIGINT/SIGTERM/SIGHUP. For a signal we only act when no one
// else listens for it (registering a listener replaces Node's default "die"):
// we tear down, drop our listener and re-raise the signal so the process ends
// with the conventional status. When the application listens too, it decides
// how to end, and its process.exit() reaches our 'exit' hook.

type Action = () => void;

const actions = new Set<Action>();
let installed = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Registers `action` for exit; returns a function that unregisters it. */
export function onTeardown(action: Action): () => void {
  install();
  actions.add(action);
  return () => {
    actions.delete(action);
  };
}

/** Runs and clears every registered action (newest first); errors are swallowed. */
export function runTeardown(): void {
  const pending = [...actions].reverse();
  actions.clear();
  for (const action of pending) {
    try {
      action();
    } catch {
      // teardown goes on: one leftover must not keep the others behind
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runTeardown);
  for (const signal of SIGNALS) {
    const handler = (): void => {
      if (process.listenerCount(signal) > 1) return;
      runTeardown();
      process.removeListener(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

/** True if a process with this PID exists (EPERM: it does, and is not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
