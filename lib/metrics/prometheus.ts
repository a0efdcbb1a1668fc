// Prometheus metrics for a Responder or a Protection, with prom-client:
//
//   import { syncacheMetrics } from 'syncache';
//   const registry = syncacheMetrics(protection);        // or a Responder
//   res.end(await registry.metrics());                   // in your own /metrics
//
// Every counter of stats() becomes syncache_<name>_total (camelCase names in
// snake_case), read from the counters when Prometheus scrapes, never copied
// per packet. Gauges: the cache's entries, the pause, the workers, the
// backend (the path taken) with the io option asked for. With a Protection
// also the handoffs, their failures by reason, the open sockets, and how
// long a connection took from its final ACK to the server's 'connection' as
// a histogram.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Responder } from '../responder/responder.js';
import { Protection } from '../handoff/protect.js';
import { COUNTER_HELP } from './counter-help.js';

export interface MetricsOptions {
  /** Register into this registry (default: a new one, returned). */
  registry?: Registry;
  /** Labels on every metric (interface, instance...); none by default. */
  labels?: Record<string, string>;
}

/** `rxFrames` -> `rx_frames`: a counter's name as a Prometheus name part. */
export function metricName(counter: string): string {
  return counter.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/** Connection times are milliseconds to a few seconds: buckets in seconds. */
const CONNECTION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function syncacheMetrics(target: Responder | Protection, options: MetricsOptions = {}): Registry {
  const registry = options.registry ?? new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  const protection = target instanceof Protection ? target : undefined;
  const responder = protection ? protection.responder : (target as Responder);
  const registers = [registry];

  const stats = oncePerScrape(() => responder.stats());

  for (const name of Responder.counterNames) {
    const help = COUNTER_HELP[name];
    if (help === undefined) throw new Error(`counter ${name} has no help text in lib/metrics/counter-help.ts`);
    new Counter({
      name: `syncache_${metricName(name)}_total`, help, registers,
      collect() { this.reset(); this.inc(stats()[name] ?? 0); },
    });
  }
  new Gauge({
    name: 'syncache_cache_entries', help: 'Entries in the SYN cache (the shard on this thread; workers report none)', registers,
    collect() { this.set(responder.cacheSize); },
  });
  new Gauge({
    name: 'syncache_paused', help: '1 while the cache ran out and new flows get cookies without entries (the shard on this thread)', registers,
    collect() { this.set(responder.paused ? 1 : 0); },
  });
  new Gauge({
    name: 'syncache_workers', help: 'Worker threads with a shard each (0: one shard on this thread)', registers,
    collect() { this.set(responder.workerCount); },
  });
  new Gauge({
    name: 'syncache_backend_info',
    help: 'The I/O path packets take (label backend: packet or xdp) and the io option it was opened with (label io: packet, xdp or auto)',
    labelNames: ['backend', 'io'], registers,
    collect() { this.reset(); this.set({ backend: responder.backend, io: responder.options.io ?? 'packet' }, 1); },
  });
  if (protection) protectionMetrics(protection, registers);
  return registry;
}

/** `read` at most once per scrape (whichever metric asks first; a scrape takes well under 100 ms). */
function oncePerScrape<T>(read: () => T): () => T {
  let value: T | undefined;
  let takenAt = -Infinity;
  return () => {
    const now = performance.now();
    if (value === undefined || now - takenAt > 100) {
      value = read();
      takenAt = now;
    }
    return value;
  };
}

function protectionMetrics(protection: Protection, registers: Registry[]): void {
  const stats = oncePerScrape(() => protection.stats());
  new Counter({
    name: 'syncache_handoffs_total', help: 'Connections handed to the server as kernel sockets', registers,
    collect() { this.reset(); this.inc(stats().handoffs); },
  });
  new Counter({
    name: 'syncache_handoff_failures_total', help: 'Handshakes whose socket could not be made, by reason (errno code)', labelNames: ['reason'], registers,
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(stats().handoffFailedBy)) this.inc({ reason }, n);
    },
  });
  new Gauge({
    name: 'syncache_open_sockets', help: 'Handed-over sockets still open', registers,
    collect() { this.set(stats().open); },
  });
  new Counter({
    name: 'syncache_calm_connections_total', help: 'Connections the calm listener accepted behind the door (the kernel made their handshake)', registers,
    collect() { this.reset(); this.inc(stats().calmConnections); },
  });
  new Gauge({
    name: 'syncache_calm_rate', help: 'SYNs a second per receiving CPU below which the kernel\'s listener takes handshakes (0: no calm)', registers,
    collect() { this.set(stats().calm); },
  });
  const connection = new Histogram({
    name: 'syncache_connection_seconds', help: 'From a handshake\'s final ACK to the server\'s \'connection\' event',
    buckets: CONNECTION_BUCKETS, registers,
  });
  protection.on('handoff', (_socket, h) => {
    connection.observe(Math.max(0, performance.timeOrigin + performance.now() - h.ackTime) / 1000);
  });
}
