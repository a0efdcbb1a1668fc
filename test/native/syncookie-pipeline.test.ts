// Cookies end to end through addon.Pipeline: real SYN and ACK frames (with
// checksums), secrets owned and rotated by lib/engine/cookie-secrets.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addon, type CookieMode } from '../../lib/native/addon.js';
import { BatchView } from '../../lib/native/batch.js';
import { CookieSecrets } from '../../lib/engine/cookie-secrets.js';
import { tcpFrame, linuxSynOptions, opt, TCP, OUR_V4, OUR_V6, PEER_V4, PEER_V6, OUR_PORT } from '../fixtures/frames.js';
import { run } from '../fixtures/wire-harness.js';

const { kinds, optFlags: O, cookieVerdicts: V } = addon.constants;

function pipelineWith(secrets: CookieSecrets, cookies: CookieMode = 'on') {
  return new addon.Pipeline({ addrs: [OUR_V4, OUR_V6], ports: [OUR_PORT], cookies, secrets: secrets.view });
}

test('SYN frame -> cookie ISS; the ACK frame acknowledging it -> valid, with MSS/wscale/SACK back', () => {
  const secrets = CookieSecrets.create(0);
  const pipeline = pipelineWith(secrets);
  for (const [peer, us] of [[PEER_V4, OUR_V4], [PEER_V6, OUR_V6]] as const) {
    const isn = 0x11223344;
    const syn = run(pipeline, [tcpFrame({ src: peer, dst: us, flags: TCP.SYN, seq: isn, options: linuxSynOptions(1460, 7, 7) })]);
    assert.equal(syn.rows, 1);
    assert.equal(syn.batch.kind[0], kinds.syn);
    assert.equal(syn.batch.cookieState[0], V.made, peer);
    assert.equal(syn.moved.cookiesMade, 1);
    const cookie = syn.batch.cookie[0]!;
    const hash = syn.batch.hash[0]!;

    const ack = run(pipeline, [tcpFrame({ src: peer, dst: us, flags: TCP.ACK, seq: isn + 1, ack: (cookie + 1) >>> 0,
      options: [...opt.nop(), ...opt.nop(), ...opt.timestamps(8, 9)], payload: [1, 2, 3] })]);
    const b: BatchView = ack.batch;
    assert.equal(b.kind[0], kinds.ack);
    assert.equal(b.cookieState[0], V.valid, peer);
    assert.equal(b.cookie[0], cookie);
    assert.equal(b.hash[0], hash, 'SYN and ACK of a flow share the flow hash');
    assert.equal(b.mss[0], 1460);
    assert.equal(b.wscale[0], 7);
    assert.equal(b.optFlags[0], O.mss | O.wscale | O.sackPermitted | O.timestamps);
    assert.deepEqual({ checked: ack.moved.cookiesChecked, valid: ack.moved.cookiesValid }, { checked: 1, valid: 1 });

    const bad = run(pipeline, [tcpFrame({ src: peer, dst: us, flags: TCP.ACK, seq: isn + 2, ack: (cookie + 1) >>> 0 })]);
    assert.equal(bad.batch.cookieState[0], V.invalid);
    assert.equal(bad.moved.cookiesInvalid, 1);
  }
});

test('CookieSecrets.rotate(): a cookie survives one rotation and dies at the second', () => {
  const secrets = CookieSecrets.create(0);
  const pipeline = pipelineWith(secrets, 'only');
  const isn = 1000;
  const syn = run(pipeline, [tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN, seq: isn, options: linuxSynOptions() })]);
  const cookie = syn.batch.cookie[0]!;
  const ackFrame = tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.ACK, seq: isn + 1, ack: (cookie + 1) >>> 0 });
  assert.equal(run(pipeline, [ackFrame]).batch.cookieState[0], V.valid, 'fresh');
  secrets.rotate(15_000);
  assert.equal(run(pipeline, [ackFrame]).batch.cookieState[0], V.valid, 'after one rotation');
  secrets.rotate(30_000);
  assert.equal(run(pipeline, [ackFrame]).batch.cookieState[0], V.invalid, 'after two rotations');
});

test("cookies 'off': SYN and ACK rows are hashed but not cookied", () => {
  const secrets = CookieSecrets.create(0);
  const pipeline = pipelineWith(secrets, 'off');
  const r = run(pipeline, [
    tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.SYN, seq: 5 }),
    tcpFrame({ src: PEER_V4, dst: OUR_V4, flags: TCP.ACK, seq: 6, ack: 7 }),
  ]);
  assert.equal(r.rows, 2);
  assert.equal(r.batch.cookieState[0], V.notChecked);
  assert.equal(r.batch.cookieState[1], V.notChecked);
  assert.equal(r.batch.hash[0], r.batch.hash[1]);
  assert.equal(r.moved.cookiesMade, undefined);
  assert.equal(r.moved.cookiesChecked, undefined);
});

test('secrets that do not start on a word boundary are refused (their words are read atomically)', () => {
  const size = addon.secretsLayout.byteLength;
  const shared = new SharedArrayBuffer(size + 8);
  const make = (offset: number) => new addon.Pipeline({ addrs: [OUR_V4], ports: [OUR_PORT], cookies: 'on', secrets: new Uint8Array(shared, offset, size) });
  assert.throws(() => make(1), { name: 'RangeError', message: /options\.secrets must start at a multiple of \d+ bytes/ });
  assert.doesNotThrow(() => make(8));
});
