// AF_XDP TX (io/af_xdp.h): replies written into free UMEM frames of the
// socket's TX share (io/xsk_ring.h XskRings), posted on the TX ring, and a
// kick (sendto) that asks the kernel to send them. Sent frames come back
// on the completion ring; each Send and Flush takes them back first. A
// full ring (no free frame, or no room on the TX ring) is counted
// (txRingFull), never waited on.
//
// The kick: in copy mode the kernel sends TX descriptors only inside
// sendto, and each call sends a bounded batch (32 frames by default) and
// then says EAGAIN if more wait. So a kick repeats sendto for as long as
// the kernel keeps taking descriptors; one that takes nothing (its send
// buffer is full: EAGAIN, ENOBUFS) leaves them for Flush, and is counted
// (txErrors). In zero-copy mode the driver sends on its own and sendto only
// wakes it, when the TX ring's flags ask for it (XDP_USE_NEED_WAKEUP).
#pragma once

#include <cstdint>
#include <memory>

#include "boundary/counters.h"
#include "io/af_xdp.h"
#include "io/io_backend.h"

namespace syncache {

class AfXdpTx final : public TxSink {
 public:
  explicit AfXdpTx(std::shared_ptr<XskSocket> socket) : socket_(std::move(socket)) {}

  // Kicks every kFramesPerKick frames and after the last.
  uint32_t Send(ReplyWriter& writer, uint32_t count, Counters* counters) override;
  bool Backlogged() const override {
    return kickFailed_ || (socket_->rings().TxUnconsumed() > 0 && KickNeeded());
  }
  void Flush(Counters* counters) override {
    socket_->rings().Reap(counters);
    Kick(counters);
  }

  // As AF_PACKET's (io/af_packet_tx.h): a veth peer's backlog takes a
  // burst whole or drops its tail.
  static constexpr uint32_t kFramesPerKick = 256;
  static constexpr uint32_t kMaxKickRounds = 65536;

 private:
  bool KickNeeded() const { return !socket_->zeroCopy() || socket_->rings().TxNeedsWakeup(); }
  void Kick(Counters* counters);

  std::shared_ptr<XskSocket> socket_;
  bool kickFailed_ = false;
};

}  // namespace syncache
