#pragma once

#include <cstdint>

#include "boundary/batch.h"
#include "boundary/counters.h"

namespace syncache::wire {

// Largest frame Build writes: Ethernet + 802.1Q + IPv6 + TCP with options.
constexpr uint32_t kMaxBuiltFrame = 14 + 4 + 40 + 60;

// Builds the frame for send row `row` (kind SynAck, SendRst or SendAck) into
// `out`, with `srcMac` as the Ethernet source and the row's mac as the
// destination. Options written: SYN-ACK: MSS, SACK-permitted, window scale and
// timestamps as the row's optFlags say; ACK and RST: timestamps if flagged.
// Returns the frame length, or 0 (bumping txBadRow) if the row is not
// buildable or `capacity` is too small.
uint32_t BuildFrame(const PacketBatch& batch, uint32_t row, const uint8_t srcMac[6],
                    uint8_t* out, uint32_t capacity, Counters* counters);

}  // namespace syncache::wire
