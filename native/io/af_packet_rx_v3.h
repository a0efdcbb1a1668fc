// AF_PACKET RX as TPACKET_V3: the kernel fills variable-length frames into
// blocks of blockSize bytes and retires a block to userspace when it is full
// or after retireMs; the block header's status says who owns it
// (TP_STATUS_USER: user_may_read; we hand it back by writing
// TP_STATUS_KERNEL). A block is read frame by frame; when a batch fills in
// the middle of a block the cursor (block, frames left, offset of the next
// frame) stays there for the next call, and a block goes back to the kernel
// only once fully read. Batches best under a flood; a frame may wait in the
// open block until it retires (4-8 ms at HZ=250).
#pragma once

#include <linux/if_packet.h>

#include <cstdint>

#include "io/af_packet_rx.h"

namespace syncache {

class AfPacketRxV3 final : public AfPacketRx {
 public:
  AfPacketRxV3() : AfPacketRx(TPACKET_V3) {}

  // Walks frames the kernel has handed over, calling
  //   bool visit(const uint8_t* frame, uint32_t length, uint16_t vlanTci, double timeMs)
  // until `maxAccepted` visits returned true. Never blocks. Returns the
  // number of visits that returned true.
  template <typename Visit>
  uint32_t Receive(uint32_t maxAccepted, Counters* counters, Visit&& visit);

  uint32_t Receive(BatchFill& fill, Counters* counters) override {
    return Receive(fill.capacity(), counters, fill);
  }
  bool Waiting() const override { return map_ != nullptr && (framesLeft_ > 0 || UserMayRead(Block(block_))); }
  // Frames the kernel has put in the block it is still filling (not yet
  // retired, so not readable): a hint, read without the kernel's lock.
  uint32_t PendingUnreadable() const override {
    if (map_ == nullptr) return 0;
    tpacket_block_desc* block = Block(block_);
    if (UserMayRead(block)) return 0;  // retired: Receive reads it
    return __atomic_load_n(&block->hdr.bh1.num_pkts, __ATOMIC_RELAXED);
  }

 private:
  void ResetCursor() override {
    block_ = 0;
    framesLeft_ = -1;
    next_ = 0;
  }
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

  // Cursor: the block we are in, frames left in it (-1: not started), and
  // the offset of its next frame.
  uint32_t block_ = 0;
  int64_t framesLeft_ = -1;
  uint64_t next_ = 0;
};

template <typename Visit>
uint32_t AfPacketRxV3::Receive(uint32_t maxAccepted, Counters* counters, Visit&& visit) {
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
      if (Truncated(hdr)) {
        counters->Bump(kCounter_truncatedFrames);
      } else {
        counters->Bump(kCounter_rxFrames);
        if (Deliver(hdr, hdr->tp_status, hdr->hv1.tp_vlan_tci, frame, visit)) accepted++;
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

}  // namespace syncache
