// STUB: replaced by the wire parser.
#include "wire/parse.h"

namespace syncache::wire {

bool ParseFrame(const uint8_t*, uint32_t, uint16_t, double, const LocalConfig&,
                PacketBatch*, uint32_t, Counters* counters) {
  counters->Bump(kCounter_dropNotIp);
  return false;
}

}  // namespace syncache::wire
