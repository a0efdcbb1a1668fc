// The privilege split's queue: sockets on their way to the unprivileged
// child, over a stand-in child that acknowledges sends only when told (the
// split itself, on real packets: protect.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { Handshake } from '../../lib/engine/engine.js';
import { RELAY_BACKLOG, SocketRelay, type RelayChild } from '../../lib/handoff/split.js';

function standInChild() {
  const sent: Array<{ message: { type: string; handshake: Record<string, unknown> }; done: (error: Error | null) => void }> = [];
  const child = {
    send: (message: never, _handle: unknown, done: (error: Error | null) => void) => {
      sent.push({ message, done });
      return true;
    },
  } as unknown as RelayChild;
  return { child, sent };
}

function socket() {
  const s = { destroyed: false, destroy() { s.destroyed = true; } };
  return s;
}

const h = { remotePort: 40001, payload: new Uint8Array([1]) } as unknown as Handshake;

test('at most `limit` sockets on their way to the child; past it the socket is closed and refused', () => {
  const { child, sent } = standInChild();
  const relay = new SocketRelay(child, 2);
  const sockets = [socket(), socket(), socket()];
  assert.deepEqual(sockets.map((s) => relay.send(s as unknown as Socket, h)), [true, true, false]);
  assert.equal(sent.length, 2, 'the third was never sent');
  assert.equal(sockets[2].destroyed, true, 'and its connection closed');
  assert.equal(relay.waiting, 2);
  assert.equal(sent[0].message.handshake.payload, undefined, 'the payload stays here');
  // The child takes one: room for another.
  sent[0].done(null);
  assert.equal(relay.waiting, 1);
  const next = socket();
  assert.equal(relay.send(next as unknown as Socket, h), true);
  // A send that failed closes its socket and frees its place.
  sent[1].done(new Error('channel closed'));
  assert.equal(sockets[1].destroyed, true);
  assert.equal(relay.waiting, 1);
  assert.equal(sockets[0].destroyed, false);
  assert.equal(new SocketRelay(child).send(socket() as unknown as Socket, h), true);
  assert.equal(RELAY_BACKLOG, 1024);
  assert.throws(() => new SocketRelay(child, 0), /limit must be a positive integer/);
});
