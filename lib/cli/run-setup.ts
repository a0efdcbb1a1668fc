// What `listen` and `serve` do before their instance exists: the options
// from the flags, --io auto's choice (io-needs.ts), the capability check for
// the command and the path at hand, the warnings (more workers than cores,
// auto taking the packet path, --no-gate with the door), and the signals
// caught from then on (stops, and SIGHUP for the key).
import { metricsAddress, responderNeeds, responderOptions, statsInterval, workersWarning } from './args.js';
import { effectiveCapabilities, requireCapabilities } from './capabilities.js';
import { autoWarning, decideIo } from './io-needs.js';
import { KeyReloader } from './key-reload.js';
import { catchStopSignals, type StopSignals } from './stop-signals.js';
import type { FlagValues } from './config-file.js';
import { doorRefusal } from '../responder/io-choice.js';
import { netnsName } from '../native/netns.js';

export interface RunSetup {
  /** The Responder's options; io as decided (see decideIo). */
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
  const effective = effectiveCapabilities();
  const decision = decideIo(options.io, () => doorRefusal(options, options.netns === undefined ? undefined : netnsName(options.netns)), effective);
  requireCapabilities(command, responderNeeds({ netns: options.netns, ...needs, path: decision.path }), effective);
  const warnings = [
    workersWarning(options.workers),
    autoWarning(decision),
    needs.gate === 'off' && decision.path === 'xdp' ? `syncache: warning: --no-gate does nothing with --io ${options.io}: the XDP door keeps the kernel out of the handshakes without a gate\n` : undefined,
  ];
  for (const line of warnings) if (line) process.stderr.write(line);
  const json = v.json === true;
  return { options: { ...options, io: decision.io }, intervalS, metricsAt, json, stops: catchStopSignals(), hangups: new KeyReloader(options.secrets?.keyFile, json) };
}
