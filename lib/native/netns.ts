// Network namespaces as `ip netns` keeps them: /run/netns/NAME. The addon
// opens the path (setns); the gate runs `ip netns exec NAME nft ...`, so
// whatever holds a gate needs the name.
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const NETNS_DIR = '/run/netns';

/**
 * A namespace name or path as the path to open: a name is looked up in
 * NETNS_DIR, anything with a slash (e.g. /proc/PID/ns/net) is taken as is.
 */
export function netnsPath(netns: string): string {
  if (typeof netns !== 'string' || netns.length === 0) throw new TypeError(`netns must be a namespace name or /run/netns/NAME, got ${JSON.stringify(netns)}`);
  return netns.includes('/') ? netns : join(NETNS_DIR, netns);
}

/**
 * A namespace `ip netns` knows, by name or /run/netns path, as its path;
 * throws a TypeError that names `what` if it is not one or does not exist.
 */
export function namedNetnsPath(netns: string, what = 'netns'): string {
  const path = netnsPath(netns);
  if (dirname(path) !== NETNS_DIR) throw new TypeError(`${what} must be a name from 'ip netns list' or /run/netns/NAME, got ${JSON.stringify(netns)}`);
  if (!existsSync(path)) throw new TypeError(`${what}: no network namespace ${JSON.stringify(netns)} (see 'ip netns list')`);
  return path;
}

/** The `ip netns` name of a path namedNetnsPath returned. */
export function netnsName(path: string): string {
  return basename(path);
}
