// Flag values to typed options, with errors that name the flag.
import { isIP } from 'node:net';
import { UsageError } from './errors.js';

export function list(flag: string, value: string | boolean | undefined): string[] {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${flag} is required`);
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

export function addresses(flag: string, value: string | boolean | undefined): string[] {
  const out = list(flag, value);
  for (const a of out) if (isIP(a) === 0) throw new UsageError(`--${flag}: '${a}' is not an IPv4 or IPv6 address`);
  return out;
}

export function ports(flag: string, value: string | boolean | undefined): number[] {
  return list(flag, value).map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--${flag}: '${p}' is not a port from 1 to 65535`);
    return n;
  });
}

export function integer(flag: string, value: string | boolean | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got '${String(value)}'`);
  }
  return n;
}

export function number(flag: string, value: string | boolean | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${flag} must be a number from ${min} to ${max}, got '${String(value)}'`);
  }
  return n;
}

export function choice<T extends string>(flag: string, value: string | boolean | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got '${String(value)}'`);
  }
  return value as T;
}

/** Root is needed for the packet ring and the gate; say so before anything fails halfway. */
export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new UsageError(`${what} needs root (CAP_NET_RAW for the packet ring, CAP_NET_ADMIN for the nftables gate): run it with sudo`);
  }
}
