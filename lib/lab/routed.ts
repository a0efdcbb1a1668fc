// A segment with a router on it, for tests of where replies go:
//
//   responder  scr0 198.18.S.1   / 2001:db8:S::1   ┐
//   peer       scp0 198.18.S.2   / 2001:db8:S::2   ├ scbr0 (switch namespace)
//   owner      sco0 198.18.S.3   / 2001:db8:S::3   │
//   gateway    scg0 198.18.S.254 / 2001:db8:S::fe  ┘
//   ingress    scl0 198.18.S.253 / 2001:db8:S::fd  ┘ (also a switch port)
//   gateway    scg1 198.19.S.1   / 2001:db8:ffS::1 ── remote scm0 198.19.S.2, .3 / 2001:db8:ffS::2, ::3
//   ingress    scl1 198.18.S+1.1 / 2001:db8:S+1::1 ── remote scm1 198.18.S+1.2 / 2001:db8:S+1::2
//
// The responder reaches the far network (198.19.S.0/24, 2001:db8:ffS::/64)
// through the gateway, which forwards both ways; the remote host's default
// route is the gateway. From its second address (.3 / ::3) the remote host
// reaches the segment through `ingress` instead, a router that forwards
// towards the segment only (it has no route back, as a direct-server-return
// load balancer): replies to that address must take the responder's route,
// through the gateway. The peer and the owner are plain hosts on the segment
// (the peer plays the attacker that spoofs the owner's or a far address).
// S is the subnet number (hex in IPv6); the ingress link uses S+1. Everything
// lives in namespaces of this run (lib/lab/netns.ts) and goes with them.
import { Namespace, NetnsLab } from './netns.js';

export interface RoutedHost {
  ns: Namespace;
  iface: string;
  mac: Uint8Array;
  v4: string;
  v6: string;
}

export interface RoutedLab {
  lab: NetnsLab;
  /** The switch (bridge scbr0); the responder's port on it is scsr0. */
  switchNs: Namespace;
  responder: RoutedHost;
  peer: RoutedHost;
  owner: RoutedHost;
  /** The gateway's side on the segment. */
  gateway: RoutedHost;
  /** The ingress-only router's side on the segment. */
  ingress: RoutedHost;
  remote: RoutedHost;
  /** The remote host's address whose packets to the segment go through `ingress`. */
  remoteViaIngressV4: string;
  remoteViaIngressV6: string;
  /** The far network, through the gateway. */
  farV4: string;
  farV6: string;
  /** An address in the far network that no host has. */
  farUnusedV4: string;
  farUnusedV6: string;
}

