// Send rows into frames for a TX side (io/io_backend.h TxSink): each row's
// destination MAC first set to its next hop when replies are routed
// (route/route_mirror.h), then the row built by Pipeline::Build.
//
// Routing: every untagged reply goes to the next hop the namespace's routing
// and neighbour tables give for its destination, whatever MAC the row holds;
// the row's mac is overwritten with it. Without a mirror, the row's mac as
// TS wrote it (the SYN's source MAC). Rows with an 802.1Q tag keep the
// row's mac: the mirror knows only the untagged interface. A reply whose
// next hop is unresolved is built here and handed to the kernel's IP output
// instead (RouteMirror::SendViaKernel), which resolves it and holds the
// reply meanwhile; it takes no slot.
#pragma once

#include <time.h>

#include <cstdint>

#include "boundary/batch.h"
#include "boundary/counters.h"
#include "pipeline/pipeline.h"
#include "route/route_mirror.h"

namespace syncache {

class ReplyWriter {
 public:
  // nextHops: nullptr to keep each row's mac. A mirror takes in the
  // routing and neighbour changes queued since its last poll here.
  ReplyWriter(Pipeline* pipeline, PacketBatch* batch, const uint8_t srcMac[6], route::RouteMirror* nextHops)
      : pipeline_(pipeline), batch_(batch), srcMac_(srcMac), nextHops_(nextHops) {
    if (nextHops_ == nullptr) return;
    nowMs_ = MonotonicMs();
    nextHops_->Poll(nowMs_);
  }

  // Before row `row` takes a slot: sets its destination MAC to its next
  // hop; false (counted) if the reply is not to be sent. Rows Build will
  // refuse pass through.
  bool Route(uint32_t row) {
    if (nextHops_ == nullptr) return true;
    const uint8_t family = batch_->family[row];
    if ((family != 4 && family != 6) || batch_->vlan[row] != 0) return true;
    switch (nextHops_->Resolve(family, &batch_->daddr[row * 4], nowMs_, &batch_->mac[row * 6])) {
      case route::NextHopVerdict::kResolved: return true;
      case route::NextHopVerdict::kUnresolved: SendViaKernel(row, family); return false;
      case route::NextHopVerdict::kNoRoute: pipeline_->counters->Bump(kCounter_replyNoRoute); return false;
    }
    return false;
  }

  // Replies this writer sent through the kernel rather than a slot.
  uint32_t viaKernel() const { return viaKernel_; }

  // The clock a mirror is polled and asked with here (CLOCK_MONOTONIC, ms).
  static double MonotonicMs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  }

  // Row `row` into `out`; its length, or 0 if it is not buildable (counted).
  uint32_t Write(uint32_t row, uint8_t* out, uint32_t capacity) {
    return pipeline_->Build(*batch_, row, srcMac_, out, capacity);
  }

 private:
  void SendViaKernel(uint32_t row, uint8_t family) {
    uint8_t frame[kMaxReplyFrame];
    uint32_t length = 0;
    if (nextHops_->KernelSendAllowed(nowMs_)) length = Write(row, frame, sizeof frame);
    if (length > kEthernetHeader && nextHops_->SendViaKernel(family, &batch_->daddr[row * 4], frame + kEthernetHeader, length - kEthernetHeader, nowMs_)) {
      pipeline_->counters->Bump(kCounter_replyViaKernel);
      viaKernel_++;
    } else {
      pipeline_->counters->Bump(kCounter_replyUnresolved);
    }
  }

  static constexpr uint32_t kMaxReplyFrame = 256;  // a SYN-ACK, RST or ACK: headers and options only
  static constexpr uint32_t kEthernetHeader = 14;  // untagged rows only come here

  Pipeline* pipeline_;
  PacketBatch* batch_;
  const uint8_t* srcMac_;
  route::RouteMirror* nextHops_;
  double nowMs_ = 0;
  uint32_t viaKernel_ = 0;
};

}  // namespace syncache
