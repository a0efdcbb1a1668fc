// Crafted frames from a peer namespace: Debian's python3 with python3-scapy
// (a pyenv python3 earlier on PATH may lack it), and why a test that needs
// it, and a lab, cannot run here.
import { spawnSync } from 'node:child_process';
import { labUnavailableReason } from '../../lib/lab/netns.js';

export const PYTHON = '/usr/bin/python3';

const hasScapy = spawnSync(PYTHON, ['-c', 'import scapy.all'], { stdio: 'ignore' }).status === 0;

/** Why crafted-frame tests must skip here (no lab, or no scapy), or undefined. */
export function craftedFramesUnavailableReason(): string | undefined {
  return labUnavailableReason() ?? (hasScapy ? undefined : 'scapy is not installed (apt-get install python3-scapy tcpdump)');
}
