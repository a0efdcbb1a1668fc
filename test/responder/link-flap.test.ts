// The responder survives its interface: the link going down and up (the
// RX socket's error is taken, counted as linkErrors and the ring answers
// again), and the interface deleted (an 'error' with code ENODEV, on this
// thread's shard and on worker shards alike, never a silent exit). Real
// veth pairs in namespaces this run makes; curl in the peer namespace is
// the client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { Responder } from '../../lib/responder/responder.js';
import http from 'node:http';
import { protect } from '../../lib/handoff/protect.js';
import { track } from '../helpers/children.js';
import { keepAliveClient } from '../helpers/keep-alive-client.js';

const skip = labUnavailableReason();
const PORT = 80;

/** curl from the peer: the HTTP status code, or what curl said. */
function curl(pair: PairLab): Promise<string> {
  const child = track(spawn(...pair.peer.wrap('curl', ['-sS', '-m', '15', '-o', '/dev/null', '-w', '%{http_code}', `http://${pair.responderV4}:${PORT}/`]), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

async function waitFor(what: string, check: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A fresh pair lab for one test (some tests delete its veth). */
async function inLab(tag: string, subnet: number, body: (pair: PairLab) => Promise<void>): Promise<void> {
  const pair = createPairLab(tag, subnet);
  try {
    await body(pair);
  } finally {
    pair.lab.destroy();
  }
}

/**
 * A protect()ed http.Server in a process of its own, as a user runs it:
 * nothing but the responder keeps its event loop alive (the server does
 * not listen). It prints `ready`, then answers each `stats` line on stdin
 * with the responder's counters as JSON; `close` closes and exits.
 */
function protectedServer(pair: PairLab, workers: number): { child: ChildProcess; ready: Promise<void>; stats(): Promise<Record<string, number>>; exited: Promise<number | null> } {
  const protectUrl = new URL('../../lib/handoff/protect.js', import.meta.url).href;
  const options = { iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on', workers };
  // CommonJS with a dynamic import: --input-type=module would pass on to the
  // worker threads, and break them.
  const child = track(spawn(process.execPath, ['-e', `(async () => {
    const http = require('node:http');
    const { createInterface } = require('node:readline');
    const { protect } = await import(${JSON.stringify(protectUrl)});
    const p = await protect(http.createServer((req, res) => res.end('ok')), ${JSON.stringify(options)});
    p.on('error', (e) => { console.log('error ' + e.code); });
    console.log('ready');
    const lines = createInterface({ input: process.stdin });
    lines.on('line', async (l) => {
      if (l === 'stats') console.log('stats ' + JSON.stringify(p.responder.stats()));
      if (l === 'close') { lines.close(); await p.close(); }
    });
    process.stdin.unref();
  })()`], { stdio: ['pipe', 'pipe', 'inherit'] }));
  // Its stdin is unref'd: only the responder keeps it alive.
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => waiting.shift()?.(line));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const next = (): Promise<string> => Promise.race([
    new Promise<string>((resolve) => waiting.push(resolve)),
    exited.then((code) => { throw new Error(`the protected server's process exited (code ${code})`); }),
  ]);
  return {
    child,
    ready: next().then((line) => assert.equal(line, 'ready')),
    stats: async () => {
      const reply = next();
      child.stdin!.write('stats\n');
      return JSON.parse((await reply).slice(6)) as Record<string, number>;
    },
    exited,
  };
}

for (const workers of [0, 2]) test(`link down and up under protect() (workers: ${workers}): every ring is re-armed, linkErrors counts it, the next client is served`, { skip, timeout: 90_000 }, async () => {
  await inLab(`flap${workers}`, 25, async (pair) => {
    const server = protectedServer(pair, workers);
    try {
      await server.ready;
      assert.equal(await curl(pair), '200');
      // The socket's error is set while the link is down and stays until
      // read, so the ring sees it however soon the link comes back.
      pair.responder.ip(['link', 'set', pair.responderIface, 'down']);
      pair.responder.ip(['link', 'set', pair.responderIface, 'up']);
      assert.equal(await curl(pair), '200', 'a client after the flap is served');
      // Every shard's socket had the error (a worker's counters reach the
      // sum within its 250 ms sync); and the process is still there.
      let stats = await server.stats();
      for (const end = Date.now() + 15000; stats.linkErrors < Math.max(1, workers) && Date.now() < end;) {
        await new Promise((r) => setTimeout(r, 50));
        stats = await server.stats();
      }
      assert.ok(stats.linkErrors >= Math.max(1, workers), `linkErrors ${stats.linkErrors}`);
      assert.equal(stats.completed, 2);
    } finally {
      server.child.stdin!.end('close\n');
      await server.exited;
    }
  });
});

for (const workers of [0, 2]) {
  test(`an interface deleted under a Responder (workers: ${workers}) is an 'error' with code ENODEV`, { skip, timeout: 60_000 }, async () => {
    await inLab(`gone${workers}`, 26, async (pair) => {
      const r = await Responder.open({
        iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], workers,
      });
      const errors: NodeJS.ErrnoException[] = [];
      r.on('error', (e) => errors.push(e));
      try {
        pair.responder.ip(['link', 'del', pair.responderIface]);
        await waitFor("'error'", () => errors.length > 0);
        assert.equal(errors[0].code, 'ENODEV');
        assert.match(errors[0].message, new RegExp(`interface ${pair.responderIface} is gone`));
        // Every shard saw it; the instance says so once.
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.equal(errors.length, 1);
      } finally {
        await r.close();
      }
    });
  });
}

test("an interface deleted while it is down is found by the link watch: 'error' with code ENODEV", { skip, timeout: 60_000 }, async () => {
  await inLab('gonedown', 27, async (pair) => {
    const r = await Responder.open({
      iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT],
    });
    const errors: NodeJS.ErrnoException[] = [];
    r.on('error', (e) => errors.push(e));
    try {
      pair.responder.ip(['link', 'set', pair.responderIface, 'down']);
      await waitFor('linkErrors', () => (r.stats().linkErrors ?? 0) > 0);
      assert.equal(errors.length, 0, 'down is not an error');
      pair.responder.ip(['link', 'del', pair.responderIface]);
      await waitFor("'error'", () => errors.length > 0);
      assert.equal(errors[0].code, 'ENODEV');
    } finally {
      await r.close();
    }
  });
});

test('a bare ring started without onError whose interface is deleted ends its process with ENODEV, not exit 0', { skip, timeout: 60_000 }, async () => {
  await inLab('gonebare', 26, async (pair) => {
    const helpers = new URL('../native/ring-helpers.js', import.meta.url).href;
    const lab = { responderIface: pair.responderIface, responder: { path: pair.responder.path }, responderV4: pair.responderV4, responderV6: pair.responderV6 };
    const child = track(spawn(process.execPath, ['-e', `(async () => {
      const { openRing } = await import(${JSON.stringify(helpers)});
      const ring = openRing(${JSON.stringify(lab)});
      ring.start(() => ring.receive());
      console.log('ready');
    })()`], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('ready', () => out.includes('ready') || child.exitCode !== null);
    assert.equal(out.trim(), 'ready', err);
    pair.responder.ip(['link', 'del', pair.responderIface]);
    assert.notEqual(await exited, 0);
    assert.match(err, /interface scr0 is gone.*ENODEV/);
  });
});

test('link down and up under protect() (workers: 2): an open connection stays its socket\'s in whichever shard its segments now reach', { skip, timeout: 90_000 }, async () => {
  await inLab('flapkeep', 27, async (pair) => {
    const p = await protect(http.createServer({ keepAlive: true }, (req, res) => res.end('ok')), {
      iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on', workers: 2,
    });
    const errors: Error[] = [];
    p.on('error', (e) => errors.push(e));
    const client = keepAliveClient(pair, PORT);
    try {
      assert.equal(await client.get(), 'status 200');
      pair.responder.ip(['link', 'set', pair.responderIface, 'down']);
      pair.responder.ip(['link', 'set', pair.responderIface, 'up']);
      // The kernel re-links the group's members when the link comes up, in
      // an order of its own: the flow may now reach the other shard.
      const stats = (): Record<string, number> => p.responder.stats();
      await waitFor('both rings re-armed, the open flow marked in both shards', () => stats().linkErrors >= 2 && stats().adopted >= 2);
      assert.equal(await client.get(), 'status 200', 'the open connection, across the flap');
      assert.equal(stats().failcookie, 0, 'its segments were not taken for cookie ACKs');
      assert.equal(p.stats().handoffFailed, 0);
      assert.equal(errors.length, 0);
    } finally {
      client.end();
      await p.close();
    }
  });
});
