// The privilege check reads the effective capabilities, not the uid: a
// non-root user given CAP_NET_RAW and CAP_NET_ADMIN as ambient capabilities
// (what systemd's AmbientCapabilities= does) runs `syncache listen`, where
// main told it to use sudo; root with those capabilities dropped is told
// which ones are missing and what each is for, per subcommand.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPairLab, labUnavailableReason, type PairLab } from '../../lib/lab/netns.js';
import { effectiveCapabilities, hasCapability, missing, requireCapabilities } from '../../lib/cli/capabilities.js';
import { unreadableBy } from '../../lib/handoff/split.js';
import { CLI, cliIn } from '../helpers/cli-child.js';

const setprivMissing = spawnSync('setpriv', ['--version']).status === 0 ? undefined : 'setpriv (util-linux) is not installed';
// From a checkout uid 65534 cannot read (e.g. inside a 0700 home) node could not even load the CLI.
const nobodySkip = labUnavailableReason() ?? setprivMissing
  ?? unreadableBy([CLI, fileURLToPath(new URL('../../lib', import.meta.url))], 65534, 65534);
const skip = labUnavailableReason() ?? setprivMissing;
let pair: PairLab;
before(() => { if (!skip) pair = createPairLab('clicap', 51); });
after(() => pair?.lab.destroy());

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
    const r = pair.peer.exec(process.execPath, ['-e', `
      require('net').connect({ host: ${JSON.stringify(pair.responderV4)}, port: 8060 })
        .on('connect', function () { console.log('connected'); this.destroy(); })
        .on('error', (e) => console.log(e.code));
    `]);
    assert.equal(r.trim(), 'connected');
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
