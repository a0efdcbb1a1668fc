// What a TPACKET RX ring's memory says, apart from its socket (io/af_packet_rx.h
// maps it; the sanitizer build walks rings it writes itself): who owns each
// block or slot, where its frames are, and the read cursor. Every offset the
// kernel wrote is checked before it is followed; a bad one is counted
// (rxBadFrame) and never read through.
//
// TPACKET_V3: the kernel fills variable-length frames into blocks of
// blockSize bytes and retires a block to userspace when it is full or after
// retireMs; the block header's status says who owns it (TP_STATUS_USER:
// user_may_read; we hand it back by writing TP_STATUS_KERNEL). A block is
// read frame by frame; when a batch fills in the middle of a block the cursor
// (block, frames left, offset of the next frame) stays there for the next
// call, and a block goes back to the kernel only once fully read. A frame may
// wait in the open block until it retires (4-8 ms at HZ=250).
//
// TPACKET_V2: fixed slots of 2 KiB, each readable the moment the kernel has
// written it (its tp_status has TP_STATUS_USER). Besides reads in slot
// order it can look ahead: take the frames that must not wait behind a
// flood of SYNs out of their turn (marked, so the in-order read skips
// them), look at waiting frames without taking them, and take the frames at
// the head that are only a handed-over flow's.
//
// A frame the kernel cut to fit (tp_len > tp_snaplen) is counted
// (truncatedFrames), never parsed as if whole. A frame whose TCP checksum a
// local sender left to the device (TP_STATUS_CSUMNOTREADY) is completed
// (wire::CompletePartialChecksum) before anyone sees it.
#pragma once

#include <linux/if_packet.h>

#include <cstdint>

#include "boundary/counters.h"
#include "wire/parse.h"

namespace syncache {

namespace tpacket {

template <typename Hdr>
bool Truncated(const Hdr* hdr) {
  return hdr->tp_len > hdr->tp_snaplen;
}

// Hands one frame of either version to visit(frame, length, vlanTci, timeMs)
// with its VLAN tag and time, first completing a checksum left to the device.
template <typename Hdr, typename Visit>
bool Deliver(const Hdr* hdr, uint32_t status, uint16_t vlanTci, uint8_t* frame, Visit& visit) {
  if (status & TP_STATUS_CSUMNOTREADY) wire::CompletePartialChecksum(frame, hdr->tp_snaplen);
  const double timeMs = static_cast<double>(hdr->tp_sec) * 1000.0 + hdr->tp_nsec / 1e6;
  return visit(frame, hdr->tp_snaplen, (status & TP_STATUS_VLAN_VALID) ? vlanTci : 0, timeMs);
}

}  // namespace tpacket

class TpacketV3Ring {
 public:
  // Reads blockCount blocks of blockSize bytes at map from the first on
  // (map nullptr: no ring; every read finds nothing).
  void Attach(uint8_t* map, uint32_t blockSize, uint32_t blockCount) {
    map_ = map;
    blockSize_ = blockSize;
    blockCount_ = blockCount;
    block_ = 0;
    framesLeft_ = -1;
    next_ = 0;
  }

  // Walks frames the kernel has handed over, calling
  //   bool visit(const uint8_t* frame, uint32_t length, uint16_t vlanTci, double timeMs)
  // until `maxAccepted` visits returned true. Never blocks. Returns the
  // number of visits that returned true.
  template <typename Visit>
  uint32_t Receive(uint32_t maxAccepted, Counters* counters, Visit&& visit);

  // Whether Receive would find a frame now (a read of one status word).
  bool Waiting() const { return map_ != nullptr && (framesLeft_ > 0 || UserMayRead(Block(block_))); }

