// What each subcommand of the command line (lib/cli/main.ts) offers.
import type { ParseArgsConfig } from 'node:util';
import type { FlagValues } from './config-file.js';

export interface Command {
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: FlagValues): Promise<number>;
}
