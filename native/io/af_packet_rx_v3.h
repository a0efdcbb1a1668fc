// AF_PACKET RX as TPACKET_V3 (io/tpacket_ring.h TpacketV3Ring): blocks of
// frames, retired when full or after retireMs. Batches best under a flood.
#pragma once

#include <linux/if_packet.h>

#include <cstdint>
#include <utility>

#include "io/af_packet_rx.h"
#include "io/tpacket_ring.h"

namespace syncache {

class AfPacketRxV3 final : public AfPacketRx {
 public:
  AfPacketRxV3() : AfPacketRx(TPACKET_V3) {}

  // visit(frame, length, vlanTci, timeMs) -> accepted, until maxAccepted
  // were accepted (see TpacketV3Ring::Receive).
  template <typename Visit>
  uint32_t Receive(uint32_t maxAccepted, Counters* counters, Visit&& visit) {
    return ring_.Receive(maxAccepted, counters, std::forward<Visit>(visit));
  }

  uint32_t Receive(BatchFill& fill, Counters* counters) override {
    return ring_.Receive(fill.capacity(), counters, fill);
  }
  bool Waiting() const override { return ring_.Waiting(); }

 private:
  void Attach(uint8_t* map) override { ring_.Attach(map, blockSize_, blockCount_); }

  TpacketV3Ring ring_;
};

}  // namespace syncache
