// The nftables gate, against the kernel's own TCP stack in a pair lab: while
// the gate is up a kernel listener on the protected port is unreachable (its
// SYNs are dropped at prerouting), a listener carrying the gate's mark is
// reachable, and after remove() everything is as before. The gate names its
// interface (the same address:port over lo is the kernel's) and refuses
// addresses wider than it. Gates refuse to overlap a live gate; a gate is
// owned by its process (the kernel removes it on kill -9), and without an
// owner stale gates - pid gone, or reused by a process with another start
// time - are swept; teardown at exit removes what a process installed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { track } from '../helpers/children.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { installGate, listGates, sweepGates, GateError } from '../../lib/gate/nftables.js';
import { processStartTime, ownPidNamespace } from '../../lib/gate/owner-process.js';
import { startKernelListener, lineReader, withTimeout } from '../../lib/lab/kernel-listener.js';
import { runClients } from '../../lib/lab/clients.js';

function nftMissing(): string | undefined {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'nft (nftables) is not installed: apt-get install nftables';
  }
}

const skip = labUnavailableReason() ?? nftMissing();
const MARK = 0x5c5c0001;

function tables(lab: PairLab): string {
  return lab.responder.exec('nft', ['list', 'tables']).trim();
}

describe('nftables gate', { skip }, () => {
  let lab: PairLab;
  before(() => {
    lab = createPairLab('gate', 7);
  });
  after(() => {
    lab?.lab.destroy();
  });

  it('keeps a kernel listener unreachable while installed, reachable after remove()', async () => {
    const listener = await startKernelListener({ ns: lab.responder, port: 7001, syncookies: 0 });
    try {
      const addr = [lab.responderV4, lab.responderV6];
      const open = await runClients({ ns: lab.peer, addr, port: 7001, rate: 20, seconds: 0.1, timeoutMs: 2000 });
      assert.equal(open.completed, open.attempted, `before the gate: ${JSON.stringify(open)}`);

      const gate = installGate({ netns: lab.responder, iface: lab.responderIface, addrs: addr, ports: [7001], mark: MARK });
      const shut = await runClients({ ns: lab.peer, addr, port: 7001, rate: 20, seconds: 0.1, timeoutMs: 300 });
      assert.equal(shut.completed, 0, `through the gate: ${JSON.stringify(shut)}`);
      assert.equal(shut.errors.ETIMEDOUT, shut.attempted, 'SYNs are dropped silently, not refused');

      gate.remove();
      gate.remove();
      const again = await runClients({ ns: lab.peer, addr, port: 7001, rate: 20, seconds: 0.1, timeoutMs: 2000 });
      assert.equal(again.completed, again.attempted, `after remove(): ${JSON.stringify(again)}`);
    } finally {
      await listener.stop();
    }
    assert.equal(tables(lab), '');
  });

  it('only gates the protected address and port', async () => {
    const listener = await startKernelListener({ ns: lab.responder, port: 7002, syncookies: 0 });
    const gate = installGate({ netns: lab.responder, iface: lab.responderIface, addrs: [lab.responderV4], ports: [7003], mark: MARK });
    try {
      const s = await runClients({ ns: lab.peer, addr: [lab.responderV4, lab.responderV6], port: 7002, rate: 20, seconds: 0.1, timeoutMs: 2000 });
      assert.equal(s.completed, s.attempted, JSON.stringify(s));
    } finally {
      gate.remove();
      await listener.stop();
    }
  });

  it('lets through the packets of a socket that carries the mark, and no SYN', async (t) => {
    const py = spawnSync('python3', ['-c', 'import socket; socket.SO_MARK'], { stdio: 'ignore' });
    if (py.status !== 0) return t.skip('python3 with socket.SO_MARK is not available to open a marked socket');
    // A marked echo server; its accepted sockets inherit the mark.
    const server = [
      'import socket, threading',
      's = socket.socket(socket.AF_INET, socket.SOCK_STREAM)',
      `s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, ${MARK})`,
      "s.bind(('0.0.0.0', 7004)); s.listen(16); print('ready', flush=True)",
      'def echo(c):',
      '    while True:',
      '        d = c.recv(100)',
      '        if not d: break',
      '        c.sendall(d)',
      'while True:',
      '    c, _ = s.accept(); threading.Thread(target=echo, args=(c,), daemon=True).start()',
    ].join('\n');
    // A client that connects before the gate exists, then echoes a line per stdin line.
    const client = [
      'import socket, sys',
      `c = socket.create_connection((${JSON.stringify(lab.responderV4)}, 7004), timeout=2)`,
      "print('connected', flush=True)",
      'for line in sys.stdin:',
      '    c.sendall(line.encode())',
      '    try: print(c.recv(100).decode().strip(), flush=True)',
      "    except socket.timeout: print('timeout', flush=True)",
    ].join('\n');
    const [scmd, sargs] = lab.responder.wrap('python3', ['-c', server]);
    const srv = track(spawn(scmd, sargs, { stdio: ['ignore', 'pipe', 'inherit'] }));
    let cli: ReturnType<typeof spawn> | undefined;
    let gate: ReturnType<typeof installGate> | undefined;
    try {
      assert.equal(await withTimeout(lineReader(srv).next(), 10_000, 'marked server did not start'), 'ready');
      const [ccmd, cargs] = lab.peer.wrap('python3', ['-c', client]);
      cli = track(spawn(ccmd, cargs, { stdio: ['pipe', 'pipe', 'inherit'] }));
      const lines = lineReader(cli);
      assert.equal(await withTimeout(lines.next(), 10_000, 'client did not connect'), 'connected');
      gate = installGate({ netns: lab.responder, iface: lab.responderIface, addrs: [lab.responderV4], ports: [7004], mark: MARK });
      cli.stdin!.write('through the gate\n');
      assert.equal(await withTimeout(lines.next(), 10_000, 'no echo'), 'through the gate');
      const s = await runClients({ ns: lab.peer, addr: [lab.responderV4], port: 7004, rate: 20, seconds: 0.1, timeoutMs: 1000 });
      assert.equal(s.completed, 0, `a SYN got through: ${JSON.stringify(s)}`);
    } finally {
      for (const child of [cli, srv]) {
        if (child === undefined) continue;
        const closed = new Promise((resolve) => child.once('close', resolve));
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
        await closed;
      }
      gate?.remove();
    }
  });

  it('names its interface: the same address:port reached over another interface (lo) is served by the kernel', async () => {
    const listener = await startKernelListener({ ns: lab.responder, port: 7040, syncookies: 0 });
    const gate = installGate({ netns: lab.responder, iface: lab.responderIface, addrs: [lab.responderV4, lab.responderV6], ports: [7040], mark: MARK });
    try {
      const rules = lab.responder.exec('nft', ['list', 'table', 'inet', gate.table]);
      assert.equal(rules.match(new RegExp(`iifname "${lab.responderIface}" ip6? daddr @v[46] tcp dport @ports jump gate`, 'g'))?.length, 2, rules);
      const wire = await runClients({ ns: lab.peer, addr: [lab.responderV4, lab.responderV6], port: 7040, rate: 20, seconds: 0.1, timeoutMs: 300 });
      assert.equal(wire.completed, 0, `through the gate on ${lab.responderIface}: ${JSON.stringify(wire)}`);
      // From the responder's own namespace the same addresses are reached over lo.
      const local = await runClients({ ns: lab.responder, addr: [lab.responderV4, lab.responderV6], port: 7040, rate: 20, seconds: 0.1, timeoutMs: 2000 });
      assert.equal(local.completed, local.attempted, `over lo: ${JSON.stringify(local)}`);
    } finally {
      gate.remove();
      await listener.stop();
    }
  });

  it('refuses addresses wider than its interface: wildcard, loopback, IPv4-mapped', () => {
    for (const [addr, why] of [['0.0.0.0', /wildcard/], ['::', /wildcard/], ['127.0.0.1', /loopback/], ['::1', /loopback/], ['::ffff:198.18.7.1', /IPv4-mapped.*198\.18\.7\.1/]] as const) {
      assert.throws(() => installGate({ netns: lab.responder, iface: lab.responderIface, addrs: [addr], ports: [7041], mark: MARK }), (e: Error) => e instanceof TypeError && why.test(e.message) && e.message.includes(addr));
    }
    assert.throws(() => installGate({ netns: lab.responder, iface: 'no such', addrs: [lab.responderV4], ports: [7041], mark: MARK }), /iface/);
    assert.equal(tables(lab), '');
  });

  it('is owned by its process (flags owner): a process killed with SIGKILL leaves no table', async () => {
    const gateModule = fileURLToPath(new URL('../../lib/gate/nftables.js', import.meta.url));
    const code = [
      `const { installGate } = await import(${JSON.stringify(gateModule)});`,
      `const g = installGate({ netns: ${JSON.stringify(lab.responder.name)}, iface: ${JSON.stringify(lab.responderIface)}, addrs: [${JSON.stringify(lab.responderV4)}], ports: [7042], mark: 1 });`,
      'console.log(`installed ${g.table} ${g.owned}`);',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = track(spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const closed = new Promise((resolve) => child.once('close', resolve));
    let owned = '';
    let listing = '';
    try {
      const line = await withTimeout(lineReader(child).next(), 10_000, 'child did not install its gate');
      const [, table, flag] = (line ?? '').split(' ');
      owned = flag;
      listing = lab.responder.exec('nft', ['list', 'table', 'inet', table]);
    } finally {
      process.kill(child.pid!, 'SIGKILL');
      await closed;
    }
    assert.equal(owned, 'true', 'made through libnftables with flags owner');
    assert.match(listing, /flags owner/);
    assert.equal(tables(lab), '', 'the kernel removed the table with its owner');
  });

  it('without an owner (the nft command, as where libnftables is missing) a SIGKILLed process leaves its table, and sweepGates removes it', async () => {
    const gateModule = fileURLToPath(new URL('../../lib/gate/nftables.js', import.meta.url));
    const code = [
      `const { installGate } = await import(${JSON.stringify(gateModule)});`,
      `const g = installGate({ netns: ${JSON.stringify(lab.responder.name)}, iface: ${JSON.stringify(lab.responderIface)}, addrs: [${JSON.stringify(lab.responderV4)}], ports: [7044], mark: 1, owner: false });`,
      'console.log(`installed ${g.table} ${g.owned}`);',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = track(spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const closed = new Promise((resolve) => child.once('close', resolve));
    let table = '';
    let owned = '';
    try {
      const line = await withTimeout(lineReader(child).next(), 10_000, 'child did not install its gate');
      [, table, owned] = (line ?? '').split(' ');
    } finally {
      process.kill(child.pid!, 'SIGKILL');
      await closed;
    }
    assert.equal(owned, 'false');
    assert.deepEqual(listGates(lab.responder).map((g) => [g.table, g.iface]), [[table, lab.responderIface]], 'a killed owner-less gate stays');
    assert.deepEqual(sweepGates({ netns: lab.responder }), [table]);
    assert.equal(tables(lab), '');
  });

  it('judges leftovers by pid, start time and PID namespace: a reused pid is stale, a live owner and another namespace are kept', () => {
    const start = processStartTime(process.pid)!;
    const pidns = ownPidNamespace();
    const deadPid = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;
    const made = {
      reused: `syncache_${process.pid}_900_s${start + 1}_ns${pidns}`,
      live: `syncache_${process.pid}_901_s${start}_ns${pidns}`,
      foreign: `syncache_${deadPid}_902_s${start}_ns${pidns + 1}`,
    };
    for (const table of Object.values(made)) {
      lab.responder.exec('nft', [`table inet ${table} { set ports { type inet_service; elements = { 7043 }; }; }`]);
    }
    try {
      assert.deepEqual(sweepGates({ netns: lab.responder }), [made.reused]);
      assert.deepEqual(listGates(lab.responder).map((g) => g.table).sort(), [made.live, made.foreign].sort());
    } finally {
      for (const table of [made.live, made.foreign]) lab.responder.exec('nft', ['delete', 'table', 'inet', table]);
    }
    assert.equal(tables(lab), '');
  });

  it('refuses a second gate over a live gate, naming its owner', () => {
    const gate = installGate({ netns: lab.responder, iface: lab.responderIface, addrs: [lab.responderV4, lab.responderV6], ports: [7010, 7011], mark: MARK });
    try {
      for (const addrs of [[lab.responderV4], [lab.responderV6]]) {
        assert.throws(
          () => installGate({ netns: lab.responder, iface: lab.responderIface, addrs, ports: [7011], mark: MARK }),
          (e: GateError) => e.code === 'EADDRINUSE' && e.message.includes(`pid ${process.pid}`) && e.message.includes('syncache cleanup'),
        );
      }
      const other = installGate({ netns: lab.responder, iface: lab.responderIface, addrs: [lab.responderV4], ports: [7012], mark: MARK });
      other.remove();
    } finally {
      gate.remove();
    }
    assert.equal(tables(lab), '');
  });

  it('validates its arguments with messages that name them', () => {
    assert.throws(() => installGate({ netns: lab.responder, iface: lab.responderIface, addrs: [], ports: [1], mark: 1 }), /addrs/);
    assert.throws(() => installGate({ netns: lab.responder, iface: lab.responderIface, addrs: ['198.18.7.300'], ports: [1], mark: 1 }), /addrs/);
    assert.throws(() => installGate({ netns: lab.responder, iface: lab.responderIface, addrs: ['198.18.7.1'], ports: [0], mark: 1 }), /ports/);
    assert.throws(() => installGate({ netns: lab.responder, iface: lab.responderIface, addrs: ['198.18.7.1'], ports: [1], mark: 0 }), /mark/);
    assert.equal(tables(lab), '');
  });

  it('sweeps gates whose owner is gone, and lets a new gate take over from one', () => {
    const deadPid = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;
    const stale = `syncache_${deadPid}_1`;
    lab.responder.exec('nft', [
      [
        `table inet ${stale} {`,
        `  set v4 { type ipv4_addr; elements = { ${lab.responderV4} }; }`,
        '  set v6 { type ipv6_addr; }',
        '  set ports { type inet_service; elements = { 7020 }; }',
        '  chain prerouting { type filter hook prerouting priority raw; policy accept;',
        '    ip daddr @v4 tcp dport @ports drop',
        '  }',
        '}',
      ].join('\n'),
    ]);
    assert.deepEqual(listGates(lab.responder).map((g) => [g.table, g.pid, g.v4, g.ports]), [[stale, deadPid, [lab.responderV4], [7020]]]);

    const live = installGate({ netns: lab.responder, iface: lab.responderIface, addrs: [lab.responderV4], ports: [7020], mark: MARK });
    assert.deepEqual(sweepGates({ netns: lab.responder }), [stale]);
    assert.deepEqual(listGates(lab.responder).map((g) => g.table), [live.table]);
    live.remove();
    assert.deepEqual(sweepGates({ netns: lab.responder }), []);
    assert.equal(tables(lab), '');
  });

  for (const how of ['exit', 'SIGTERM'] as const) {
    it(`is removed when its process ends (${how})`, async () => {
      const gateModule = fileURLToPath(new URL('../../lib/gate/nftables.js', import.meta.url));
      const code = [
        `const { installGate } = await import(${JSON.stringify(gateModule)});`,
        `installGate({ netns: ${JSON.stringify(lab.responder.name)}, iface: ${JSON.stringify(lab.responderIface)}, addrs: [${JSON.stringify(lab.responderV4)}], ports: [7030], mark: 1 });`,
        `console.log('installed');`,
        how === 'exit' ? '' : 'setInterval(() => {}, 1000);',
      ].join('\n');
      const child = track(spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] }));
      const closed = new Promise<[number | null, string | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
      assert.equal(await withTimeout(lineReader(child).next(), 10_000, 'child did not install its gate'), 'installed');
      if (how === 'SIGTERM') {
        assert.match(tables(lab), new RegExp(`syncache_${child.pid}_1`));
        process.kill(child.pid!, 'SIGTERM');
      }
      const [status, signal] = await closed;
      assert.deepEqual([status, signal], how === 'exit' ? [0, null] : [null, 'SIGTERM']);
      assert.equal(tables(lab), '');
    });
  }
});
