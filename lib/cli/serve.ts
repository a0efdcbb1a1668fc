// syncache serve: shield any TCP service. syncache answers the handshakes,
// each completed connection becomes a kernel socket (protect()), and is piped
// to the backend both ways, with back-pressure (pipe) and half-close.
import { existsSync } from 'node:fs';
import net from 'node:net';
import type { Command } from './main.js';
import { addresses, choice, integer, number, ports, requireRoot } from './args.js';
import { UsageError } from './errors.js';
import { protect } from '../handoff/protect.js';
import { drawScreen, jsonLine, renderScreen, type Counters } from './view.js';

const HELP = `Usage: syncache serve --iface IF --addr IP[,IP] --port P[,P] --forward HOST:PORT [options]

Shields a TCP service from SYN floods: syncache answers the handshakes to
IP:P on IF, turns each completed one into a kernel socket (TCP_REPAIR) and
pipes it to HOST:PORT both ways, with back-pressure and half-close. An
nftables table keeps this host's own TCP stack out of the handshakes while it
runs; it is removed on exit.

  --iface IF               interface to answer on (required)
  --addr IP[,IP]           local addresses to answer for (required)
  --port P[,P]             local ports to answer for (required)
  --forward HOST:PORT      the backend each connection is piped to (required;
                           [v6]:port for an IPv6 address)
  --syncookies MODE        off | on | only (default on)
  --hash-size N, --bucket-limit N, --cache-limit N, --rexmt-limit N
                           SYN cache tunables, as for 'syncache listen'
  --workers N              worker threads for the SYN path (default 0: the main
                           thread; with N the main thread only serves)
  --netns NAME             work in network namespace NAME (ip netns)
  --json                   JSON lines: {"type":"stats",...} every interval and
                           at exit, with handoff counters and latency
  --stats-interval S       seconds between stats (default 1)

SIGINT or SIGTERM print the final stats and exit 0.
`;

function parseForward(value: string | boolean | undefined): { host: string; port: number } {
  if (typeof value !== 'string') throw new UsageError('--forward HOST:PORT is required');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`--forward must be HOST:PORT (or [IPv6]:PORT), got '${value}'`);
  }
  return { host: m[1], port };
}

export const runServe: Command = {
  help: HELP,
  options: {
    iface: { type: 'string' },
    addr: { type: 'string' },
    port: { type: 'string' },
    forward: { type: 'string' },
    syncookies: { type: 'string' },
    'hash-size': { type: 'string' },
    'bucket-limit': { type: 'string' },
    'cache-limit': { type: 'string' },
    'rexmt-limit': { type: 'string' },
    netns: { type: 'string' },
    workers: { type: 'string' },
    json: { type: 'boolean' },
    'stats-interval': { type: 'string' },
  },
  async run(v) {
    if (typeof v.iface !== 'string' || v.iface === '') throw new UsageError('--iface is required');
    const addrs = addresses('addr', v.addr);
    const portList = ports('port', v.port);
    const backend = parseForward(v.forward);
    const intervalS = number('stats-interval', v['stats-interval'], 0.1, 3600) ?? 1;
    let netns: string | undefined;
    if (typeof v.netns === 'string') {
      netns = v.netns.includes('/') ? v.netns : `/run/netns/${v.netns}`;
      if (!existsSync(netns)) throw new UsageError(`--netns: no network namespace at ${netns} (see 'ip netns list')`);
    }
    requireRoot('syncache serve');
    const json = v.json === true;
    let forwarded = 0;
    let backendErrors = 0;
    let active = 0;
    const server = net.createServer({ allowHalfOpen: true }, (client) => {
      const upstream = net.connect({ host: backend.host, port: backend.port, allowHalfOpen: true });
      active++;
      forwarded++;
      let done = 0;
      const finished = (): void => {
        if (++done === 2) active--;
      };
      client.once('close', finished);
      upstream.once('close', finished);
      upstream.on('error', () => {
        backendErrors++;
        client.destroy();
      });
      client.on('error', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    const protection = await protect(server, {
      iface: v.iface,
      addrs,
      ports: portList,
      netns,
      syncookies: choice('syncookies', v.syncookies, ['off', 'on', 'only'] as const),
      hashSize: integer('hash-size', v['hash-size'], 1, 2 ** 24),
      bucketLimit: integer('bucket-limit', v['bucket-limit'], 1, 65535),
      cacheLimit: integer('cache-limit', v['cache-limit'], 1, 2 ** 26),
      rexmtLimit: integer('rexmt-limit', v['rexmt-limit'], 0, 8),
      workers: integer('workers', v.workers, 0, 64),
    });
    let handoffErrors = 0;
    protection.on('error', () => { handoffErrors++; });
    const out = process.stdout;
    const live = !json && out.isTTY === true;
    const title = `syncache serve ${v.iface} ${addrs.join(',')} port ${portList.join(',')} -> ${backend.host}:${backend.port}`;
    let prev: Counters | undefined;
    let prevAt = performance.now();
    const report = (final: boolean): void => {
      const cur = protection.responder.stats();
      const h = protection.stats();
      const extra = { ...h, forwarded, active, backendErrors, handoffErrors };
      const now = performance.now();
      if (json) {
        out.write(`${jsonLine('stats', { final, cacheSize: protection.responder.cacheSize, ...extra, ...cur })}\n`);
      } else if (live && !final) {
        drawScreen(renderScreen(title, cur, prev, (now - prevAt) / 1000, {
          'handoffs': `${h.handoffs} (failed ${h.handoffFailed}), p50 ${h.handoffP50Ms ?? '-'} ms, p99 ${h.handoffP99Ms ?? '-'} ms`,
          'connections': `${active} open, ${forwarded} forwarded, ${backendErrors} backend errors`,
        }));
      } else if (final) {
        out.write(`final stats: ${Object.entries({ ...extra, ...cur }).filter(([, n]) => n !== 0 && n !== null).map(([k, n]) => `${k}=${n}`).join(' ')}\n`);
      }
      prev = cur;
      prevAt = now;
    };
    if (!json && !live) out.write(`${title}: serving\n`);
    const timer = setInterval(() => report(false), intervalS * 1000);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    clearInterval(timer);
    report(true);
    await protection.close();
    return 0;
  },
};
