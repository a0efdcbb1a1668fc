// SIGINT and SIGTERM caught from the moment a command starts setting up, so
// one that arrives while the responder opens (a service manager stopping a
// service that is still starting) still ends the run the orderly way once
// it is up: final stats, gate removed, exit 0, instead of Node's default
// death by signal.

export interface StopSignals {
  /** Resolves with the first SIGINT or SIGTERM. */
  stopped: Promise<NodeJS.Signals>;
  /** Stops catching them. */
  release(): void;
}

export function catchStopSignals(): StopSignals {
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolve) => { onSignal = resolve; });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    stopped,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
