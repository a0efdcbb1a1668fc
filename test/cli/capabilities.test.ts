// The privilege check reads the effective capabilities, not the uid: a
// non-root user given CAP_NET_RAW and CAP_NET_ADMIN as ambient capabilities
// (what systemd's AmbientCapabilities= does) runs `syncache listen`, where
// main told it to use sudo; root with those capabilities dropped is told
// which ones are missing and what each is for, per subcommand. For --io xdp
// (the XDP door) the check asks for what the kernel does, no more and no
// less: a non-root user with exactly that list runs it, and without any one
// of them the door does not open.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { vethXdpUnavailableReason } from '../../lib/lab/veth-xdp.js';
import { doorUnavailableReason } from '../../lib/door/door.js';
import { addon } from '../../lib/native/addon.js';
import { CAPABILITIES, describeNeed, effectiveCapabilities, hasCapability, lockedMemoryLimit, missing, requireCapabilities, type CapabilityName } from '../../lib/cli/capabilities.js';
import { decideIo, doorNeeds } from '../../lib/cli/io-needs.js';
import { unreadableBy } from '../../lib/handoff/split.js';
import { CLI, cliIn } from '../helpers/cli-child.js';
import { connectFrom } from '../native/ring-helpers.js';

const setprivMissing = spawnSync('setpriv', ['--version']).status === 0 ? undefined : 'setpriv (util-linux) is not installed';
// From a checkout uid 65534 cannot read (e.g. inside a 0700 home) node could not even load the CLI.
const nobodySkip = labUnavailableReason() ?? setprivMissing
  ?? unreadableBy([CLI, fileURLToPath(new URL('../../lib', import.meta.url))], 65534, 65534);
const skip = labUnavailableReason() ?? setprivMissing;
const doorSkip = nobodySkip ?? doorUnavailableReason() ?? vethXdpUnavailableReason();
let pair: PairLab;
/** A pair whose peer passes the door's XDP_TX frames on, with TX checksums done in software. */
let xdpPair: PairLab;
before(() => {
  if (!skip) pair = createPairLab('clicap', 51);
  if (!doorSkip) {
    xdpPair = createPairLab('clicapx', 86, { xdp: true });
    xdpPair.peer.exec('ethtool', ['-K', xdpPair.peerIface, 'tx', 'off']);
  }
});
after(() => { pair?.lab.destroy(); xdpPair?.lab.destroy(); });

/** setpriv: uid/gid 65534 with exactly `caps` (e.g. ['net_raw']) as ambient capabilities. */
function nobodyWith(caps: string[]): string[] {
  const set = caps.map((c) => `+${c}`).join(',');
  return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...(caps.length ? [`--inh-caps=${set}`, `--ambient-caps=${set}`] : [])];
}

/** setpriv: root without `caps` (dropped from the bounding set, so gone after exec). */
function rootWithout(caps: string[]): string[] {
  return ['setpriv', `--bounding-set=${caps.map((c) => `-${c}`).join(',')}`];
}

test('CapEff is read as a bit set: CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13', () => {
  const eff = effectiveCapabilities('Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t0000000000003000\n');
  assert.equal(eff, 0x3000n);
  assert.ok(hasCapability(eff, 'CAP_NET_ADMIN') && hasCapability(eff, 'CAP_NET_RAW'));
  assert.ok(!hasCapability(eff, 'CAP_SYS_ADMIN'));
  assert.throws(() => effectiveCapabilities('Name:\tnode\n'), /no CapEff line/);
  const needs = [
    { capability: 'CAP_NET_ADMIN', for: 'the gate' },
    { capability: 'CAP_NET_RAW', for: 'the ring' },
    { capability: 'CAP_NET_ADMIN', for: 'TCP_REPAIR' },
  ] as const;
  assert.deepEqual(missing(needs, 0x2000n), [{ capability: 'CAP_NET_ADMIN', for: 'the gate, TCP_REPAIR' }]);
  assert.doesNotThrow(() => requireCapabilities('x', needs, 0x3000n));
  assert.throws(() => requireCapabilities('syncache x', needs, 0n),
    (e: NodeJS.ErrnoException) => e.code === 'EPERM' && /^syncache x needs CAP_NET_ADMIN \(the gate, TCP_REPAIR\) and CAP_NET_RAW \(the ring\), which/.test(e.message));
});

