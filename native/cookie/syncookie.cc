// STUB: replaced by the cookie MAC.
#include "cookie/syncookie.h"

namespace syncache::cookie {

const uint16_t kMssTable[kMssTableSize] = {216, 536, 1200, 1360, 1400, 1440, 1452, 1460};
const uint8_t kWscaleTable[kWscaleTableSize] = {kNoWscale, 0, 1, 2, 4, 6, 7, 8};

void ProcessBatch(PacketBatch*, uint32_t, const CookieSecrets*, CookieMode, Counters*) {}

}  // namespace syncache::cookie
