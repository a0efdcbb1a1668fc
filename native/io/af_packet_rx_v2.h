// AF_PACKET RX as TPACKET_V2: fixed slots of 2 KiB, each readable the moment
// the kernel has written it (its tp_status has TP_STATUS_USER), where a V3
// block waits to fill or retire. For handing connections over: besides
// Receive in slot order it can look ahead (RxLookAhead): take the frames
// that must not wait behind a flood of SYNs out of their turn, look at
// waiting frames without taking them, and take the frames at the head that
// are only a handed-over flow's.
#pragma once

#include <linux/if_packet.h>

#include <cstdint>

#include "io/af_packet_rx.h"

namespace syncache {

class AfPacketRxV2 final : public AfPacketRx, public RxLookAhead {
 public:
  AfPacketRxV2() : AfPacketRx(TPACKET_V2) {}

  // As AfPacketRxV3::Receive: visit(frame, length, vlanTci, timeMs) ->
  // accepted, until `maxAccepted` were accepted. Skips the slots
  // ReceiveUrgent took.
  template <typename Visit>
  uint32_t Receive(uint32_t maxAccepted, Counters* counters, Visit&& visit);

  // Takes, ahead of their turn, the waiting frames `urgent(frame, length)`
  // picks, calling visit for each, until `maxAccepted` were accepted; their
  // slots are marked so Receive skips them and hands them back in order.
  // Each call looks on from where the last one stopped, so a backlog is
  // looked at once.
  template <typename Urgent, typename Visit>
  uint32_t ReceiveUrgent(uint32_t maxAccepted, Counters* counters, Urgent urgent, Visit&& visit);

  // Looks at the frames the kernel has handed over without taking them
  // (Receive still reads each one later), from slot `start` on (-1: from the
  // read cursor), calling visit for each. Returns the slot after the last
  // one looked at, for the next call to start from (valid while nothing is
  // received in between). A frame whose checksum was left to the device is
  // completed here, and its status says so, so Receive does not complete it
  // twice.
  template <typename Visit>
  int64_t Peek(int64_t start, Visit&& visit);

  // Takes the waiting frames from the read cursor on for as long as
  // `skip(frame, length, vlanTci, timeMs)` says they are nothing to
  // Receive's caller (and the slots ReceiveUrgent took already, and frames
  // with bad offsets, as Receive would), stopping at the first other frame,
  // which stays for Receive. Returns the frames taken.
  template <typename Skip>
  uint32_t SkipLeading(Counters* counters, Skip&& skip);

