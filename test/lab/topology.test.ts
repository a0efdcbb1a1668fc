// The shared lab, the kernel baseline and the legitimate clients, on real
// namespaces: the lab builds and leaves nothing behind; clients in the client
// namespace reach the responder's kernel listener across the bridge over IPv4
// and IPv6, every attempt completing; with tcp_syncookies=2 the responder's
// kernel answers every SYN with a cookie, as its counters show.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { track } from '../helpers/children.js';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { ip, labUnavailableReason, type Namespace } from '../../lib/lab/netns.js';
import { availableParallelism } from 'node:os';
import { buildLab, SPOOF_V4, type Lab } from '../../lib/lab/topology.js';
import { startKernelListener, readKernelCounters, counterDelta, lineReader, withTimeout } from '../../lib/lab/kernel-listener.js';
import { runClients } from '../../lib/lab/clients.js';

const skip = labUnavailableReason();

describe('lab topology', { skip }, () => {
  let lab: Lab;
  before(() => {
    lab = buildLab({ tag: 'topo' });
  });
  after(() => {
    lab?.destroy();
  });

  it('builds three hosts on one switch, addressed as documented', () => {
    const { attacker, client, responder } = lab;
    assert.deepEqual([responder.v4, client.v4, attacker.v4], ['198.18.0.1', '198.18.0.2', '198.18.0.3']);
    assert.deepEqual([responder.v6, client.v6, attacker.v6], ['2001:db8::1', '2001:db8::2', '2001:db8::3']);
    for (const host of [attacker, client, responder]) {
      assert.ok(existsSync(host.ns.path), host.ns.name);
      assert.equal(host.mac.length, 6);
    }
    const sw = lab.switch!;
    const ports = JSON.parse(sw.ns.ip(['-j', 'link', 'show', 'master', sw.bridge])) as Array<{ ifname: string }>;
    assert.deepEqual(ports.map((p) => p.ifname).sort(), Object.values(sw.ports).sort());
    assert.match(responder.ns.ip(['route', 'get', '198.19.1.2']), /via 198\.18\.0\.3 dev scr0/);
    assert.equal(lab.spoofV4, SPOOF_V4);
    const tentative = responder.ns.ip(['-6', 'addr', 'show', 'tentative']) + client.ns.ip(['-6', 'addr', 'show', 'tentative']);
    assert.equal(tentative.trim(), '', 'no address waits for DAD');
    const ethtool = spawnSync('ethtool', ['--version'], { stdio: 'ignore' }).status === 0;
    if (ethtool) {
      assert.equal(lab.offloads, 'off');
      assert.match(client.ns.exec('ethtool', ['-k', client.iface]), /^tx-checksumming: off$/m);
    } else {
      assert.match(lab.offloads, /^left on: ethtool is not installed/);
    }
  });

  it('clients reach the kernel listener across the bridge over IPv4 and IPv6; syncookies=2 cookies every SYN', async () => {
    const listener = await startKernelListener({ ns: lab.responder.ns, port: 8080, syncookies: 2 });
    try {
      const before = readKernelCounters(lab.responder.ns);
      const summary = await runClients({ ns: lab.client.ns, addr: [lab.responder.v4, lab.responder.v6], port: 8080, rate: 100, seconds: 0.5, timeoutMs: 3000 });
      const delta = counterDelta(before, readKernelCounters(lab.responder.ns));
      assert.equal(summary.attempted, 50);
      assert.equal(summary.completed, summary.attempted, JSON.stringify(summary));
      assert.equal(summary.failed, 0);
      assert.ok(summary.p50 !== null && summary.p99 !== null && summary.p50 <= summary.p99);
      assert.ok(delta.SyncookiesSent >= summary.attempted, `SyncookiesSent ${delta.SyncookiesSent}`);
      assert.ok(delta.SyncookiesRecv >= summary.completed, `SyncookiesRecv ${delta.SyncookiesRecv}`);
      assert.equal(delta.SyncookiesFailed, 0);
    } finally {
      const { accepted } = await listener.stop();
      assert.ok(accepted > 0);
    }
  });

  it('keeps the sysctl in the responder namespace only', () => {
    assert.equal(lab.responder.ns.exec('sysctl', ['-n', 'net.ipv4.tcp_syncookies']).trim(), '2');
    assert.equal(lab.client.ns.exec('sysctl', ['-n', 'net.ipv4.tcp_syncookies']).trim(), '1');
  });

  it('runClients reports timeouts against a port nobody answers', async () => {
    lab.responder.ns.exec('nft', ['add table inet sctest; add chain inet sctest c { type filter hook prerouting priority raw; policy accept; }; add rule inet sctest c tcp dport 8081 drop']);
    try {
      const s = await runClients({ ns: lab.client.ns, addr: lab.responder.v4, port: 8081, rate: 10, seconds: 0.2, timeoutMs: 200 });
      assert.deepEqual([s.attempted, s.completed, s.failed, s.errors.ETIMEDOUT, s.p50], [2, 0, 2, 2, null]);
    } finally {
      lab.responder.ns.exec('nft', ['delete', 'table', 'inet', 'sctest']);
    }
    const refused = await runClients({ ns: lab.client.ns, addr: lab.responder.v6, port: 8081, rate: 10, seconds: 0.2, timeoutMs: 1000 });
    assert.equal(refused.errors.ECONNREFUSED, refused.attempted);
  });

  it('is destroyed when its process is ended by SIGTERM', async () => {
    const topology = fileURLToPath(new URL('../../lib/lab/topology.js', import.meta.url));
    const code = [
      `const { buildLab } = await import(${JSON.stringify(topology)});`,
      `const lab = buildLab({ tag: 'topo3' });`,
      `console.log(JSON.stringify([lab.attacker, lab.client, lab.responder].map((h) => h.ns.name)));`,
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = track(spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const closed = new Promise<string | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
    const names = JSON.parse((await withTimeout(lineReader(child).next(), 20_000, 'child did not build its lab')) ?? '[]') as string[];
    assert.equal(names.length, 3);
    for (const name of names) assert.ok(existsSync(`/run/netns/${name}`));
    process.kill(child.pid!, 'SIGTERM');
    assert.equal(await closed, 'SIGTERM');
    for (const name of names) assert.ok(!existsSync(`/run/netns/${name}`), `${name} is gone`);
  });

  it("cpus: the responder's receive path runs on its CPU, the switch and the far hosts on the other (RPS)", (t) => {
    if (availableParallelism() < 2) return t.skip('one CPU: nothing to split');
    const split = buildLab({ tag: 'topo4', cpus: { responder: 1, network: 0 } });
    try {
      const rps = (ns: Namespace, iface: string): string => ns.exec('cat', [`/sys/class/net/${iface}/queues/rx-0/rps_cpus`]).trim().replace(/^[0,]+(?=.)/, '');
      assert.equal(rps(split.responder.ns, split.responder.iface), '2');
      assert.equal(rps(split.client.ns, split.client.iface), '1');
      assert.equal(rps(split.attacker.ns, split.attacker.iface), '1');
      for (const port of Object.values(split.switch!.ports)) assert.equal(rps(split.switch!.ns, port), '1', port);
      assert.equal(rps(lab.responder.ns, lab.responder.iface), '0', 'without cpus nothing is steered');
    } finally {
      split.destroy();
    }
    assert.throws(() => buildLab({ tag: 'topo5', cpus: { responder: 1, network: 4096 } }), { name: 'RangeError', message: /4096 is not a CPU/ });
    assert.ok(!ip(['netns', 'list']).includes('topo5'), 'a failed build leaves nothing');
  });

  it("networkCpu: the switch and the far hosts receive on that CPU (RPS), the responder's receive path is left alone", (t) => {
    if (availableParallelism() < 2) return t.skip('one CPU: nothing to steer');
    const steered = buildLab({ tag: 'topo8', networkCpu: 1 });
    try {
      const rps = (ns: Namespace, iface: string): string => ns.exec('cat', [`/sys/class/net/${iface}/queues/rx-0/rps_cpus`]).trim().replace(/^[0,]+(?=.)/, '');
      assert.equal(rps(steered.client.ns, steered.client.iface), '2');
      assert.equal(rps(steered.attacker.ns, steered.attacker.iface), '2');
      for (const port of Object.values(steered.switch!.ports)) assert.equal(rps(steered.switch!.ns, port), '2', port);
      assert.equal(rps(steered.responder.ns, steered.responder.iface), '0');
    } finally {
      steered.destroy();
    }
    assert.throws(() => buildLab({ tag: 'topo9', networkCpu: 0, cpus: { responder: 1, network: 0 } }), { name: 'TypeError', message: /exclude each other/ });
  });

  it("profile 'pair': the peer (attacker .3 and client .2 on one veth) goes straight into the responder; kernel clients and the generator reach it", async () => {
    const pair = buildLab({ tag: 'topo6', profile: 'pair' });
    try {
      assert.equal(pair.profile, 'pair');
      assert.equal(pair.switch, undefined);
      assert.equal(pair.attacker.ns, pair.client.ns);
      assert.deepEqual([pair.responder.v4, pair.client.v4, pair.attacker.v4], ['198.18.0.1', '198.18.0.2', '198.18.0.3']);
      const links = JSON.parse(pair.responder.ns.ip(['-j', 'link', 'show', 'dev', 'scr0'])) as Array<{ link_netnsid?: number }>;
      assert.ok(links[0].link_netnsid !== undefined, 'scr0 is a veth into another namespace');
      assert.match(pair.responder.ns.ip(['route', 'get', '198.19.1.2']), /via 198\.18\.0\.3 dev scr0/);
      const listener = await startKernelListener({ ns: pair.responder.ns, port: 8080, syncookies: 2 });
      try {
        const summary = await runClients({ ns: pair.client.ns, addr: [pair.responder.v4, pair.responder.v6], port: 8080, rate: 100, seconds: 0.3, timeoutMs: 3000 });
        assert.equal(summary.completed, summary.attempted, JSON.stringify(summary));
      } finally {
        await listener.stop();
      }
    } finally {
      pair.destroy();
    }
    assert.ok(!ip(['netns', 'list']).includes('topo6'), 'nothing left');
    assert.throws(() => buildLab({ tag: 'topo7', profile: 'ring' as never }), { name: 'RangeError', message: /'switch' or 'pair'/ });
  });

  it('destroys cleanly and idempotently', () => {
    const other = buildLab({ tag: 'topo2' });
    const names = [other.attacker, other.client, other.responder].map((h) => h.ns.name);
    other.destroy();
    other.destroy();
    const listed = ip(['netns', 'list']);
    for (const name of names) {
      assert.ok(!listed.includes(name), `${name} is gone`);
      assert.ok(!existsSync(`/run/netns/${name}`));
    }
  });
});
