// --metrics HOST:PORT: a plain node:http server with one page, GET /metrics,
// the Prometheus text exposition of a prom-client Registry
// (lib/metrics/prometheus.ts). It binds before the responder starts, so a
// taken or foreign address fails fast with one line; until the registry is
// set it answers 503. Anything but GET/HEAD /metrics is 404.
import http from 'node:http';
import type { Registry } from 'prom-client';

export class MetricsServer {
  private registry: Registry | undefined;

  private constructor(private readonly server: http.Server, readonly address: string) {}

  /** Binds HOST:PORT; rejects with one line (code EADDRINUSE, EADDRNOTAVAIL, EACCES...) if it cannot. */
  static async listen(host: string, port: number): Promise<MetricsServer> {
    const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const server = http.createServer();
    const metrics = new MetricsServer(server, shown);
    server.on('request', (req, res) => metrics.answer(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const why = error.code === 'EADDRINUSE' ? 'the address is in use'
          : error.code === 'EADDRNOTAVAIL' ? 'not an address of this host (in this network namespace)'
            : error.code === 'EACCES' ? 'permission denied (a port below 1024 needs CAP_NET_BIND_SERVICE)'
              : error.message;
        reject(Object.assign(new Error(`--metrics ${shown}: cannot listen: ${why}`), { code: error.code }));
      });
      server.listen({ host, port }, resolve);
    });
    return metrics;
  }

  /** The registry scrapes read from now on. */
  serve(registry: Registry): void {
    this.registry = registry;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at GET /metrics\n');
      return;
    }
    const registry = this.registry;
    if (registry === undefined) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('starting\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  }
}
