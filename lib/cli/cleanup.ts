// syncache cleanup: remove what a crashed run left behind. Only tables and
// namespaces whose owning process is gone are touched (for gates: by pid,
// start time and PID namespace, see lib/gate/owner-process.ts).
import { readdirSync, existsSync } from 'node:fs';
import type { Command } from './command.js';
import { requireCapabilities } from './capabilities.js';
import { foreignGates, sweepGates } from '../gate/nftables.js';
import { NETNS_PREFIX, sweepStaleNamespaces } from '../lab/netns.js';
import { NETNS_DIR } from '../native/netns.js';

const HELP = `Usage: syncache cleanup [--json]

Removes what a crashed syncache left: nftables gate tables (inet syncache_*)
whose process is gone, in this network namespace and in every namespace named
sc-*, and lab namespaces (sc-<pid>-*) whose process is gone. Live instances
are left alone.

A gate's table names its process by pid, start time and PID namespace: a
table whose pid now belongs to another process (a different start time) is
stale; one made in another PID namespace is left to a cleanup run there.
Where libnftables is installed (Linux >= 5.12) gates are owned by their
process (nft flags owner) and the kernel removes them when it dies, so there
is normally nothing to remove.

  --json    one JSON line: {"type":"cleanup","gates":[...],"namespaces":[...],
            "keptOtherPidNamespace":[...]}
`;

export const runCleanup: Command = {
  help: HELP,
  options: { json: { type: 'boolean' } },
  async run(v) {
    requireCapabilities('syncache cleanup', [
      { capability: 'CAP_NET_ADMIN', for: 'nftables' },
      { capability: 'CAP_SYS_ADMIN', for: 'entering the lab namespaces' },
    ]);
    const gates: string[] = [];
    const kept: string[] = [];
    for (const t of sweepGates()) gates.push(t);
    for (const t of foreignGates()) kept.push(t);
    if (existsSync(NETNS_DIR)) {
      for (const name of readdirSync(NETNS_DIR)) {
        if (!name.startsWith(NETNS_PREFIX)) continue;
        try {
          for (const t of sweepGates({ netns: name })) gates.push(`${name}/${t}`);
          for (const t of foreignGates({ netns: name })) kept.push(`${name}/${t}`);
        } catch {
          // namespace vanished meanwhile
        }
      }
    }
    const namespaces = sweepStaleNamespaces();
    if (v.json === true) {
      process.stdout.write(`${JSON.stringify({ type: 'cleanup', gates, namespaces, keptOtherPidNamespace: kept })}\n`);
    } else {
      process.stdout.write(`removed ${gates.length} gate table(s)${gates.length ? `: ${gates.join(', ')}` : ''}; ` +
        `${namespaces.length} namespace(s)${namespaces.length ? `: ${namespaces.join(', ')}` : ''}\n`);
      if (kept.length > 0) {
        process.stdout.write(`kept ${kept.length} gate table(s) made in another PID namespace (run cleanup there, or nft delete table inet NAME if you know it is stale): ${kept.join(', ')}\n`);
      }
    }
    return 0;
  },
};
