// --config FILE: a JSON object whose keys are the command's long flags
// without the dashes ({"iface":"eth0","port":[80,443],"json":true}). The
// file gives values in the same form the command line does, so the same
// checks, with the same messages naming the flag, apply to both; a flag on
// the command line replaces the file's value for that key.
import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

export type FlagValue = string | boolean | string[] | undefined;
export type FlagValues = Record<string, FlagValue>;
type Options = NonNullable<ParseArgsConfig['options']>;

/** Keys a config file may not set: they say how to read the command line itself. */
const NOT_IN_FILE = new Set(['config', 'help']);

/** Reads FILE; throws a UsageError (exit 2) for a missing file, bad JSON, an unknown key or a value of the wrong type, else an error with the errno code (exit 1). */
export function readConfigFile(path: string, options: Options): FlagValues {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new UsageError(`--config ${path}: no such file`);
    if (e.code === 'EISDIR') throw new UsageError(`--config ${path}: is a directory, not a JSON file`);
    throw Object.assign(new Error(`--config ${path}: cannot read it (${e.code ?? e.message})`), { code: e.code });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--config ${path}: not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--config ${path}: must hold one JSON object of flags, e.g. {"iface":"eth0","port":[80]}`);
  }
  const known = Object.keys(options).filter((k) => !NOT_IN_FILE.has(k));
  const out: FlagValues = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const option = NOT_IN_FILE.has(key) ? undefined : options[key];
    if (option === undefined) throw new UsageError(`--config ${path}: unknown key "${key}" (known: ${known.join(', ')})`);
    out[key] = fileValue(path, key, value, option.type, option.multiple === true);
  }
  return out;
}

function fileValue(path: string, key: string, value: unknown, type: 'string' | 'boolean', multiple: boolean): FlagValue {
  const wrong = (what: string) => new UsageError(`--config ${path}: key "${key}" (--${key}) must be ${what}, got ${JSON.stringify(value)}`);
  if (type === 'boolean') {
    if (typeof value !== 'boolean') throw wrong('true or false');
    return value;
  }
  const scalar = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined);
  if (multiple && Array.isArray(value)) {
    const items = value.map(scalar);
    if (items.length === 0 || items.some((v) => v === undefined)) throw wrong('a string, a number or a non-empty list of them');
    return items as string[];
  }
  const s = scalar(value);
  if (s === undefined) throw wrong(multiple ? 'a string, a number or a non-empty list of them' : 'a string or a number');
  return multiple ? [s] : s;
}

/** The command line over the file: each flag given replaces the file's value for its key. */
export function mergeFlags(file: FlagValues, flags: FlagValues): FlagValues {
  const out: FlagValues = { ...file };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) out[k] = v;
  return out;
}
