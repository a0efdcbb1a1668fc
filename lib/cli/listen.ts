// syncache listen: answer handshakes on an interface until SIGINT/SIGTERM.
import { existsSync } from 'node:fs';
import type { Command } from './main.js';
import { addresses, choice, integer, number, ports, requireRoot } from './args.js';
import { UsageError } from './errors.js';
import { Responder } from '../responder/responder.js';
import { drawScreen, jsonLine, renderScreen, type Counters } from './view.js';

const HELP = `Usage: syncache listen --iface IF --addr IP[,IP] --port P[,P] [options]

Answers TCP handshakes to the given addresses and ports on IF from a packet
ring, keeps half-open connections in a SYN cache (or none, with cookies), and
reports each completed handshake. An nftables table keeps this host's own TCP
stack out of those handshakes while it runs; it is removed on exit.

  --iface IF               interface to answer on (required)
  --addr IP[,IP]           local IPv4/IPv6 addresses to answer for (required)
  --port P[,P]             local TCP ports to answer for (required)
  --syncookies MODE        off | on | only (default on): off = cache only,
                           on = every ISS a cookie, cache kept for retransmits,
                           only = cookies and no state at all
  --hash-size N            cache buckets, a power of 2 (default 512)
  --bucket-limit N         entries per bucket (default 30)
  --cache-limit N          entries in all (default hash-size x bucket-limit)
  --rexmt-limit N          SYN-ACK retransmits before an entry is dropped (default 3)
  --workers N              worker threads, one ring and cache shard each, in one
                           PACKET_FANOUT_HASH group (default 0: one shard on
                           the main thread)
  --netns NAME             open the ring in network namespace NAME (ip netns)
  --json                   JSON lines on stdout: {"type":"stats",...} every
                           interval and at exit, {"type":"handshake",...} each
  --stats-interval S       seconds between stats (default 1)
  --no-gate                do not install the nftables gate

On a terminal without --json: a live one-screen view. SIGINT or SIGTERM print
the final stats and exit 0.
`;

export const runListen: Command = {
  help: HELP,
  options: {
    iface: { type: 'string' },
    addr: { type: 'string' },
    port: { type: 'string' },
    syncookies: { type: 'string' },
    'hash-size': { type: 'string' },
    'bucket-limit': { type: 'string' },
    'cache-limit': { type: 'string' },
    'rexmt-limit': { type: 'string' },
    workers: { type: 'string' },
    netns: { type: 'string' },
    json: { type: 'boolean' },
    'stats-interval': { type: 'string' },
    'no-gate': { type: 'boolean' },
  },
  async run(v) {
    if (typeof v.iface !== 'string' || v.iface === '') throw new UsageError('--iface is required');
    const addrs = addresses('addr', v.addr);
    const portList = ports('port', v.port);
    const intervalS = number('stats-interval', v['stats-interval'], 0.1, 3600) ?? 1;
    let netns: string | undefined;
    if (typeof v.netns === 'string') {
      netns = v.netns.includes('/') ? v.netns : `/run/netns/${v.netns}`;
      if (!existsSync(netns)) throw new UsageError(`--netns: no network namespace at ${netns} (see 'ip netns list')`);
    }
    requireRoot('syncache listen');
    const json = v.json === true;
    const responder = await Responder.open({
      iface: v.iface,
      addrs,
      ports: portList,
      netns,
      gate: v['no-gate'] !== true,
      syncookies: choice('syncookies', v.syncookies, ['off', 'on', 'only'] as const),
      hashSize: integer('hash-size', v['hash-size'], 1, 2 ** 24),
      bucketLimit: integer('bucket-limit', v['bucket-limit'], 1, 65535),
      cacheLimit: integer('cache-limit', v['cache-limit'], 1, 2 ** 26),
      rexmtLimit: integer('rexmt-limit', v['rexmt-limit'], 0, 8),
      workers: integer('workers', v.workers, 0, 64),
    });
    const out = process.stdout;
    const live = !json && out.isTTY === true;
    if (json) {
      responder.on('handshake', (h) => out.write(`${jsonLine('handshake', { ...h })}\n`));
    } else if (!live) {
      responder.on('handshake', (h) => {
        out.write(`handshake ${h.remoteAddress}:${h.remotePort} -> ${h.localAddress}:${h.localPort} mss ${h.mss} wscale ${h.wscale} sack ${h.sackPermitted} ts ${h.timestamps !== null}${h.viaCookie ? ' cookie' : ''}\n`);
      });
    }
    const title = `syncache listen ${v.iface} ${addrs.join(',')} port ${portList.join(',')} (syncookies ${responder.config.syncookies})`;
    let prev: Counters | undefined;
    let prevAt = performance.now();
    const report = (final: boolean): void => {
      const cur = responder.stats();
      const now = performance.now();
      if (json) {
        out.write(`${jsonLine('stats', { final, cacheSize: responder.cacheSize, ...cur })}\n`);
      } else if (live && !final) {
        drawScreen(renderScreen(title, cur, prev, (now - prevAt) / 1000, { 'cache entries': responder.cacheSize }));
      } else if (final) {
        out.write(`final stats: ${Object.entries(cur).filter(([, n]) => n !== 0).map(([k, n]) => `${k}=${n}`).join(' ')}\n`);
      }
      prev = cur;
      prevAt = now;
    };
    if (!json && !live) out.write(`${title}: answering\n`);
    const timer = setInterval(() => report(false), intervalS * 1000);
    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    clearInterval(timer);
    report(true);
    await responder.close();
    return 0;
  },
};
