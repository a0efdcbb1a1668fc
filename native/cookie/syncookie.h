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

// The 8 state bits in the low byte of a cookie ISS (drawn in syncookie.cc).
constexpr uint32_t kCookieMacShift = 8;      // bits 31..8: 24-bit MAC
constexpr uint32_t kCookieSelectorShift = 7; // bit 7: secret slot
constexpr uint32_t kCookieSackShift = 6;     // bit 6: SACK permitted
constexpr uint32_t kCookieWscaleShift = 3;   // bits 5..3: kWscaleTable index
constexpr uint32_t kCookieMssShift = 0;      // bits 2..0: kMssTable index
constexpr uint32_t kCookieIndexMask = 7;

// MSS assumed for a SYN without an MSS option (RFC 9293 3.7.1).
constexpr uint16_t kDefaultMssV4 = 536;
constexpr uint16_t kDefaultMssV6 = 1220;

// Runs over rows [0, count) of a received batch:
//  - every row: hash = keyed flow hash of (peer addr, local addr, ports,
//    family); cookieState = kCookieNotChecked unless set below
//  - mode != off, kind Syn: cookie = cookie ISS for that SYN, cookieState =
//    kCookieMade (cookiesMade); if the active secret slot is invalid or
//    being rewritten, no cookie (cookiesNoSecret)
//  - mode != off, kind Ack: cookie = ack - 1, client ISN = seq - 1;
//    cookieState = valid/invalid (cookiesChecked + cookiesValid/Invalid);
//    when valid, mss/wscale/optFlags(SACK, MSS, WSCALE bits) hold what it
//    encodes (timestamps stay as the ACK carried them)
// `counters` must not be null; `secrets` may be (then no cookies).
void ProcessBatch(PacketBatch* batch, uint32_t count, const CookieSecrets* secrets,
                  CookieMode mode, Counters* counters);

}  // namespace syncache::cookie
