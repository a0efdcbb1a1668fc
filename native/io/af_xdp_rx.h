// AF_XDP RX (io/af_xdp.h): frames from the socket's RX ring
// (io/xsk_ring.h XskRings), each readable as soon as its descriptor is
// published, with a look ahead (RxLookAhead) as TPACKET_V2 has. Every read
// ends by putting the frames it took back on the fill ring, waking the
// driver when it asks (zero-copy). A descriptor carries no time: each read
// stamps its frames with the clock (CLOCK_REALTIME, as TPACKET's tp_sec).
//
// The link: a deleted interface unbinds the socket and sets its error
// (ENETDOWN), but an XDP socket's poll reports no errors (and nothing at all
// once unbound); an interface going down only stops the frames. So the
// caller watches Link() (PollsLinkErrors() is false), which asks the
// namespace about the bound ifindex by name and flags.
#pragma once

#include <linux/if_xdp.h>

#include <cstdint>
#include <memory>

#include "boundary/counters.h"
#include "io/af_xdp.h"
#include "io/io_backend.h"

namespace syncache {

class AfXdpRx final : public RxSource, public RxLookAhead {
 public:
  explicit AfXdpRx(std::shared_ptr<XskSocket> socket) : socket_(std::move(socket)) {}

  int pollFd() const override { return socket_->fd(); }
  bool Waiting() const override { return socket_->rings().Waiting(); }
  uint32_t Receive(BatchFill& fill, Counters* counters) override {
    const uint32_t accepted = socket_->rings().Receive(fill.room(), counters, NowMs(), fill);
    Refill(counters);
    return accepted;
  }
  int TakeError() override;
  LinkState Link() override;
  bool PollsLinkErrors() const override { return false; }
  // Adds what XDP_STATISTICS (running totals) gained since the last read
  // into the kernel* counters.
  int UpdateKernelStats(Counters* counters) override;
  RxLookAhead* lookAhead() override { return this; }

  uint32_t ReceiveUrgent(BatchFill& fill, Counters* counters) override {
    const uint32_t accepted = socket_->rings().ReceiveUrgent(fill.room(), counters, NowMs(), IsUrgentSegment, fill);
    Refill(counters);
    return accepted;
  }
  int64_t Peek(int64_t start, PeekSerializer& peek) override { return socket_->rings().Peek(start, NowMs(), peek); }
  uint32_t SkipLeading(HandedOverSkip& skip, Counters* counters) override {
    const uint32_t taken = socket_->rings().SkipLeading(counters, NowMs(), skip);
    Refill(counters);
    return taken;
  }

 private:
  static double NowMs();
  void Refill(Counters* counters) {
    if (socket_->rings().Refill(counters) > 0 && socket_->rings().FillNeedsWakeup()) socket_->WakeRx();
  }

  std::shared_ptr<XskSocket> socket_;
  xdp_statistics last_{};  // the totals read last time
};

}  // namespace syncache
