// The SYN flood generator against the kernel's own listener (syncookies=2)
// in a lab namespace, and its refusal to aim anywhere but 198.18.0.0/15.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { labAddon, type FloodOptions } from '../../lib/lab/lab-addon.js';
import { addon } from '../../lib/native/addon.js';
import { BatchView } from '../../lib/native/batch.js';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { PORT, counter, openRing, serverIn, stop } from './ring-helpers.js';

const skip = labUnavailableReason();
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('flood', 3);
  // SYN-ACKs to the spoofed sources go back over the veth to the peer, whose
  // kernel drops them (not its addresses, no forwarding).
  pair.responder.ip(['route', 'add', '198.19.0.0/16', 'via', pair.peerV4]);
  pair.responder.sysctl('net.ipv4.tcp_syncookies', 2);
});
after(() => pair?.lab.destroy());

test('the generator is a lab tool: in the lab addon (syncache_lab.node), not in the product addon', () => {
  assert.equal(typeof labAddon.flood, 'function');
  assert.equal('flood' in addon, false);
});

function options(extra: Partial<FloodOptions> = {}): FloodOptions {
  return {
    iface: pair?.peerIface ?? 'lo',
    netns: pair?.peer.path,
    dstMac: pair ? pair.responder.macOf(pair.responderIface) : new Uint8Array(6),
    dstAddr: pair?.responderV4 ?? '198.18.3.1',
    dstPort: PORT,
    srcNet: '198.19.0.0/16',
    rate: 20_000,
    seconds: 0.25,
    ...extra,
  };
}

test('refuses targets and sources outside 198.18.0.0/15', { skip }, () => {
  assert.throws(() => labAddon.flood(options({ dstAddr: '10.0.0.1' })), { name: 'RangeError', message: /dstAddr.*198\.18\.0\.0\/15/ });
  assert.throws(() => labAddon.flood(options({ dstAddr: '198.20.0.1' })), RangeError);
  assert.throws(() => labAddon.flood(options({ srcNet: '10.0.0.0/8' })), { name: 'RangeError', message: /srcNet/ });
  assert.throws(() => labAddon.flood(options({ srcNet: '198.18.0.0/14' })), { name: 'RangeError', message: /srcNet/ });
  assert.throws(() => labAddon.flood(options({ srcNet: 'nonsense' })), { name: 'TypeError', message: /srcNet/ });
  assert.throws(() => labAddon.flood(options({ dstMac: new Uint8Array(5) })), { name: 'TypeError', message: /dstMac/ });
  assert.throws(() => labAddon.flood(options({ dstPort: 0 })), { name: 'RangeError', message: /dstPort/ });
  assert.throws(() => labAddon.flood(options({ rate: -1 })), { name: 'RangeError', message: /rate/ });
  assert.throws(() => labAddon.flood(options({ seconds: 0 })), { name: 'RangeError', message: /seconds/ });
  assert.throws(() => labAddon.flood(options({ iface: 'nosuch0' })), { code: 'ENODEV', message: /nosuch0/ });
  assert.throws(() => labAddon.flood(options({ cpu: -1 })), { name: 'RangeError', message: /cpu/ });
  assert.throws(() => labAddon.flood(options({ cpu: 1.5 })), { name: 'RangeError', message: /cpu/ });
});

test('the kernel listener answers every SYN at a paced rate, and the replies are counted', { skip }, async () => {
  const server = await serverIn(pair.responder, PORT);
  try {
    const rx = new BatchView();
    const ring = openRing(pair, { rxBatch: rx.buffer });
    let result;
    try {
      ring.start(() => {
        while (ring.receive() === rx.kind.length);
      });
      const started = Date.now();
      const pending = labAddon.flood(options({ cpu: 0 })); // pinned for the run, as the benchmarks do
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      result = await pending;
      clearInterval(timer);
      assert.ok(ticks >= 10, `the JS thread stayed free while flooding (${ticks} ticks in ${Date.now() - started} ms)`);
      ring.stop();
      while (ring.receive() === rx.kind.length);
      ring.updateKernelStats();
      assert.equal(counter(ring.counters, 'kernelDrops'), 0);
      assert.equal(counter(ring.counters, 'parsedSyn'), result.sent, 'every SYN parses: checksums and options are right');
      assert.equal(counter(ring.counters, 'dropBadTcpChecksum'), 0);
      assert.equal(counter(ring.counters, 'dropBadIpChecksum'), 0);
    } finally {
      ring.close();
    }
    // Pacing: 20k/s for 0.25 s.
    assert.ok(result.sent >= 4000 && result.sent <= 5200, `sent ${result.sent}`);
    assert.ok(result.seconds >= 0.24 && result.seconds < 0.5, `seconds ${result.seconds}`);
    assert.ok(result.replies >= result.sent * 0.95, `replies ${result.replies} of ${result.sent}`);
    assert.ok(result.replies <= result.sent);
  } finally {
    await stop(server);
  }
});

test('flat out (rate 0) sends and finishes on time', { skip }, async () => {
  const result = await labAddon.flood(options({ rate: 0, seconds: 0.2 }));
  assert.ok(result.sent > 1000, `sent ${result.sent}`);
  assert.ok(result.seconds >= 0.2 && result.seconds < 1, `seconds ${result.seconds}`);
  assert.equal(result.replies, 0, 'no listener: the kernel RSTs, no SYN-ACKs');
});

test('sendmmsg instead of the TX ring sends the same frames', { skip }, async () => {
  const server = await serverIn(pair.responder, PORT);
  try {
    const result = await labAddon.flood(options({ method: 'sendmmsg', rate: 10_000, seconds: 0.2 }));
    assert.ok(result.sent >= 1500 && result.sent <= 2100, `sent ${result.sent}`);
    assert.ok(result.replies >= result.sent * 0.95, `replies ${result.replies} of ${result.sent}`);
    assert.ok(result.cpuSeconds > 0 && result.cpuSeconds <= result.seconds + 0.05, `cpu ${result.cpuSeconds}`);
  } finally {
    await stop(server);
  }
  assert.throws(() => labAddon.flood(options({ method: 'carrier-pigeon' as 'ring' })), { name: 'TypeError', message: /method/ });
});

test('the responder ring ignores frames sent to another host\'s MAC', { skip }, async () => {
  const rx = new BatchView();
  const ring = openRing(pair, { rxBatch: rx.buffer });
  try {
    const result = await labAddon.flood(options({ dstMac: Uint8Array.from([2, 0, 0, 0, 0, 1]), rate: 10_000, seconds: 0.1 }));
    assert.ok(result.sent > 0);
    const mine = await labAddon.flood(options({ rate: 10_000, seconds: 0.05 }));
    await new Promise((r) => setTimeout(r, 20));
    while (ring.receive() === rx.kind.length);
    ring.updateKernelStats();
    assert.equal(counter(ring.counters, 'kernelPackets'), mine.sent, 'only the frames to our MAC passed the filter');
  } finally {
    ring.close();
  }
});
