// A shard worker that dies after it was ready is replaced in the same
// fanout group, and every open handed-over connection is re-owned (marked
// in every shard, since the kernel reshuffles the group's flows when a
// member leaves and joins); a replacement that dies at once fails the
// instance loudly ('error', ERR_WORKER_EXITED). The thread is ended as the
// runtime ends one (Worker.terminate(): what a fatal error in it comes to),
// through the Responder's own handle on it. The client is the kernel's TCP
// stack in the peer namespace, on a keep-alive connection across the death.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { Worker } from 'node:worker_threads';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { protect, type Protection } from '../../lib/handoff/protect.js';
import { track } from '../helpers/children.js';
import { keepAliveClient } from '../helpers/keep-alive-client.js';

const skip = labUnavailableReason();
const PORT = 80;

async function waitFor(what: string, check: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The Responder's worker threads, by shard index. */
function workersOf(p: Protection): Worker[] {
  return (p.responder as unknown as { workers: Worker[] }).workers;
}

/** curl from the peer: the HTTP status code, or what curl said. */
function curl(pair: PairLab): Promise<string> {
  const child = track(spawn(...pair.peer.wrap('curl', ['-sS', '-m', '15', '-o', '/dev/null', '-w', '%{http_code}', `http://${pair.responderV4}:${PORT}/`]), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

async function withProtected(tag: string, body: (pair: PairLab, p: Protection, errors: NodeJS.ErrnoException[]) => Promise<void>): Promise<void> {
  const pair = createPairLab(tag, 29);
  try {
    const p = await protect(http.createServer({ keepAlive: true }, (req, res) => res.end('ok')), {
      iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on', workers: 2,
    });
    const errors: NodeJS.ErrnoException[] = [];
    p.on('error', (e) => errors.push(e));
    try {
      await body(pair, p, errors);
    } finally {
      await p.close();
    }
  } finally {
    pair.lab.destroy();
  }
}

test('workers: 2 - the worker that owns an open connection dies: it is replaced, the connection is re-owned and served, new clients too', { skip, timeout: 90_000 }, async () => {
  await withProtected('wexit', async (pair, p, errors) => {
    const client = keepAliveClient(pair, PORT);
    try {
      assert.equal(await client.get(), 'status 200');
      const owner = p.responder.statsByShard().findIndex((s) => s.completed === 1);
      assert.ok(owner >= 0, 'one shard completed the handshake');
      await workersOf(p)[owner].terminate();
      const stats = (): Record<string, number> => p.responder.stats();
      await waitFor('a replacement, and both shards marking the open flow', () => stats().workerrestarts === 1 && stats().adopted === 2);
      // Its segments now reach a shard that did not hand it over: marked
      // there, they are skipped, not checked as cookies.
      assert.equal(await client.get(), 'status 200', 'the open connection, across the death');
      assert.equal(await curl(pair), '200', 'a new connection');
      assert.equal(stats().failcookie, 0);
      assert.equal(p.stats().handoffFailed, 0);
      assert.equal(errors.length, 0, errors.map((e) => e.message).join('; '));
    } finally {
      client.end();
    }
  });
});

test("workers: 2 - a replacement that dies at once is not replaced again: 'error' ERR_WORKER_EXITED, and close() still cleans up", { skip, timeout: 90_000 }, async () => {
  await withProtected('wloop', async (pair, p, errors) => {
    await workersOf(p)[1].terminate();
    await waitFor('a replacement', () => p.responder.stats().workerrestarts === 1);
    await workersOf(p)[1].terminate();
    await waitFor("'error'", () => errors.length > 0);
    assert.equal(errors[0].code, 'ERR_WORKER_EXITED');
    assert.match(errors[0].message, /shard worker 1 exited .* after it replaced another/);
  });
});
