// The flood generator's reply counter: a classic BPF program that passes
// IPv4 TCP segments from fromAddr:fromPort to toNet/toMask with SYN and ACK
// set (any VLAN layout, as io/bpf_asm.h dispatches), snapped to 128 bytes.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <vector>

namespace syncache {

// Addresses in network byte order, port in host order.
bool BuildSynAckCounterFilter(uint32_t fromAddr, uint16_t fromPort, uint32_t toNet,
                              uint32_t toMask, std::vector<sock_filter>* out);

}  // namespace syncache