  uint32_t Receive(BatchFill& fill, Counters* counters) override {
    return Receive(fill.capacity(), counters, fill);
  }
  bool Waiting() const override {
    return map_ != nullptr && (__atomic_load_n(&Slot(frame_)->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
  }
  RxLookAhead* lookAhead() override { return this; }
  uint32_t ReceiveUrgent(BatchFill& fill, Counters* counters) override {
    return ReceiveUrgent(fill.capacity(), counters, IsUrgentSegment, fill);
  }
  int64_t Peek(int64_t start, PeekSerializer& peek) override { return Peek<PeekSerializer&>(start, peek); }
  uint32_t SkipLeading(HandedOverSkip& skip, Counters* counters) override {
    return SkipLeading<HandedOverSkip&>(counters, skip);
  }

 private:
  void ResetCursor() override {
    frame_ = 0;
    consumed_ = 0;
    urgentLooked_ = 0;
  }
  // A slot's header, and its frame (nullptr if the kernel's offsets would
  // take us outside the slot).
  tpacket2_hdr* Slot(uint32_t i) const {
    return reinterpret_cast<tpacket2_hdr*>(map_ + static_cast<size_t>(i) * kFrameSize);
  }
  uint8_t* FrameIn(tpacket2_hdr* hdr) const {
    const uint64_t end = static_cast<uint64_t>(hdr->tp_mac) + hdr->tp_snaplen;
    if (hdr->tp_mac < sizeof(tpacket2_hdr) || end > kFrameSize) return nullptr;
    return reinterpret_cast<uint8_t*>(hdr) + hdr->tp_mac;
  }
  // Deliver for a frame that may stay in the ring (TP_STATUS_USER): its
  // status then says the checksum is done, so it is not completed twice.
  template <typename Visit>
  static bool DeliverInPlace(tpacket2_hdr* hdr, uint32_t status, uint8_t* frame, Visit& visit) {
    const bool result = Deliver(hdr, status, hdr->tp_vlan_tci, frame, visit);
    if (status & TP_STATUS_CSUMNOTREADY) {
      __atomic_store_n(&hdr->tp_status, status & ~static_cast<uint32_t>(TP_STATUS_CSUMNOTREADY), __ATOMIC_RELAXED);
    }
    return result;
  }
  // The slot at the cursor goes back to the kernel.
  void GiveBack(tpacket2_hdr* hdr) {
    __atomic_store_n(&hdr->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    frame_ = (frame_ + 1) % frameCount_;
    consumed_++;
  }

  // A mark in tp_status of a slot we own (bit unused by the kernel for RX):
  // ReceiveUrgent took this frame.
  static constexpr uint32_t kTakenEarly = 1u << 30;
  uint32_t frame_ = 0;  // the read cursor
  // Slots Receive has handed back so far, and how far ReceiveUrgent has
  // looked (both counted from the ring's opening).
  uint64_t consumed_ = 0;
  uint64_t urgentLooked_ = 0;
};

template <typename Visit>
uint32_t AfPacketRxV2::Receive(uint32_t maxAccepted, Counters* counters, Visit&& visit) {
  uint32_t accepted = 0;
  if (map_ == nullptr) return 0;
  // One frame slot after another; TP_STATUS_USER says the kernel is done.
  bool any = false;
  while (accepted < maxAccepted) {
    tpacket2_hdr* hdr = Slot(frame_);
    const uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    any = true;
    uint8_t* frame = FrameIn(hdr);
    if (status & kTakenEarly) {
      // ReceiveUrgent had it (and counted it).
    } else if (frame == nullptr) {
      counters->Bump(kCounter_rxBadFrame);
    } else if (Truncated(hdr)) {
      counters->Bump(kCounter_truncatedFrames);
    } else {
      counters->Bump(kCounter_rxFrames);
      if (Deliver(hdr, status, hdr->tp_vlan_tci, frame, visit)) accepted++;
    }
    GiveBack(hdr);
  }
  if (any) counters->Bump(kCounter_rxBlocks);
  if (accepted == maxAccepted) counters->Bump(kCounter_rxBatchFull);
  return accepted;
}

template <typename Skip>
uint32_t AfPacketRxV2::SkipLeading(Counters* counters, Skip&& skip) {
  if (map_ == nullptr) return 0;
  uint32_t taken = 0;
  for (;;) {
    tpacket2_hdr* hdr = Slot(frame_);
    const uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    uint8_t* frame = FrameIn(hdr);
    if (status & kTakenEarly) {
      // ReceiveUrgent had it (and counted it).
    } else if (frame == nullptr) {
      counters->Bump(kCounter_rxBadFrame);
    } else if (Truncated(hdr)) {
      break;  // stays, for Receive to count
    } else {
      if (!DeliverInPlace(hdr, status, frame, skip)) break;  // stays, for Receive
      counters->Bump(kCounter_rxFrames);
    }
    GiveBack(hdr);
    taken++;
  }
  return taken;
}

template <typename Urgent, typename Visit>
uint32_t AfPacketRxV2::ReceiveUrgent(uint32_t maxAccepted, Counters* counters, Urgent urgent, Visit&& visit) {
  if (map_ == nullptr) return 0;
  if (urgentLooked_ < consumed_) urgentLooked_ = consumed_;
  uint32_t accepted = 0;
  while (accepted < maxAccepted && urgentLooked_ - consumed_ < frameCount_) {
    const uint32_t slot = static_cast<uint32_t>(urgentLooked_ % frameCount_);
    tpacket2_hdr* hdr = Slot(slot);
    const uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    urgentLooked_++;
    uint8_t* frame = FrameIn(hdr);
    if ((status & kTakenEarly) || frame == nullptr || Truncated(hdr) || !urgent(frame, hdr->tp_snaplen)) continue;
    counters->Bump(kCounter_rxFrames);
    if (Deliver(hdr, status, hdr->tp_vlan_tci, frame, visit)) accepted++;
    __atomic_store_n(&hdr->tp_status, (status | kTakenEarly) & ~static_cast<uint32_t>(TP_STATUS_CSUMNOTREADY),
                     __ATOMIC_RELAXED);
  }
  return accepted;
}

template <typename Visit>
int64_t AfPacketRxV2::Peek(int64_t start, Visit&& visit) {
  if (map_ == nullptr) return -1;
  uint32_t slot = start < 0 ? frame_ : static_cast<uint32_t>(start % frameCount_);
  // Slots from the cursor up to `slot` were looked at already: at most one lap in all.
  for (uint32_t looked = (slot + frameCount_ - frame_) % frameCount_; looked < frameCount_; looked++) {
    tpacket2_hdr* hdr = Slot(slot);
    const uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    uint8_t* frame = FrameIn(hdr);
    if ((status & kTakenEarly) == 0 && frame != nullptr && !Truncated(hdr)) DeliverInPlace(hdr, status, frame, visit);
    slot = (slot + 1) % frameCount_;
  }
  return slot;
}

}  // namespace syncache