test('a non-root user with ambient CAP_NET_RAW and CAP_NET_ADMIN runs syncache listen (gate included) and answers', { skip: nobodySkip }, async () => {
  const run = cliIn(pair.responder, ['listen', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8060', '--json', '--stats-interval', '0.2'],
    nobodyWith(['net_raw', 'net_admin']));
  try {
    await run.line(/"type":"stats"/);
    const tables = pair.responder.exec('nft', ['list', 'tables']);
    assert.match(tables, /syncache_/, 'the gate is installed by the unprivileged uid');
    assert.equal(await connectFrom(pair.peer, pair.responderV4, 8060, 8000), 'connected');
  } finally {
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
  }
});

test('a non-root user with only CAP_NET_RAW: listen names CAP_NET_ADMIN for the gate, and runs with --no-gate; serve names it for TCP_REPAIR', { skip: nobodySkip }, async () => {
  const args = ['--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8061'];
  const gated = cliIn(pair.responder, ['listen', ...args], nobodyWith(['net_raw']));
  assert.equal(await gated.exited, 1);
  assert.match(gated.stderr(), /^syncache: syncache listen needs CAP_NET_ADMIN \(the nftables gate; --no-gate goes without\), which this process does not have/);
  assert.doesNotMatch(gated.stderr(), /CAP_NET_RAW|sudo/);
  assert.equal(gated.stderr().trim().split('\n').length, 1);

  const served = cliIn(pair.responder, ['serve', ...args, '--forward', '127.0.0.1:9'], nobodyWith(['net_raw']));
  assert.equal(await served.exited, 1);
  assert.match(served.stderr(), /^syncache: syncache serve needs CAP_NET_ADMIN \(the nftables gate, TCP_REPAIR, which makes the kernel sockets\), which/);

  const ungated = cliIn(pair.responder, ['listen', ...args, '--no-gate', '--json', '--stats-interval', '0.2'], nobodyWith(['net_raw']));
  try {
    await ungated.line(/"type":"stats"/);
  } finally {
    ungated.child.kill('SIGTERM');
    assert.equal(await ungated.exited, 0, ungated.stderr());
  }
});

test('root without CAP_NET_RAW and CAP_NET_ADMIN is told both are missing, per subcommand, before anything is set up', { skip }, async () => {
  const drop = rootWithout(['net_raw', 'net_admin']);
  const listen = cliIn(pair.responder, ['listen', '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8062'], drop);
  assert.equal(await listen.exited, 1);
  assert.match(listen.stderr(), /^syncache: syncache listen needs CAP_NET_RAW \(the packet ring\) and CAP_NET_ADMIN \(the nftables gate; --no-gate goes without\), which this process does not have: run it as root, or grant them/);
  assert.equal(listen.stderr().trim().split('\n').length, 1);

  const lab = cliIn(pair.responder, ['lab', '--seconds', '1'], drop);
  assert.equal(await lab.exited, 1);
  assert.match(lab.stderr(), /^syncache: syncache lab needs CAP_NET_ADMIN \(links, addresses and the gate\) and CAP_NET_RAW \(the packet ring and the generator\)/);
  assert.doesNotMatch(lab.stderr(), /CAP_SYS_ADMIN/, 'root still has CAP_SYS_ADMIN');

  const noSysAdmin = cliIn(pair.responder, ['listen', '--netns', pair.responder.name, '--iface', pair.responderIface, '--addr', pair.responderV4, '--port', '8062'], rootWithout(['sys_admin']));
  assert.equal(await noSysAdmin.exited, 1);
  assert.match(noSysAdmin.stderr(), /needs CAP_SYS_ADMIN \(--netns, entering the namespace\)/);
  assert.equal(pair.responder.exec('nft', ['list', 'tables']).trim(), '', 'nothing was set up');
});

/** setpriv's name of a capability: CAP_NET_RAW -> net_raw. */
const setprivName = (c: CapabilityName): string => c.slice(4).toLowerCase();

test('the door\'s needs: CAP_BPF and CAP_PERFMON, each or CAP_SYS_ADMIN; CAP_IPC_LOCK only below the ring\'s size; auto decides from them', () => {
  // linux/capability.h
  assert.deepEqual([CAPABILITIES.CAP_IPC_LOCK, CAPABILITIES.CAP_PERFMON, CAPABILITIES.CAP_BPF], [14, 38, 39]);
  const bit = (...names: CapabilityName[]): bigint => names.reduce((m, n) => m | (1n << BigInt(CAPABILITIES[n])), 0n);
  const ring = addon.constants.xdpUmemBytes;
  assert.ok(ring >= 2 ** 20 && Number.isInteger(ring), `the AF_XDP ring's size comes from the addon: ${ring}`);
  const big = doorNeeds(Infinity);
  assert.deepEqual(big.map((n) => n.capability), ['CAP_NET_RAW', 'CAP_NET_ADMIN', 'CAP_BPF', 'CAP_PERFMON']);
  assert.deepEqual(doorNeeds(ring).map((n) => n.capability), big.map((n) => n.capability), 'a limit of exactly the ring will do');
  const small = doorNeeds(8 * 2 ** 20);
  assert.equal(small.at(-1)?.capability, 'CAP_IPC_LOCK');
  assert.match(describeNeed(small.at(-1)!), /^CAP_IPC_LOCK \(pinning the AF_XDP ring's \d+ MiB, over RLIMIT_MEMLOCK's 8 MiB: or raise that limit, e\.g\. systemd LimitMEMLOCK=\)$/);

  const netOnly = bit('CAP_NET_RAW', 'CAP_NET_ADMIN');
  assert.deepEqual(missing(big, netOnly).map(describeNeed), [
    'CAP_BPF or CAP_SYS_ADMIN (loading the door\'s BPF program)',
    'CAP_PERFMON or CAP_SYS_ADMIN (the verifier passes the door\'s packet pointer arithmetic only with it)',
  ]);
  assert.deepEqual(missing(big, netOnly | bit('CAP_SYS_ADMIN')), [], 'CAP_SYS_ADMIN stands for both');
  assert.deepEqual(missing(big, netOnly | bit('CAP_BPF', 'CAP_PERFMON')), []);
  assert.throws(() => requireCapabilities('syncache listen', small, netOnly | bit('CAP_BPF')),
    /syncache listen needs CAP_PERFMON or CAP_SYS_ADMIN \(the verifier .*\) and CAP_IPC_LOCK \(pinning/);

  assert.equal(lockedMemoryLimit('Max locked memory         8388608              8388608              bytes\n'), 8388608);
  assert.equal(lockedMemoryLimit('Max locked memory         unlimited            unlimited            bytes\n'), Infinity);
  assert.throws(() => lockedMemoryLimit('Max open files 1024 1024 files\n'), /no "Max locked memory" line/);

  const every = netOnly | bit('CAP_BPF', 'CAP_PERFMON', 'CAP_IPC_LOCK');
  const no = (): undefined => undefined;
  assert.deepEqual(decideIo('packet', no, 0n), { io: 'packet', path: 'packet' });
  assert.deepEqual(decideIo('xdp', no, 0n), { io: 'xdp', path: 'xdp' }, 'xdp as asked: the capability check says what is missing');
  assert.deepEqual(decideIo('auto', no, every, 0), { io: 'auto', path: 'xdp' });
  const refusal = "the door gives each worker a receive queue of its own and eth0 has 1: use workers 1 or fewer, set the queues (ethtool -L eth0 combined 2) or use io 'packet'";
  assert.deepEqual(decideIo('auto', () => refusal, every, 0),
    { io: 'auto', path: 'packet', why: refusal }, 'the Responder falls back on its own');
  const lacking = decideIo('auto', no, netOnly, Infinity);
  assert.equal(lacking.io, 'packet', 'the door would not load: the packet path, not a failure');
  assert.match(lacking.why ?? '', /^the door needs CAP_BPF or CAP_SYS_ADMIN \(.*\) and CAP_PERFMON or CAP_SYS_ADMIN \(.*\), which this process does not have$/);
});

/** Opens a Responder with io 'xdp' in the xdp pair's responder namespace as uid 65534 with `caps`: 'opened' or the error's code and message. */
function openDoorAs(caps: string[]): string {
  const responder = new URL('../../lib/responder/responder.js', import.meta.url).href;
  const script = `
    const { Responder } = await import(${JSON.stringify(responder)});
    try {
      const r = await Responder.open({ iface: ${JSON.stringify(xdpPair.responderIface)}, addrs: [${JSON.stringify(xdpPair.responderV4)}], ports: [8064], io: 'xdp' });
      console.log('opened', r.backend);
      await r.close();
    } catch (e) { console.log(e.code, e.message.split('\\n')[0]); }`;
  const [cmd, args] = xdpPair.responder.wrap('setpriv', [...nobodyWith(caps).slice(1), process.execPath, '--input-type=module', '-e', script]);
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return `${r.stdout}${r.stderr}`.trim();
}

test('--io xdp asks for what the kernel asks: with every capability the check names the door opens as a non-root user, without any one of them it does not', { skip: doorSkip }, () => {
  const needs = doorNeeds(lockedMemoryLimit());
  const all = [...new Set(needs.map((n) => setprivName(n.capability)))];
  assert.match(openDoorAs(all), /^opened xdp$/, `with ${all.join(', ')}`);
  for (const need of needs) {
    const without = all.filter((c) => c !== setprivName(need.capability));
    const out = openDoorAs(without);
    assert.match(out, /^(EPERM|EACCES|ENOBUFS) /, `without ${need.capability} (${need.for}): ${out}`);
  }
});

test('a non-root user with exactly the door\'s capabilities runs listen --io xdp; with only CAP_NET_RAW and CAP_NET_ADMIN --io xdp names the rest, --io auto takes the packet path', { skip: doorSkip }, async () => {
  const args = ['--iface', xdpPair.responderIface, '--addr', xdpPair.responderV4, '--port', '8065'];
  const caps = [...new Set(doorNeeds(lockedMemoryLimit()).map((n) => setprivName(n.capability)))];
  const run = cliIn(xdpPair.responder, ['listen', ...args, '--io', 'xdp', '--json', '--stats-interval', '0.2'], nobodyWith(caps));
  try {
    const stats = JSON.parse(await run.line(/"type":"stats"/)) as { io: string; backend: string };
    assert.deepEqual([stats.io, stats.backend], ['xdp', 'xdp']);
    assert.equal(await connectFrom(xdpPair.peer, xdpPair.responderV4, 8065, 8000), 'connected');
  } finally {
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
  }
  assert.equal(run.stderr(), '', 'no warning');

  const refused = cliIn(xdpPair.responder, ['listen', ...args, '--io', 'xdp'], nobodyWith(['net_raw', 'net_admin']));
  assert.equal(await refused.exited, 1);
  assert.match(refused.stderr(), /^syncache: syncache listen needs CAP_BPF or CAP_SYS_ADMIN \(loading the door's BPF program\)(,| and) CAP_PERFMON or CAP_SYS_ADMIN \(the verifier/);
  if (lockedMemoryLimit() < addon.constants.xdpUmemBytes) assert.match(refused.stderr(), /and CAP_IPC_LOCK \(pinning the AF_XDP ring's/);
  assert.doesNotMatch(refused.stderr(), /CAP_NET_RAW \(|CAP_NET_ADMIN \(/, 'it has those');
  assert.equal(refused.stderr().trim().split('\n').length, 1, refused.stderr());
  assert.doesNotMatch(xdpPair.responder.ip(['link', 'show', 'dev', xdpPair.responderIface]), /prog\/xdp/, 'nothing was attached');

  const auto = cliIn(xdpPair.responder, ['listen', ...args, '--io', 'auto', '--json', '--stats-interval', '0.2'], nobodyWith(['net_raw', 'net_admin']));
  try {
    const stats = JSON.parse(await auto.line(/"type":"stats"/)) as { io: string; backend: string };
    assert.deepEqual([stats.io, stats.backend], ['packet', 'packet'], 'auto decided on the packet path, and opened it so');
    assert.match(auto.stderr(), /^syncache: warning: --io auto takes the packet path: the door needs CAP_BPF or CAP_SYS_ADMIN .*, which this process does not have\n$/);
    assert.match(xdpPair.responder.exec('nft', ['list', 'tables']), /syncache_/, 'the packet path\'s gate');
  } finally {
    auto.child.kill('SIGTERM');
    assert.equal(await auto.exited, 0, auto.stderr());
  }
});
