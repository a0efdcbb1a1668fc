// Classic BPF programs attached to our packet sockets before bind, so the
// kernel hands the ring only what the responder wants.
//
// Responder filter, for the configured addresses A and ports P (frames sent
// to another host's MAC, PACKET_OTHERHOST, are rejected first):
//   accept  IPv4 TCP  to A, dport in P (non-first fragments rejected)
//   accept  IPv4 ICMP type 3 (unreachable) to A
//   accept  IPv6 TCP  to A, dport in P
//   accept  IPv6 ICMPv6 type 1 (unreachable) to A
//   accept  IPv6 to A whose next header is an extension header (hop-by-hop,
//           routing, fragment, destination options): the parser walks them
//   reject  everything else.
// Frames are seen with the 802.1Q tag either out of band (VLAN offload: the
// frame looks untagged, L3 at 14) or in band (ethertype 0x8100, L3 at 18);
// the program has one body per case, so all loads are absolute and the VLAN
// id is not checked. Classic BPF jumps are forward and at most 255 apart, so
// each body ends with its own accept/reject and the dispatch jumps through
// `ja` trampolines; a configuration too large for that is refused.
//
// Fanout steering (PACKET_FANOUT_CBPF; the kernel takes the result modulo
// the group's size): a hash of the flow that is the same for both of its
// directions (XOR of the addresses and of the ports, then Fibonacci-mixed),
// so a flow's segments reach one shard, as with PACKET_FANOUT_HASH; but an
// ICMP error (IPv4 type 3, 11, 12; ICMPv6 type 1-4) is hashed by the packet
// it quotes - our SYN-ACK, whose flow is the same 4-tuple - and so reaches
// the shard that holds that flow's entry, where the kernel's hash would
// take the ICMP packet's own addresses (the router's or the peer's) and
// send it to any shard. IPv6 with extension headers is hashed as if the
// transport header followed the fixed one (its ports are then noise, but
// the same noise for every segment with that chain).
#pragma once

#include <linux/filter.h>

#include <array>
#include <cstdint>
#include <vector>

#include "pipeline/local_config.h"

namespace syncache {

// Returns false if the configuration does not fit a classic BPF program.
bool BuildResponderFilter(const LocalConfig& config, std::vector<sock_filter>* out);

bool BuildFanoutSteering(std::vector<sock_filter>* out);

}  // namespace syncache
