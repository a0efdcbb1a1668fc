#pragma once

#include <cstdint>

#include "boundary/batch.h"
#include "boundary/counters.h"
#include "pipeline/local_config.h"

namespace syncache::wire {

// Parses one Ethernet frame into row `row` of `batch`. `ringVlan` is the
// 802.1Q TCI the ring reported out of band (0 if none): with VLAN offload the
// tag is not in the frame. On success fills every field of the row except
// hash/cookie/cookieState (left for the cookie pass) and bumps one parsed*
// counter; otherwise bumps exactly one drop* counter and returns false.
bool ParseFrame(const uint8_t* frame, uint32_t length, uint16_t ringVlan,
                double timeMs, const LocalConfig& config, PacketBatch* batch,
                uint32_t row, Counters* counters);

// Where a frame's TCP segment lies when it is placed simply: Ethernet,
// untagged or with one 802.1Q tag, then IPv4 (IHL >= 5) or IPv6 without
// extension headers, protocol TCP. l4 is where the TCP header starts, end
// where the IP packet ends (l4 + 20 <= end <= length is not checked: callers
// check what they read). For quick looks that must not pay for a full parse.
struct TcpPlace {
  uint32_t l4 = 0;
  uint32_t end = 0;
  int family = 0;  // 4 or 6
};
bool LocateTcp(const uint8_t* frame, uint32_t length, TcpPlace* place);

// Completes the TCP checksum of an IPv4/IPv6 (optionally 802.1Q) frame that
// a local sender handed over with it left to the device (CHECKSUM_PARTIAL,
// e.g. over veth: the field holds only the pseudo-header sum), as the device
// would: sums from the TCP header to the end and stores the complement, so
// the parser verifies every frame alike. Frames LocateTcp cannot place are left alone.
void CompletePartialChecksum(uint8_t* frame, uint32_t length);

}  // namespace syncache::wire
