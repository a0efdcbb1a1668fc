// Which local addresses a responder may answer for: unicast addresses of its
// own interface, nothing wider. The ring sees one interface and the gate
// names it (iifname), so all three agree on where handshakes are taken:
//
//   0.0.0.0, ::            "any address" would gate every address of the host
//                          while the ring sees one interface: refused
//   127/8, ::1             loopback never reaches another interface's ring
//   ::ffff:a.b.c.d         an IPv4 packet never carries it: give a.b.c.d
//   multicast, broadcast   no TCP handshake is made to them
//   not on the interface   its handshakes arrive elsewhere, or nowhere
//
// The first four are checked before anything is opened (bindAddressProblem);
// the last once the interface is known to exist (requireOnInterface).
import { execFileSync } from 'node:child_process';
import { isIP } from 'node:net';
import { parseAddress } from '../native/address.js';

/** Why `addr` (an IPv4/IPv6 address) cannot be answered for, or undefined if it can. */
export function bindAddressProblem(addr: string): string | undefined {
  const b = new Uint8Array(16);
  const family = parseAddress(addr, b);
  if (family === 4) {
    if (b[0] === 0) return `${addr} is the wildcard ("this host") address, and syncache answers on one interface: give that interface's own addresses (ip -br addr show dev IF)`;
    if (b[0] === 127) return `${addr} is a loopback address, whose packets never reach the interface syncache reads: give an address of that interface`;
    if (b[0] >= 224) return `${addr} is a ${b[0] < 240 ? 'multicast' : 'reserved or broadcast'} address: TCP connects to unicast addresses only`;
    return undefined;
  }
  const zeros = (from: number, to: number): boolean => b.subarray(from, to).every((x) => x === 0);
  if (zeros(0, 16)) return `${addr} is the wildcard (unspecified) address, and syncache answers on one interface: give that interface's own addresses (ip -br addr show dev IF)`;
  if (zeros(0, 15) && b[15] === 1) return `${addr} is the loopback address, whose packets never reach the interface syncache reads: give an address of that interface`;
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return `${addr} is an IPv4-mapped address, which no packet on the wire carries: give the IPv4 address ${b.subarray(12).join('.')}`;
  if (b[0] === 0xff) return `${addr} is a multicast address: TCP connects to unicast addresses only`;
  return undefined;
}

/** Throws a TypeError naming `what` for the first address that is not one syncache can answer for. */
export function checkBindAddresses(addrs: readonly string[], what = 'addrs'): void {
  for (const a of addrs) {
    if (typeof a !== 'string' || isIP(a) === 0) throw new TypeError(`${what}: not an IPv4 or IPv6 address: ${JSON.stringify(a)}`);
    const problem = bindAddressProblem(a);
    if (problem !== undefined) throw new TypeError(`${what}: ${problem}`);
  }
}

/** The addresses configured on `iface` (in namespace `netns`, an `ip netns` name), as 16-byte keys. */
function interfaceAddresses(iface: string, netns: string | undefined): Set<string> {
  const args = [...(netns === undefined ? [] : ['-n', netns]), '-j', 'addr', 'show', 'dev', iface];
  const out = execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const links = JSON.parse(out) as Array<{ addr_info?: Array<{ local?: string }> }>;
  const keys = new Set<string>();
  for (const link of links) for (const info of link.addr_info ?? []) if (info.local) keys.add(addressKey(info.local));
  return keys;
}

function addressKey(addr: string): string {
  const b = new Uint8Array(16);
  const family = parseAddress(addr, b);
  return `${family}:${b.join('.')}`;
}

/**
 * Throws (code EADDRNOTAVAIL) unless every address is configured on `iface`:
 * syncache answers for the interface's own addresses only.
 */
export function requireOnInterface(iface: string, netns: string | undefined, addrs: readonly string[]): void {
  let present: Set<string>;
  try {
    present = interfaceAddresses(iface, netns);
  } catch (error) {
    const detail = ((error as { stderr?: string }).stderr ?? '').trim() || (error as Error).message;
    throw Object.assign(new Error(`cannot list the addresses of ${iface}${netns ? ` in netns ${netns}` : ''}: ${detail}`), { code: 'ENODEV' });
  }
  const missing = addrs.filter((a) => !present.has(addressKey(a)));
  if (missing.length > 0) {
    throw Object.assign(
      new Error(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not configured on ${iface}${netns ? ` in netns ${netns}` : ''}: ` +
        `syncache answers only for the interface's own addresses (add it with \`ip addr add ADDR dev ${iface}\`, or pick the interface that has it)`),
      { code: 'EADDRNOTAVAIL' },
    );
  }
}
