// What `listen` and `serve` do before their instance exists: the options
// from the flags, the capability check for the command at hand, the warning
// for more workers than cores, and the signals caught from then on (stops,
// and SIGHUP for the key).
import { metricsAddress, responderNeeds, responderOptions, statsInterval, workersWarning } from './args.js';
import { requireCapabilities } from './capabilities.js';
import { KeyReloader } from './key-reload.js';
import { catchStopSignals, type StopSignals } from './stop-signals.js';
import type { FlagValues } from './config-file.js';

export interface RunSetup {
  options: ReturnType<typeof responderOptions>;
  intervalS: number;
  metricsAt: ReturnType<typeof metricsAddress>;
  json: boolean;
  stops: StopSignals;
  hangups: KeyReloader;
}

/** Checks the flags and the capabilities `command` needs (see responderNeeds), then catches the signals. */
export function prepareRun(command: string, v: FlagValues, needs: { gate: 'optional' | 'required' | 'off'; handoff: boolean }): RunSetup {
  const options = responderOptions(v);
  const intervalS = statsInterval(v);
  const metricsAt = metricsAddress(v);
  requireCapabilities(command, responderNeeds({ netns: options.netns, ...needs }));
  const warning = workersWarning(options.workers);
  if (warning) process.stderr.write(warning);
  const json = v.json === true;
  return { options, intervalS, metricsAt, json, stops: catchStopSignals(), hangups: new KeyReloader(options.secrets?.keyFile, json) };
}
