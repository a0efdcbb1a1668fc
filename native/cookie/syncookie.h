#pragma once

#include <cstdint>

#include "boundary/batch.h"
#include "boundary/counters.h"
#include "boundary/secrets.h"
#include "pipeline/local_config.h"

namespace syncache::cookie {

constexpr uint32_t kMssTableSize = 8;
constexpr uint32_t kWscaleTableSize = 8;
extern const uint16_t kMssTable[kMssTableSize];
// kWscaleTable[0] means "no window scale option".
extern const uint8_t kWscaleTable[kWscaleTableSize];
constexpr uint8_t kNoWscale = 0xff;

// Runs over rows [0, count) of a received batch:
//  - every row: hash = keyed flow hash of (peer addr, local addr, ports)
//  - mode != off, kind Syn: cookie = cookie ISS for that SYN, cookieState =
//    kCookieMade
//  - mode != off, kind Ack: cookie = ack - 1; cookieState = valid/invalid;
//    when valid, mss/wscale/optFlags(SACK, MSS, WSCALE bits) hold what it
//    encodes (timestamps stay as the ACK carried them)
void ProcessBatch(PacketBatch* batch, uint32_t count, const CookieSecrets* secrets,
                  CookieMode mode, Counters* counters);

}  // namespace syncache::cookie