export function createRoutedLab(tag: string, subnet: number): RoutedLab {
  if (!Number.isInteger(subnet) || subnet < 0 || subnet > 254) throw new RangeError(`subnet must be 0-255, got ${subnet}`);
  const lab = new NetnsLab(tag);
  try {
    const hex = subnet.toString(16);
    const near4 = (n: number) => `198.18.${subnet}.${n}`;
    const near6 = (n: number) => `2001:db8:${hex}::${n.toString(16)}`;
    const far4 = (n: number) => `198.19.${subnet}.${n}`;
    const far6 = (n: number) => `2001:db8:ff${hex}::${n.toString(16)}`;
    const sw = lab.add('sw');
    sw.ip(['link', 'add', 'scbr0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
    sw.ip(['link', 'set', 'scbr0', 'up']);

    const quiet = (ns: Namespace) => {
      ns.sysctl('net.ipv6.conf.all.accept_dad', 0);
      ns.sysctl('net.ipv6.conf.default.accept_dad', 0);
      ns.sysctl('net.ipv6.conf.all.accept_ra', 0);
      ns.sysctl('net.ipv6.conf.default.accept_ra', 0);
      ns.sysctl('net.ipv6.conf.default.router_solicitations', 0);
    };
    const onSegment = (role: string, iface: string, port: string, v4: string, v6: string): RoutedHost => {
      const ns = lab.add(role);
      quiet(ns);
      lab.link(ns, iface, sw, port);
      sw.ip(['link', 'set', port, 'master', 'scbr0']);
      ns.ip(['addr', 'add', `${v4}/24`, 'dev', iface]);
      ns.ip(['-6', 'addr', 'add', `${v6}/64`, 'dev', iface, 'nodad']);
      return { ns, iface, mac: ns.macOf(iface), v4, v6 };
    };
    const responder = onSegment('r', 'scr0', 'scsr0', near4(1), near6(1));
    const peer = onSegment('p', 'scp0', 'scsp0', near4(2), near6(2));
    const owner = onSegment('o', 'sco0', 'scso0', near4(3), near6(3));
    const gateway = onSegment('g', 'scg0', 'scsg0', near4(254), near6(254));
    const ingress = onSegment('l', 'scl0', 'scsl0', near4(253), near6(253));

    const remoteNs = lab.add('m');
    quiet(remoteNs);
    lab.link(gateway.ns, 'scg1', remoteNs, 'scm0');
    gateway.ns.ip(['addr', 'add', `${far4(1)}/24`, 'dev', 'scg1']);
    gateway.ns.ip(['-6', 'addr', 'add', `${far6(1)}/64`, 'dev', 'scg1', 'nodad']);
    gateway.ns.sysctl('net.ipv4.ip_forward', 1);
    gateway.ns.sysctl('net.ipv6.conf.all.forwarding', 1);
    remoteNs.ip(['addr', 'add', `${far4(2)}/24`, 'dev', 'scm0']);
    remoteNs.ip(['-6', 'addr', 'add', `${far6(2)}/64`, 'dev', 'scm0', 'nodad']);
    remoteNs.ip(['route', 'add', 'default', 'via', far4(1)]);
    remoteNs.ip(['-6', 'route', 'add', 'default', 'via', far6(1)]);
    const remote: RoutedHost = { ns: remoteNs, iface: 'scm0', mac: remoteNs.macOf('scm0'), v4: far4(2), v6: far6(2) };

    const link4 = (n: number) => `198.18.${subnet + 1}.${n}`;
    const link6 = (n: number) => `2001:db8:${(subnet + 1).toString(16)}::${n}`;
    lab.link(ingress.ns, 'scl1', remoteNs, 'scm1');
    ingress.ns.ip(['addr', 'add', `${link4(1)}/24`, 'dev', 'scl1']);
    ingress.ns.ip(['-6', 'addr', 'add', `${link6(1)}/64`, 'dev', 'scl1', 'nodad']);
    ingress.ns.sysctl('net.ipv4.ip_forward', 1);
    ingress.ns.sysctl('net.ipv6.conf.all.forwarding', 1);
    ingress.ns.sysctl('net.ipv4.conf.all.rp_filter', 0);
    ingress.ns.sysctl('net.ipv4.conf.scl1.rp_filter', 0);
    remoteNs.ip(['addr', 'add', `${link4(2)}/24`, 'dev', 'scm1']);
    remoteNs.ip(['-6', 'addr', 'add', `${link6(2)}/64`, 'dev', 'scm1', 'nodad']);
    remoteNs.ip(['addr', 'add', `${far4(3)}/24`, 'dev', 'scm0']);
    remoteNs.ip(['-6', 'addr', 'add', `${far6(3)}/64`, 'dev', 'scm0', 'nodad']);
    remoteNs.ip(['rule', 'add', 'from', far4(3), 'table', '100']);
    remoteNs.ip(['route', 'add', near4(0) + '/24', 'via', link4(1), 'table', '100']);
    remoteNs.ip(['-6', 'rule', 'add', 'from', far6(3), 'table', '100']);
    remoteNs.ip(['-6', 'route', 'add', `2001:db8:${hex}::/64`, 'via', link6(1), 'table', '100']);

    const farV4 = `198.19.${subnet}.0/24`;
    const farV6 = `2001:db8:ff${hex}::/64`;
    responder.ns.ip(['route', 'add', farV4, 'via', gateway.v4, 'dev', responder.iface]);
    responder.ns.ip(['-6', 'route', 'add', farV6, 'via', gateway.v6, 'dev', responder.iface]);
    return {
      switchNs: sw,
      lab, responder, peer, owner, gateway, ingress, remote, farV4, farV6,
      farUnusedV4: far4(99), farUnusedV6: far6(0x99), remoteViaIngressV4: far4(3), remoteViaIngressV6: far6(3),
    };
  } catch (error) {
    lab.destroy();
    throw error;
  }
}
