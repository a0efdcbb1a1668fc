// Address text <-> the batch's words: the IPv4 fast path agrees with
// net.isIP on what is an address, and every address survives a round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { formatAddress, parseAddress, writeAddress } from '../../lib/native/address.js';

test('addresses round-trip through words, IPv4 and IPv6', () => {
  const words = new Uint32Array(8);
  for (const text of ['198.18.0.1', '0.0.0.0', '255.255.255.255', '10.0.0.255', '2001:db8::1', '::', '::1', '2001:db8:ffff::a:b', 'fe80::1:2:3:4']) {
    const family = writeAddress(text, words, 4);
    assert.equal(family, net.isIP(text));
    assert.equal(formatAddress(words, 4, family), text);
  }
});

test('what is an IPv4 address is what net.isIP says', () => {
  const cases = ['1.2.3.4', '01.2.3.4', '1.2.3.04', '256.1.1.1', '1.2.3', '1.2.3.4.5', '1..2.3', '', ' 1.2.3.4', '1.2.3.4 ',
    '1.2.3.-4', '1.2.3.4a', '0.0.0.00', '199.199.199.199', '1000.1.1.1', '::ffff:1.2.3.4', '1.2.3.', '.1.2.3'];
  for (let i = 0; i < 2000; i++) {
    // Random strings over digits and dots, to walk the parser's corners.
    const n = 1 + Math.floor(Math.random() * 16);
    cases.push(Array.from({ length: n }, () => '0123456789.'[Math.floor(Math.random() * 11)]).join(''));
  }
  const out = new Uint8Array(16);
  for (const text of cases) {
    const family = net.isIP(text);
    if (family === 0) {
      assert.throws(() => parseAddress(text, out), TypeError, JSON.stringify(text));
    } else {
      assert.equal(parseAddress(text, out), family, JSON.stringify(text));
      if (family === 4) assert.deepEqual([...out.subarray(0, 4)], text.split('.').map(Number), text);
    }
  }
});
