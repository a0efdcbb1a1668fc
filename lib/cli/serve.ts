// syncache serve: shield any TCP service. syncache answers the handshakes,
// each completed connection becomes a kernel socket (protect()), and is piped
// to the backend both ways, with back-pressure (pipe) and half-close.
import net from 'node:net';
import type { Command } from './command.js';
import { RESPONDER_FLAGS, hostPort, integer } from './args.js';
import { MetricsServer } from './metrics-server.js';
import { DOOR_RING_SIZE } from './io-needs.js';
import { prepareRun } from './run-setup.js';
import { UsageError } from './errors.js';
import { DEFAULT_CALM_RATE, protect, type Protection } from '../handoff/protect.js';
import { syncacheMetrics } from '../metrics/prometheus.js';
import { reportUntilSignal, viewFacts } from './view.js';

const HELP = `Usage: syncache serve --iface IF --addr IP[,IP] --port P[,P] --forward HOST:PORT [options]

Shields a TCP service from SYN floods: syncache answers the handshakes to
IP:P on IF, turns each completed one into a kernel socket (TCP_REPAIR) and
pipes it to HOST:PORT both ways, with back-pressure and half-close. An
nftables table keeps this host's own TCP stack out of the handshakes while it
runs (with --io xdp the XDP door does, without one); it is removed on exit.

  --config FILE            JSON object of these flags without the dashes, e.g.
                           {"iface":"eth0","addr":["198.18.0.1"],"port":[80],
                           "forward":"127.0.0.1:8080"}; a flag given here
                           replaces the file's value
  --iface IF               interface to answer on (required)
  --addr IP[,IP]           local addresses to answer for (required; repeat it
                           or give a list: all of them count)
  --port P[,P]             local ports to answer for (required; repeat it or
                           give a list: all of them count)
  --forward HOST:PORT      the backend each connection is piped to (required;
                           [v6]:port for an IPv6 address)
  --syncookies MODE        off | on | only (default on)
  --io PATH                packet | xdp | auto (default packet): the AF_PACKET
                           ring and gate, the XDP door and an AF_XDP ring, or
                           the door where it can be had; as for 'syncache listen'
  --calm RATE              behind the door: while SYNs arrive below RATE a
                           second (per receiving CPU), this host's kernel takes
                           the handshakes on a listener serve holds on each
                           --addr and --port, at the kernel's own cost; above
                           it syncache answers them all (default ${DEFAULT_CALM_RATE};
                           0: syncache answers every handshake, no listener;
                           with --io packet only 0)
  --hash-size N, --bucket-limit N, --cache-limit N, --rexmt-limit N, --pause-ms N
                           SYN cache tunables, as for 'syncache listen'
  --workers N              worker threads for the SYN path (default 0: the main
                           thread; with N the main thread only serves; more
                           than the cores warns)
  --key-file PATH          a fleet's shared cookie key (32+ bytes, mode 0600):
                           every host with it validates the others' cookies;
                           SIGHUP rereads it (default: random secrets per host)
  --metrics HOST:PORT      serve Prometheus metrics at http://HOST:PORT/metrics
  --netns NAME             work in network namespace NAME (ip netns)
  --json                   JSON lines: {"type":"stats",...} every interval and
                           at exit, with handoff counters and latency, "io"
                           (as asked) and "backend" (the path taken);
                           {"type":"reload",...} on SIGHUP
  --stats-interval S       seconds between stats (default 1)

Needs CAP_NET_RAW and CAP_NET_ADMIN (CAP_SYS_ADMIN too with --netns); --io
xdp also CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), and CAP_IPC_LOCK where
RLIMIT_MEMLOCK is below ${DOOR_RING_SIZE}. The unit lib/cli/syncache.service runs
it as a service. SIGINT or SIGTERM print the final stats and exit 0; SIGHUP
rereads --key-file. If it fails while running (its interface deleted): the
final stats, one line on stderr, exit 1.
`;

export const runServe: Command = {
  help: HELP,
  options: {
    ...RESPONDER_FLAGS,
    forward: { type: 'string' },
    calm: { type: 'string' },
  },
  async run(v) {
    const backend = hostPort('forward', v.forward);
    const calm = integer('calm', v.calm, 0, 100_000_000);
    const { options, intervalS, metricsAt, json, stops, hangups } = prepareRun('syncache serve', v, { gate: 'required', handoff: true });
    try {
      if (calm !== undefined && calm > 0 && options.io === 'packet') {
        throw new UsageError('--calm needs the XDP door (--io xdp or auto): with --io packet leave it out or give 0', 'calm');
      }
      const metrics = metricsAt && await MetricsServer.listen(metricsAt.host, metricsAt.port);
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
      let protection: Protection;
      try {
        protection = await protect(server, { ...options, calm });
      } catch (error) {
        await metrics?.close();
        throw error;
      }
      metrics?.serve(syncacheMetrics(protection, { labels: { interface: options.iface } }));
      hangups.attach(protection.responder);
      let handoffErrors = 0;
      protection.on('handoffError', () => { handoffErrors++; });
      const title = `syncache serve ${options.iface} ${options.addrs.join(',')} port ${options.ports.join(',')} -> ${backend.host}:${backend.port}`;
      if (!json && process.stdout.isTTY !== true) process.stdout.write(`${title}: serving\n`);
      const failed = new Promise<Error>((resolve) => { protection.on('error', resolve); });
      const error = await reportUntilSignal({
        until: Promise.race([failed, stops.stopped.then(() => undefined)]),
        json, title, intervalS,
        snapshot: () => {
          const { handoffFailedBy, ...handoff } = protection.stats();
          const failedBy = Object.entries(handoffFailedBy).map(([reason, n]) => `${reason}=${n}`).join(',');
          return {
            counters: protection.responder.stats(),
            extra: { cacheSize: protection.responder.cacheSize, ...viewFacts(protection.responder), ...handoff, handoffFailedBy: failedBy || '-', forwarded, active, backendErrors, handoffErrors },
          };
        },
      });
      await metrics?.close();
      await protection.close();
      if (error !== undefined) throw error;
      return 0;
    } finally {
      stops.release();
      hangups.stop();
    }
  },
};
