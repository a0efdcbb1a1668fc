// syncache listen: answer handshakes on an interface until SIGINT/SIGTERM.
import type { Command } from './command.js';
import { RESPONDER_FLAGS } from './args.js';
import { MetricsServer } from './metrics-server.js';
import { DOOR_RING_SIZE } from './io-needs.js';
import { prepareRun } from './run-setup.js';
import { Responder } from '../responder/responder.js';
import { syncacheMetrics } from '../metrics/prometheus.js';
import { jsonLine, reportUntilSignal, viewFacts } from './view.js';

const HELP = `Usage: syncache listen --iface IF --addr IP[,IP] --port P[,P] [options]

Answers TCP handshakes to the given addresses and ports on IF from a packet
ring, keeps half-open connections in a SYN cache (or none, with cookies), and
reports each completed handshake. An nftables table keeps this host's own TCP
stack out of those handshakes while it runs (with --io xdp the XDP door does,
without one); it is removed on exit.

  --config FILE            JSON object of these flags without the dashes, e.g.
                           {"iface":"eth0","addr":["198.18.0.1"],"port":[80]};
                           a flag given here replaces the file's value
  --iface IF               interface to answer on (required)
  --addr IP[,IP]           local IPv4/IPv6 addresses to answer for (required;
                           repeat it or give a list: all of them count)
  --port P[,P]             local TCP ports to answer for (required; repeat it
                           or give a list: all of them count)
  --syncookies MODE        off | on | only (default on): off = cache only,
                           on = every ISS a cookie, cache kept for retransmits,
                           only = cookies and no state at all
  --io PATH                packet | xdp | auto (default packet): packet = an
                           AF_PACKET ring behind the nftables gate; xdp = the
                           XDP door in the driver (answers cookie SYNs there)
                           in front of AF_XDP rings, a socket a receive queue,
                           each shard its share of the queues (--workers 0:
                           all; N: worker i queues i, i+N, ...; no more workers
                           than queues); auto = the door where it can be had
  --pause-ms N             with 'on': once the whole cache ran out, new flows
                           get cookies without entries for N ms, doubling
                           while it recurs (default 15000; 0: never)
  --hash-size N            cache buckets, a power of 2 (default 8192)
  --bucket-limit N         entries per bucket (default 30)
  --cache-limit N          entries in all (default hash-size x bucket-limit if either is set, else 15360)
  --rexmt-limit N          SYN-ACK retransmits before an entry is dropped (default 3)
  --workers N              worker threads, one ring and cache shard each, in one
                           PACKET_FANOUT group steered by flow, or behind the
                           door a share of the receive queues (default 0: one shard
                           on the main thread; more than the cores warns)
  --key-file PATH          a fleet's shared cookie key (32+ bytes, mode 0600):
                           every host with it validates the others' cookies;
                           SIGHUP rereads it (default: random secrets per host)
  --metrics HOST:PORT      serve Prometheus metrics at http://HOST:PORT/metrics
  --netns NAME             open the ring in network namespace NAME (ip netns)
  --json                   JSON lines on stdout: {"type":"stats",...} every
                           interval and at exit, {"type":"handshake",...} each
                           (both with "io" and "backend", below),
                           {"type":"reload",...} on SIGHUP
  --stats-interval S       seconds between stats (default 1)
  --no-gate                do not install the nftables gate (the door has
                           none: with --io xdp it warns and does nothing)

Needs CAP_NET_RAW, and CAP_NET_ADMIN unless --no-gate (CAP_SYS_ADMIN too
with --netns). --io xdp needs CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF and
CAP_PERFMON (CAP_SYS_ADMIN does for these two), and CAP_IPC_LOCK where
RLIMIT_MEMLOCK is below the AF_XDP ring's ${DOOR_RING_SIZE}; --io auto takes the packet
path, saying why, where it lacks them. The live view and each JSON line give
"io" (as asked) and "backend" (the path taken: packet or xdp).

On a terminal without --json: a live one-screen view. SIGINT or SIGTERM
print the final stats and exit 0; SIGHUP rereads --key-file. If it fails
while running (its interface deleted): the final stats, one line on stderr,
exit 1.
`;

export const runListen: Command = {
  help: HELP,
  options: {
    ...RESPONDER_FLAGS,
    'no-gate': { type: 'boolean' },
  },
  async run(v) {
    const gate = v['no-gate'] !== true;
    const { options, intervalS, metricsAt, json, stops, hangups } = prepareRun('syncache listen', v, { gate: gate ? 'optional' : 'off', handoff: false });
    try {
      const metrics = metricsAt && await MetricsServer.listen(metricsAt.host, metricsAt.port);
      let responder: Responder;
      try {
        responder = await Responder.open({ ...options, gate });
      } catch (error) {
        await metrics?.close();
        throw error;
      }
      metrics?.serve(syncacheMetrics(responder, { labels: { interface: options.iface } }));
      hangups.attach(responder);
      const out = process.stdout;
      if (json) {
        const io = { io: responder.options.io ?? 'packet', backend: responder.backend };
        responder.on('handshake', (h) => out.write(`${jsonLine('handshake', { ...io, ...h })}\n`));
      } else if (out.isTTY !== true) {
        responder.on('handshake', (h) => {
          out.write(`handshake ${h.remoteAddress}:${h.remotePort} -> ${h.localAddress}:${h.localPort} mss ${h.mss} wscale ${h.wscale} sack ${h.sackPermitted} ts ${h.timestamps !== null}${h.viaCookie ? ' cookie' : ''}\n`);
        });
      }
      const title = `syncache listen ${options.iface} ${options.addrs.join(',')} port ${options.ports.join(',')} (syncookies ${responder.config.syncookies})`;
      if (!json && out.isTTY !== true) out.write(`${title}: answering\n`);
      const failed = new Promise<Error>((resolve) => { responder.on('error', resolve); });
      const error = await reportUntilSignal({
        until: Promise.race([failed, stops.stopped.then(() => undefined)]),
        json, title, intervalS,
        snapshot: () => ({ counters: responder.stats(), extra: { cacheSize: responder.cacheSize, ...viewFacts(responder) } }),
      });
      await metrics?.close();
      await responder.close();
      if (error !== undefined) throw error;
      return 0;
    } finally {
      stops.release();
      hangups.stop();
    }
  },
};
