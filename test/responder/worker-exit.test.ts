// A shard worker that dies after it was ready fails the instance loudly:
// 'error' with code ERR_WORKER_EXITED (its flows would otherwise fall to the
// other shards of the fanout group, which do not know its handed-over
// connections). The thread is ended as the runtime would end it
// (Worker.terminate(): what an out-of-memory worker or a fatal error in it
// comes to), from outside, through the Responder's own handle on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import { createPairLab, labUnavailableReason } from '../../lib/lab/netns.js';
import { Responder } from '../../lib/responder/responder.js';

const skip = labUnavailableReason();

async function waitFor(what: string, check: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("workers: 2 - a worker that dies is an 'error' (ERR_WORKER_EXITED); close() still cleans up", { skip, timeout: 60_000 }, async () => {
  const pair = createPairLab('wexit', 29);
  try {
    const r = await Responder.open({
      iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [80], workers: 2,
    });
    const errors: NodeJS.ErrnoException[] = [];
    r.on('error', (e) => errors.push(e));
    try {
      const workers = (r as unknown as { workers: Worker[] }).workers;
      await workers[1].terminate();
      await waitFor("'error'", () => errors.length > 0);
      assert.equal(errors[0].code, 'ERR_WORKER_EXITED');
      assert.match(errors[0].message, /shard worker 1 exited/);
    } finally {
      await r.close();
    }
    assert.equal(errors.length, 1, 'once, and nothing from close()');
    assert.doesNotMatch(pair.responder.exec('nft', ['list', 'ruleset']), /syncache/, 'the gate is gone');
  } finally {
    pair.lab.destroy();
  }
});
