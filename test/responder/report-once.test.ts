// Event mode reports each handshake once (issue 12, item 3): clients that
// send data right behind their final ACK (curl, and net.connect writing on
// 'connect') must give exactly one 'handshake' per connection. Their data
// has the final ACK's sequence, so without care it carries a valid cookie
// and completes the flow again: in the same batch as the ACK (the engine's
// completedrepeat) or in a later one (skipped natively once the flow is
// marked reported: skippedHandedOver). Nothing serves these connections, so
// each client also retransmits its data: those copies must not count either.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { Responder } from '../../lib/responder/responder.js';
import type { Handshake } from '../../lib/engine/engine.js';
import type { CookieMode } from '../../lib/native/addon.js';
import { track } from '../helpers/children.js';

const skip = labUnavailableReason();
const PORT = 80;
const CURLS = 5;
const SOCKETS = 5;
const N = CURLS + SOCKETS;
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('once', 20);
});
after(() => pair?.lab.destroy());

async function waitFor(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** SOCKETS kernel connections from the peer, each writing a request the moment it connects; held open until killed. */
function socketClients(host: string): () => void {
  const child = track(spawn(...pair.peer.wrap(process.execPath, ['-e', `
    const net = require('net');
    for (let i = 0; i < ${SOCKETS}; i++) {
      const s = net.connect({ host: ${JSON.stringify(host)}, port: ${PORT} });
      s.on('connect', () => s.write('GET / HTTP/1.0\\r\\n\\r\\n'));
      s.on('error', () => {});
    }
    setTimeout(() => process.exit(0), 30000);
  `]), { stdio: 'ignore' }));
  return () => child.kill('SIGKILL');
}

/** CURLS curl runs from the peer; nothing answers their requests, so each gives up after a few seconds. */
function curls(host: string): Promise<void> {
  const runs = Array.from({ length: CURLS }, () => {
    const child = track(spawn(...pair.peer.wrap('curl', ['-sS', '-m', '4', '-o', '/dev/null', `http://${host}/`]), { stdio: 'ignore' }));
    return new Promise<void>((resolve) => child.on('close', () => resolve()));
  });
  return Promise.all(runs).then(() => undefined);
}

for (const syncookies of ['only', 'on'] as CookieMode[]) {
  test(`syncookies=${syncookies}: ${N} connections that send data right away give exactly ${N} handshake events`, { skip }, async (t) => {
    const r = await Responder.open({
      iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies,
    });
    const events: Handshake[] = [];
    r.on('handshake', (h) => events.push(h));
    const stopSockets = socketClients(pair.responderV4);
    const curlsDone = curls(pair.responderV4);
    try {
      await waitFor(() => r.stats().completed >= N, `${N} completions`);
      // Each client's request behind its final ACK, and at least one
      // retransmit of it: 2N later segments of completed flows, skipped.
      const skipped = (): number => { const s = r.stats(); return s.completedrepeat + s.skippedHandedOver; };
      await waitFor(() => skipped() >= 2 * N, `${2 * N} later segments skipped (have ${skipped()})`);
      await curlsDone;
      const s = r.stats();
      t.diagnostic(`events ${events.length}, completed ${s.completed}, added ${s.added}, recvcookie ${s.recvcookie}, completedrepeat ${s.completedrepeat}, skippedHandedOver ${s.skippedHandedOver}`);
      assert.equal(events.length, N, `handshake events (${JSON.stringify({ completed: s.completed, added: s.added, recvcookie: s.recvcookie, completedrepeat: s.completedrepeat, skippedHandedOver: s.skippedHandedOver })})`);
      assert.equal(s.completed, N);
      assert.equal(new Set(events.map((h) => h.remotePort)).size, N, 'one event per connection');
      if (syncookies === 'on') assert.equal(s.added, N, 'each SYN took an entry');
      else assert.equal(s.recvcookie, N);
      assert.equal(s.spuriouscookie, 0);
    } finally {
      stopSockets();
      await r.close();
    }
  });
}
