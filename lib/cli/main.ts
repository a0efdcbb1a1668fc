#!/usr/bin/env node
// syncache: the command line. Each command's --help is the truth about it.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { runListen } from './listen.js';
import { runLab } from './lab.js';
import { runCleanup } from './cleanup.js';
import { runServe } from './serve.js';

import { UsageError } from './errors.js';
import { mergeFlags, readConfigFile, type FlagValues } from './config-file.js';
import type { Command } from './command.js';

const MAIN_HELP = `syncache: a userspace TCP SYN cache and SYN-cookie responder

Usage:
  syncache listen --iface IF --addr IP[,IP] --port P[,P] [options]
                         answer handshakes on an interface and report them
  syncache serve --iface IF --addr IP[,IP] --port P[,P] --forward HOST:PORT [options]
                         shield a TCP service: connections become kernel sockets
                         piped to HOST:PORT
  syncache lab [--seconds N] [--rate PPS] [--json]
                         build a lab, flood syncache, connect real clients, report
  syncache cleanup       remove what a crashed run left (nftables gates, lab namespaces)

  syncache COMMAND --help    options of a command
  syncache --version

listen, serve and lab take --config FILE (JSON; keys are the long flags),
--metrics HOST:PORT (Prometheus, GET /metrics) and --io packet|xdp|auto (the
I/O path: an AF_PACKET ring behind an nftables gate, the XDP door in front
of an AF_XDP ring, or the door where it can be had; default packet); listen
and serve take --key-file PATH (a fleet's shared cookie key, reread on SIGHUP).

Needs CAP_NET_RAW (the packet ring) and CAP_NET_ADMIN (the gate, the kernel
sockets): root, or a user given them (see lib/cli/syncache.service); --io
xdp also CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), and CAP_IPC_LOCK or a
big enough RLIMIT_MEMLOCK.
Exit codes: 0 done, 1 what it ran into (one line on stderr), 2 how it was
called (one line naming the flag).
`;

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
  let flags: FlagValues;
  try {
    flags = parseArgs({ args: joinNegativeValues(rest, command.options), options: command.options, strict: true, allowPositionals: false }).values as FlagValues;
  } catch (error) {
    throw new UsageError(parseArgsMessage(error as NodeJS.ErrnoException));
  }
  let fromFile: FlagValues = {};
  const configPath = flags.config;
  if (typeof configPath === 'string') fromFile = readConfigFile(configPath, command.options);
  try {
    return await command.run(mergeFlags(fromFile, flags));
  } catch (error) {
    // A bad value that came from the file: say where it is.
    if (error instanceof UsageError && error.flag !== undefined && flags[error.flag] === undefined && fromFile[error.flag] !== undefined) {
      error.message += ` (key "${error.flag}" in ${configPath})`;
    }
    throw error;
  }
}

/**
 * `--seconds -1` as `--seconds=-1`: parseArgs takes a value starting with a
 * dash for a flag of its own and refuses it; a negative number never is one,
 * so it goes to the flag and our range check names the flag.
 */
function joinNegativeValues(args: string[], options: Command['options']): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = /^--([^=]+)$/.exec(args[i])?.[1];
    const next = args[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

/** parseArgs' errors in our words: one line naming the flag. */
function parseArgsMessage(e: NodeJS.ErrnoException): string {
  const flag = /'(-[^' ]+)/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${flag}'`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${/'([^']*)'/.exec(e.message)?.[1]}': every value follows its flag`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(e.message)) return `${flag} takes no value`;
      if (/argument is ambiguous/.test(e.message)) return `${flag} needs a value; to give one that starts with a dash, write ${flag}=-VALUE`;
      return `${flag} needs a value`;
    default:
      return e.message.split('\n')[0].replace(/\.$/, '');
  }
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
