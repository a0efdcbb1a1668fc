// Prometheus metrics: every counter has a metric with help text, a scrape
// during a flood against a protect()ed server parses and carries every
// counter, and the shipped Grafana dashboard asks only for metrics that exist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { labAddon } from '../../lib/lab/lab-addon.js';
import { addon } from '../../lib/native/addon.js';
import { COUNTER_NAMES } from '../../lib/engine/stats.js';
import { COUNTER_HELP } from '../../lib/metrics/counter-help.js';
import { metricName, syncacheMetrics } from '../../lib/metrics/prometheus.js';
import { protect } from '../../lib/handoff/protect.js';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { track } from '../helpers/children.js';

const skip = labUnavailableReason();
const PORT = 80;
let pair: PairLab;

before(() => {
  if (skip) return;
  pair = createPairLab('metrics', 45);
  // Answers to the flood's spoofed sources go to the peer, whose kernel drops them.
  pair.responder.ip(['route', 'add', '198.19.0.0/16', 'via', pair.peerV4]);
});
after(() => pair?.lab.destroy());

interface Sample { name: string; labels: string; value: number }

/** The exposition text as samples, HELP and TYPE lines, checking every line's shape. */
function parseExposition(text: string): { samples: Sample[]; help: Map<string, string>; type: Map<string, string> } {
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) { help.set(m[1], m[2]); continue; }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) { type.set(m[1], m[2]); continue; }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    assert.ok(m, `not an exposition line: ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels: m[2] ?? '', value: Number(m[3]) });
  }
  return { samples, help, type };
}

test('every counter has help text, and every help text a counter', () => {
  // The XDP door's counters too (lib/door/): those it shares with userspace
  // are among the responder's, its own are door*.
  const door = addon.door.available ? addon.door.counterNames : [];
  assert.deepEqual(COUNTER_NAMES.filter((n) => COUNTER_HELP[n] === undefined), []);
  assert.deepEqual(door.filter((n) => COUNTER_HELP[n] === undefined), []);
  assert.deepEqual(Object.keys(COUNTER_HELP).filter((n) => !COUNTER_NAMES.includes(n) && !door.includes(n)), []);
});

test('counter names become snake_case metric names', () => {
  assert.equal(metricName('rxFrames'), 'rx_frames');
  assert.equal(metricName('dropBadIpChecksum'), 'drop_bad_ip_checksum');
  assert.equal(metricName('sendcookie'), 'sendcookie');
  assert.equal(metricName('synOnTimeWait'), 'syn_on_time_wait');
});

test('a scrape during a flood carries every counter, the gauges and the connection histogram', { skip }, async () => {
  const server = http.createServer((req, res) => res.end('ok'));
  const p = await protect(server, { iface: pair.responderIface, netns: pair.responder.path, addrs: [pair.responderV4], ports: [PORT], syncookies: 'on' });
  try {
    const registry = syncacheMetrics(p, { labels: { iface: pair.responderIface } });
    const curl = track(spawn(...pair.peer.wrap('curl', ['-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://${pair.responderV4}/`]), { stdio: ['ignore', 'pipe', 'inherit'] }));
    let code = '';
    curl.stdout!.on('data', (d) => (code += d));
    await new Promise((resolve) => curl.on('close', resolve));
    assert.equal(code, '200');
    const flood = labAddon.flood({
      iface: pair.peerIface, netns: pair.peer.path, dstMac: pair.responder.macOf(pair.responderIface),
      dstAddr: pair.responderV4, dstPort: PORT, srcNet: '198.19.0.0/16', rate: 20_000, seconds: 1,
    });
    const floodStart = p.responder.stats().parsedSyn;
    for (let t = 0; t < 500 && p.responder.stats().parsedSyn < floodStart + 1000; t++) await new Promise((r) => setTimeout(r, 10));
    const during = parseExposition(await registry.metrics());
    await flood;
    const { samples, help, type } = during;
    const value = (name: string): number | undefined => samples.find((s) => s.name === name)?.value;
    for (const counter of COUNTER_NAMES) {
      const name = `syncache_${metricName(counter)}_total`;
      assert.equal(type.get(name), 'counter', `${name} is missing or not a counter`);
      assert.equal(help.get(name), COUNTER_HELP[counter]);
      assert.ok(Number.isFinite(value(name)), `${name} has no value`);
    }
    assert.ok(value('syncache_parsed_syn_total')! > 0, 'the flood was not counted');
    assert.equal(value('syncache_handoffs_total'), 1);
    assert.equal(type.get('syncache_cache_entries'), 'gauge');
    assert.equal(type.get('syncache_paused'), 'gauge');
    assert.equal(value('syncache_workers'), 0);
    assert.ok(samples.some((s) => s.name === 'syncache_backend_info' && /backend="packet"/.test(s.labels) && /io="packet"/.test(s.labels)),
      'the path taken and the io option (default packet)');
    assert.equal(type.get('syncache_connection_seconds'), 'histogram');
    assert.equal(samples.find((s) => s.name === 'syncache_connection_seconds_count')?.value, 1);
    assert.ok(samples.every((s) => /iface="scr0"/.test(s.labels)), 'the default label is on every sample');
    // The dashboard asks for nothing this scrape lacks.
    const exported = new Set([...samples.map((s) => s.name), ...type.keys()]);
    for (const q of dashboardQueries()) {
      for (const name of q.names) assert.ok(exported.has(name), `dashboard panel '${q.panel}' asks for ${name}, which syncache does not export`);
    }
  } finally {
    await p.close();
  }
});

/** Every syncache metric name a query of the shipped Grafana dashboard uses, by panel. */
function dashboardQueries(): Array<{ panel: string; names: string[] }> {
  const dashboard = JSON.parse(readFileSync(new URL('../../../lib/metrics/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
  return dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((t) => ({ panel: panel.title, names: t.expr.match(/\bsyncache_[a-z0-9_]+/g) ?? [] })));
}

test('every query of the Grafana dashboard names a syncache metric', () => {
  const queries = dashboardQueries();
  assert.ok(queries.length >= 6);
  for (const q of queries) assert.ok(q.names.length > 0, `panel '${q.panel}' queries no syncache metric`);
});
