// Responder.open() and protect() refuse bad options before anything touches
// the system (no ring, no gate, no namespace), each with an error that names
// the option and says what it accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Responder, type ResponderOptions } from '../../lib/responder/responder.js';
import { protect } from '../../lib/handoff/protect.js';
import { ManualClock } from '../../lib/engine/clock.js';

const good: ResponderOptions = { iface: 'eth0', addrs: ['198.18.0.1'], ports: [80] };
// Where a case could get past validation only through a bug, it would stop at
// this namespace, which does not exist: never at the host's own interfaces.
const NO_NETNS = 'sc-0-no-such-namespace';

const cases: Array<[string, Partial<ResponderOptions> & Record<string, unknown>, ErrorConstructor, RegExp]> = [
  ['no interface', { iface: '' }, TypeError, /^iface must be an interface name \(1 to 15 characters\), got ""/],
  ['an interface name too long for Linux', { iface: 'a-very-long-name0' }, TypeError, /iface must be an interface name/],
  ['no addresses', { addrs: [] }, TypeError, /^addrs must be a non-empty array/],
  ['an address that is not one', { addrs: ['198.18.0.1', 'example.com'] }, TypeError, /^addrs: not an IPv4 or IPv6 address: "example.com"/],
  ['the IPv4 wildcard', { addrs: ['0.0.0.0'], netns: NO_NETNS }, TypeError, /^addrs: 0\.0\.0\.0 is the wildcard .*answers on one interface: give that interface's own addresses/],
  ['the IPv6 wildcard', { addrs: ['198.18.0.1', '::'], netns: NO_NETNS }, TypeError, /^addrs: :: is the wildcard .*give that interface's own addresses/],
  ['an IPv4 loopback address', { addrs: ['127.0.0.2'], netns: NO_NETNS }, TypeError, /^addrs: 127\.0\.0\.2 is a loopback address.*give an address of that interface/],
  ['the IPv6 loopback address', { addrs: ['::1'], netns: NO_NETNS }, TypeError, /^addrs: ::1 is the loopback address/],
  ['an IPv4-mapped IPv6 address', { addrs: ['::ffff:198.18.0.1'], netns: NO_NETNS }, TypeError, /^addrs: ::ffff:198\.18\.0\.1 is an IPv4-mapped address.*give the IPv4 address 198\.18\.0\.1/],
  ['a multicast address', { addrs: ['ff02::1'], netns: NO_NETNS }, TypeError, /^addrs: ff02::1 is a multicast address/],
  ['port 0', { ports: [0] }, RangeError, /^ports: 0 is not a port from 1 to 65535/],
  ['a fractional port', { ports: [80.5] }, RangeError, /^ports: 80.5 is not a port/],
  ['too many workers', { workers: 65 }, RangeError, /^workers must be an integer from 0 \(this thread\) to 64, got 65/],
  ['a clock with workers', { workers: 1, clock: new ManualClock(0) }, TypeError, /^clock can only be injected with workers: 0/],
  ['accept with workers', { workers: 1, accept: () => true }, TypeError, /^accept can only be used with workers: 0/],
  ['accept with handoff', { handoff: true, accept: () => true }, TypeError, /^accept cannot be used with handoff/],
  ['a ring that cannot look ahead with handoff', { handoff: true, lowLatency: false }, TypeError, /^lowLatency: false cannot be used with handoff .*looks into a TPACKET_V2 ring/],
  ['xdp without a map', { xdp: {} as never }, TypeError, /^xdp must be \{ xskMap: FD, queue\?: N \}/],
  ['xdp with workers', { workers: 2, xdp: { xskMap: 3 } }, TypeError, /^xdp reads one queue: workers must be 0/],
  ['a hash size that is not a power of 2', { hashSize: 1000 }, RangeError, /^hashSize must be a power of 2/],
  ['an unknown cache field', { hashsize: 1024 }, TypeError, /^unknown config field "hashsize"/],
  ['syncookies misspelt', { syncookies: 'yes' as never }, TypeError, /^syncookies must be 'off', 'on' or 'only', got "yes"/],
];

for (const [what, change, type, message] of cases) {
  test(`Responder.open refuses ${what}`, async () => {
    await assert.rejects(Responder.open({ ...good, ...change } as ResponderOptions), (error: Error) => {
      assert.ok(error instanceof type, `${error.constructor.name}: ${error.message}`);
      assert.match(error.message, message);
      return true;
    });
  });
}

test('protect refuses what is not a server, and bad options the same way', async () => {
  await assert.rejects(protect({} as never, good), /protect\(server, options\): server must be a net.Server, http.Server or https.Server/);
  const server = { emit: () => true } as never;
  await assert.rejects(protect(server, { ...good, ports: [70000] }), /ports: 70000 is not a port from 1 to 65535/);
  await assert.rejects(protect(server, { ...good, addrs: ['0.0.0.0'], netns: NO_NETNS }), /addrs: 0\.0\.0\.0 is the wildcard/);
  await assert.rejects(protect(server, { ...good, lowLatency: false } as never), /lowLatency: false cannot be used with handoff \(protect\(\)/);
});
