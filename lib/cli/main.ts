#!/usr/bin/env node
// syncache: the command line. Each command's --help is the truth about it.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { runListen } from './listen.js';
import { runLab } from './lab.js';
import { runCleanup } from './cleanup.js';
import { runServe } from './serve.js';

import { UsageError } from './errors.js';

const MAIN_HELP = `syncache: a userspace TCP SYN cache and SYN-cookie responder

Usage:
  syncache listen --iface IF --addr IP[,IP] --port P[,P] [options]
                         answer handshakes on an interface and report them
  syncache serve --iface IF --addr IP --port P --forward HOST:PORT [options]
                         shield a TCP service: connections become kernel sockets
                         piped to HOST:PORT
  syncache lab [--seconds N] [--rate PPS] [--json]
                         build a lab, flood syncache, connect real clients, report
  syncache cleanup       remove what a crashed run left (nftables gates, lab namespaces)

  syncache COMMAND --help    options of a command
  syncache --version

Needs root (CAP_NET_RAW for the packet ring, CAP_NET_ADMIN for the gate).
`;

export interface Command {
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>): Promise<number>;
}

const COMMANDS: Record<string, Command> = { listen: runListen, serve: runServe, lab: runLab, cleanup: runCleanup };

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(MAIN_HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(`unknown command '${name}'`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help);
    return 0;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: rest, options: command.options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    // parseArgs' messages run over lines and end in periods; one line here,
    // keeping its hint for a value that starts with a dash.
    const [first, ...more] = (error as Error).message.replace(/^Unknown option/, 'unknown option').split('\n');
    const hint = more.find((l) => l.startsWith('To specify'));
    throw new UsageError(first.replace(/\.$/, '') + (hint ? `: to give a value that starts with a dash, ${hint.replace(/^To specify an option argument starting with a dash use /, 'write ').replace(/\.$/, '')}` : ''));
  }
  return command.run(values);
}

/** One clear line for the errors a user can fix. */
export function explain(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e instanceof UsageError) return `${e.message}. See 'syncache --help'.`;
  if (e.code === 'EPERM' || e.code === 'EACCES') return `${e.message}`;
  return e.message ?? String(e);
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain || process.argv[1]?.endsWith('/syncache')) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (error) => {
      process.stderr.write(`syncache: ${explain(error)}\n`);
      if (process.env.SYNCACHE_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
      process.exitCode = error instanceof UsageError ? 2 : 1;
    },
  );
}
