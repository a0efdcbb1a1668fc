// syncache serve: shield any TCP service. syncache answers the handshakes,
// each completed connection becomes a kernel socket (protect()), and is piped
// to the backend both ways, with back-pressure (pipe) and half-close.
import net from 'node:net';
import type { Command } from './main.js';
import { RESPONDER_FLAGS, requireRoot, responderOptions, statsInterval } from './args.js';
import { UsageError } from './errors.js';
import { protect } from '../handoff/protect.js';
import { reportUntilSignal, viewFacts } from './view.js';

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
  --hash-size N, --bucket-limit N, --cache-limit N, --rexmt-limit N, --pause-ms N
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
    ...RESPONDER_FLAGS,
    forward: { type: 'string' },
  },
  async run(v) {
    const options = responderOptions(v);
    const backend = parseForward(v.forward);
    const intervalS = statsInterval(v);
    requireRoot('syncache serve');
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
    const protection = await protect(server, options);
    let handoffErrors = 0;
    protection.on('handoffError', () => { handoffErrors++; });
    const title = `syncache serve ${options.iface} ${options.addrs.join(',')} port ${options.ports.join(',')} -> ${backend.host}:${backend.port}`;
    if (v.json !== true && process.stdout.isTTY !== true) process.stdout.write(`${title}: serving\n`);
    await reportUntilSignal({
      json: v.json === true, title, intervalS,
      snapshot: () => {
        const { handoffFailedBy, ...handoff } = protection.stats();
        const failedBy = Object.entries(handoffFailedBy).map(([reason, n]) => `${reason}=${n}`).join(',');
        return {
          counters: protection.responder.stats(),
          extra: { cacheSize: protection.responder.cacheSize, ...viewFacts(protection.responder), ...handoff, handoffFailedBy: failedBy || '-', forwarded, active, backendErrors, handoffErrors },
        };
      },
    });
    await protection.close();
    return 0;
  },
};
