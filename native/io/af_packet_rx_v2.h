// AF_PACKET RX as TPACKET_V2 (io/tpacket_ring.h TpacketV2Ring): slots of
// 2 KiB, each readable the moment it lands, and a look ahead
// (RxLookAhead). For handing connections over.
#pragma once

#include <linux/if_packet.h>

#include <cstdint>

#include "io/af_packet_rx.h"
#include "io/tpacket_ring.h"

namespace syncache {

class AfPacketRxV2 final : public AfPacketRx, public RxLookAhead {
 public:
  AfPacketRxV2() : AfPacketRx(TPACKET_V2) {}
  static_assert(TpacketV2Ring::kSlotSize == afpacket::kRxFrameSize, "a V2 slot is the ring's frame size");

  uint32_t Receive(BatchFill& fill, Counters* counters) override {
    return ring_.Receive(fill.capacity(), counters, fill);
  }
  bool Waiting() const override { return ring_.Waiting(); }
  RxLookAhead* lookAhead() override { return this; }
  uint32_t ReceiveUrgent(BatchFill& fill, Counters* counters) override {
    return ring_.ReceiveUrgent(fill.capacity(), counters, IsUrgentSegment, fill);
  }
  int64_t Peek(int64_t start, PeekSerializer& peek) override { return ring_.Peek(start, peek); }
  uint32_t SkipLeading(HandedOverSkip& skip, Counters* counters) override { return ring_.SkipLeading(counters, skip); }

 private:
  void Attach(uint8_t* map) override { ring_.Attach(map, frameCount_); }

  TpacketV2Ring ring_;
};

}  // namespace syncache