 private:
  // Block ownership: the kernel sets TP_STATUS_USER when it retires a block;
  // we hand a block back, fully read, by writing TP_STATUS_KERNEL.
  static bool UserMayRead(tpacket_block_desc* block) {
    return (__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
  }
  static void GiveBackToKernel(tpacket_block_desc* block) {
    __atomic_store_n(&block->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }
  tpacket_block_desc* Block(uint32_t i) const {
    return reinterpret_cast<tpacket_block_desc*>(map_ + static_cast<size_t>(i) * blockSize_);
  }

  uint8_t* map_ = nullptr;
  uint32_t blockSize_ = 0;
  uint32_t blockCount_ = 0;
  // Cursor: the block we are in, frames left in it (-1: not started), and
  // the offset of its next frame.
  uint32_t block_ = 0;
  int64_t framesLeft_ = -1;
  uint64_t next_ = 0;
};

class TpacketV2Ring {
 public:
  static constexpr uint32_t kSlotSize = 2048;

  // Reads slotCount slots of kSlotSize bytes at map from the first on (map
  // nullptr: no ring).
  void Attach(uint8_t* map, uint32_t slotCount) {
    map_ = map;
    slotCount_ = slotCount;
    frame_ = 0;
    consumed_ = 0;
    urgentLooked_ = 0;
  }

  // As TpacketV3Ring::Receive. Skips the slots ReceiveUrgent took.
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
  // received in between), or -1 without a ring. A frame whose checksum was
  // left to the device is completed here, and its status says so, so
  // Receive does not complete it twice.
  template <typename Visit>
  int64_t Peek(int64_t start, Visit&& visit);

  // Takes the waiting frames from the read cursor on for as long as
  // `skip(frame, length, vlanTci, timeMs)` says they are nothing to
  // Receive's caller (and the slots ReceiveUrgent took already, and frames
  // with bad offsets, as Receive would), stopping at the first other frame,
  // which stays for Receive. Returns the frames taken.
  template <typename Skip>
  uint32_t SkipLeading(Counters* counters, Skip&& skip);

  // Whether Receive would find a frame now (a read of one status word).
  bool Waiting() const {
    return map_ != nullptr && (__atomic_load_n(&Slot(frame_)->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
  }

 private:
  // A slot's header, and its frame (nullptr if the kernel's offsets would
  // take us outside the slot).
  tpacket2_hdr* Slot(uint32_t i) const {
    return reinterpret_cast<tpacket2_hdr*>(map_ + static_cast<size_t>(i) * kSlotSize);
  }
  static uint8_t* FrameIn(tpacket2_hdr* hdr) {
    const uint64_t end = static_cast<uint64_t>(hdr->tp_mac) + hdr->tp_snaplen;
    if (hdr->tp_mac < sizeof(tpacket2_hdr) || end > kSlotSize) return nullptr;
    return reinterpret_cast<uint8_t*>(hdr) + hdr->tp_mac;
  }
  // Deliver for a frame that may stay in the ring (TP_STATUS_USER): its
  // status then says the checksum is done, so it is not completed twice.
  template <typename Visit>
  static bool DeliverInPlace(tpacket2_hdr* hdr, uint32_t status, uint8_t* frame, Visit& visit) {
    const bool result = tpacket::Deliver(hdr, status, hdr->tp_vlan_tci, frame, visit);
    if (status & TP_STATUS_CSUMNOTREADY) {
      __atomic_store_n(&hdr->tp_status, status & ~static_cast<uint32_t>(TP_STATUS_CSUMNOTREADY), __ATOMIC_RELAXED);
    }
    return result;
  }
  // The slot at the cursor goes back to the kernel.
  void GiveBack(tpacket2_hdr* hdr) {
    __atomic_store_n(&hdr->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    frame_ = (frame_ + 1) % slotCount_;
    consumed_++;
  }

  // A mark in tp_status of a slot we own (bit unused by the kernel for RX):
  // ReceiveUrgent took this frame.
  static constexpr uint32_t kTakenEarly = 1u << 30;
  uint8_t* map_ = nullptr;
  uint32_t slotCount_ = 0;
  uint32_t frame_ = 0;  // the read cursor
  // Slots Receive has handed back so far, and how far ReceiveUrgent has
  // looked (both counted from the ring's opening).
  uint64_t consumed_ = 0;
  uint64_t urgentLooked_ = 0;
};

// ---------------------------------------------------------------------------

template <typename Visit>
uint32_t TpacketV3Ring::Receive(uint32_t maxAccepted, Counters* counters, Visit&& visit) {
  uint32_t accepted = 0;
  if (map_ == nullptr) return 0;
  for (;;) {
    tpacket_block_desc* block = Block(block_);
    if (!UserMayRead(block)) break;
    const uint8_t* base = reinterpret_cast<const uint8_t*>(block);
    if (framesLeft_ < 0) {
      framesLeft_ = block->hdr.bh1.num_pkts;
      next_ = block->hdr.bh1.offset_to_first_pkt;
      counters->Bump(kCounter_rxBlocks);
    }
    while (framesLeft_ > 0) {
      if (accepted == maxAccepted) {
        counters->Bump(kCounter_rxBatchFull);
        return accepted;
      }
      framesLeft_--;
      // The kernel wrote these offsets, but a bad one must not send us past
      // the block: check before reading, and abandon the block if wrong.
      if (next_ > blockSize_ - sizeof(tpacket3_hdr)) {
        counters->Bump(kCounter_rxBadFrame);
        framesLeft_ = 0;
        break;
      }
      const tpacket3_hdr* hdr = reinterpret_cast<const tpacket3_hdr*>(base + next_);
      uint64_t end = static_cast<uint64_t>(next_) + hdr->tp_mac + hdr->tp_snaplen;
      uint32_t next = hdr->tp_next_offset;
      if (end > blockSize_) {
        counters->Bump(kCounter_rxBadFrame);
        framesLeft_ = 0;
        break;
      }
      uint8_t* frame = const_cast<uint8_t*>(base) + next_ + hdr->tp_mac;
      if (tpacket::Truncated(hdr)) {
        counters->Bump(kCounter_truncatedFrames);
      } else {
        counters->Bump(kCounter_rxFrames);
        if (tpacket::Deliver(hdr, hdr->tp_status, hdr->hv1.tp_vlan_tci, frame, visit)) accepted++;
      }
      if (framesLeft_ > 0) {
        if (next == 0) {
          counters->Bump(kCounter_rxBadFrame);
          framesLeft_ = 0;
          break;
        }
        next_ += next;
      }
    }
    GiveBackToKernel(block);
    framesLeft_ = -1;
    block_ = (block_ + 1) % blockCount_;
  }
  return accepted;
}

template <typename Visit>
uint32_t TpacketV2Ring::Receive(uint32_t maxAccepted, Counters* counters, Visit&& visit) {
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
    } else if (tpacket::Truncated(hdr)) {
      counters->Bump(kCounter_truncatedFrames);
    } else {
      counters->Bump(kCounter_rxFrames);
      if (tpacket::Deliver(hdr, status, hdr->tp_vlan_tci, frame, visit)) accepted++;
    }
    GiveBack(hdr);
  }
  if (any) counters->Bump(kCounter_rxBlocks);
  if (accepted == maxAccepted) counters->Bump(kCounter_rxBatchFull);
  return accepted;
}

template <typename Skip>
uint32_t TpacketV2Ring::SkipLeading(Counters* counters, Skip&& skip) {
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
    } else if (tpacket::Truncated(hdr)) {
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
uint32_t TpacketV2Ring::ReceiveUrgent(uint32_t maxAccepted, Counters* counters, Urgent urgent, Visit&& visit) {
  if (map_ == nullptr) return 0;
  if (urgentLooked_ < consumed_) urgentLooked_ = consumed_;
  uint32_t accepted = 0;
  while (accepted < maxAccepted && urgentLooked_ - consumed_ < slotCount_) {
    const uint32_t slot = static_cast<uint32_t>(urgentLooked_ % slotCount_);
    tpacket2_hdr* hdr = Slot(slot);
    const uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    urgentLooked_++;
    uint8_t* frame = FrameIn(hdr);
    if ((status & kTakenEarly) || frame == nullptr || tpacket::Truncated(hdr) || !urgent(frame, hdr->tp_snaplen)) continue;
    counters->Bump(kCounter_rxFrames);
    if (tpacket::Deliver(hdr, status, hdr->tp_vlan_tci, frame, visit)) accepted++;
    __atomic_store_n(&hdr->tp_status, (status | kTakenEarly) & ~static_cast<uint32_t>(TP_STATUS_CSUMNOTREADY),
                     __ATOMIC_RELAXED);
  }
  return accepted;
}

template <typename Visit>
int64_t TpacketV2Ring::Peek(int64_t start, Visit&& visit) {
  if (map_ == nullptr) return -1;
  uint32_t slot = start < 0 ? frame_ : static_cast<uint32_t>(start % slotCount_);
  // Slots from the cursor up to `slot` were looked at already: at most one lap in all.
  for (uint32_t looked = (slot + slotCount_ - frame_) % slotCount_; looked < slotCount_; looked++) {
    tpacket2_hdr* hdr = Slot(slot);
    const uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    uint8_t* frame = FrameIn(hdr);
    if ((status & kTakenEarly) == 0 && frame != nullptr && !tpacket::Truncated(hdr)) DeliverInPlace(hdr, status, frame, visit);
    slot = (slot + 1) % slotCount_;
  }
  return slot;
}

}  // namespace syncache
