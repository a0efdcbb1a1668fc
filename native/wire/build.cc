// STUB: replaced by the wire builder.
#include "wire/build.h"

namespace syncache::wire {

uint32_t BuildFrame(const PacketBatch&, uint32_t, const uint8_t*, uint8_t*, uint32_t,
                    Counters* counters) {
  counters->Bump(kCounter_txBadRow);
  return 0;
}

}  // namespace syncache::wire
