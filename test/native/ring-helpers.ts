// Shared by the ring and flood tests: a Ring in the responder namespace of a
// pair lab, named counters, kernel TCP clients and servers in the lab's
// namespaces (child processes, ended by PID), and waiting for the network.
import { spawn, type ChildProcess } from 'node:child_process';
import { track } from '../helpers/children.js';
import { addon, type NativeRing, type RingOptions } from '../../lib/native/addon.js';
import { CookieSecrets } from '../../lib/engine/cookie-secrets.js';
import type { Namespace, PairLab } from '../../lib/lab/netns.js';

export const PORT = 8080;

export function counter(counters: BigUint64Array, name: string): number {
  const i = addon.counterNames.indexOf(name);
  if (i < 0) throw new Error(`no counter ${name}`);
  return Number(counters[i]);
}

export function openRing(pair: PairLab, extra: Partial<RingOptions> = {}): NativeRing {
  return new addon.Ring({
    iface: pair.responderIface,
    netns: pair.responder.path,
    addrs: [pair.responderV4, pair.responderV6],
    ports: [PORT],
    cookies: 'on',
    secrets: CookieSecrets.create(0).view,
    rxBatch: new ArrayBuffer(addon.batchLayout.byteLength),
    txBatch: new ArrayBuffer(addon.batchLayout.byteLength),
    ...extra,
  });
}

/** Polls `check` on the event loop until it returns true or `ms` pass. */
export async function waitFor(check: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return check();
}


/** Runs a node script inside `ns`; resolves with its stdout when it exits. */
export function runIn(ns: Namespace, script: string, timeoutMs = 5000): Promise<string> {
  const [cmd, args] = ns.wrap(process.execPath, ['-e', script]);
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** Starts a node script inside `ns` and resolves once it prints `ready`. */
export function startIn(ns: Namespace, script: string): Promise<ChildProcess> {
  const [cmd, args] = ns.wrap(process.execPath, ['-e', script]);
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      if (String(d).includes('ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`child exited with ${code} before ready`)));
  });
}

export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.on('exit', () => resolve());
    if (child.pid) process.kill(child.pid, 'SIGTERM');
  });
}

/** A kernel TCP connect from `ns`; resolves 'connected', 'refused' or 'timeout'. */
export async function connectFrom(ns: Namespace, host: string, port: number, waitMs = 1500): Promise<string> {
  const out = await runIn(ns, `
    const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port} });
    s.on('connect', () => { console.log('connected'); s.destroy(); process.exit(0); });
    s.on('error', (e) => { console.log(e.code === 'ECONNREFUSED' ? 'refused' : e.code); process.exit(0); });
    setTimeout(() => { console.log('timeout'); process.exit(0); }, ${waitMs});
  `, waitMs + 5000);
  return out.trim();
}

/** A kernel TCP server on `port` in `ns` that reads and closes each connection. */
export function serverIn(ns: Namespace, port: number): Promise<ChildProcess> {
  return startIn(ns, `
    require('net').createServer((s) => { s.resume(); s.on('end', () => s.end()); s.on('error', () => {}); })
      .listen(${port}, '::', () => console.log('ready'));
  `);
}
