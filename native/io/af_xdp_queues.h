// AF_XDP RX over several receive queues (io/af_xdp.h): one XDP socket a
// queue (a socket takes frames of its own queue only), read as one RX side,
// so a shard can serve more queues than there are shards. An epoll set of
// the sockets is the fd to poll: it is readable while any socket is. Each
// Receive starts at the queue after the one the last started at, and takes
// from each in turn until the batch is full, so no queue waits behind a
// flooded one for more than a batch.
//
// It looks ahead (RxLookAhead) queue by queue: a flow's segments arrive on
// one queue (its hash picks it), in order there. Peek has one start for
// every queue, so it looks from each queue's read cursor every time (and
// returns 0): a look meant to go on from an earlier one sees those frames
// again, which the handoff takes as what it has (handoff/handover.ts
// extend). Link state and errors are the first socket's (all are on one
// interface); the kernel's counters add up over every socket.
#pragma once

#include <memory>
#include <vector>

#include "boundary/counters.h"
#include "boundary/sys_error.h"
#include "io/af_xdp_rx.h"
#include "io/io_backend.h"

namespace syncache {

class AfXdpQueuesRx final : public RxSource, public RxLookAhead {
 public:
  ~AfXdpQueuesRx() override;

  // Takes the queues' RX sides (at least two) and makes the epoll set; on
  // failure *error says why and nothing stays open.
  static std::unique_ptr<AfXdpQueuesRx> Open(std::vector<std::unique_ptr<AfXdpRx>> queues, SysError* error);

  int pollFd() const override { return epollFd_; }
  bool Waiting() const override;
  uint32_t Receive(BatchFill& fill, Counters* counters) override;
  int TakeError() override;
  LinkState Link() override { return queues_[0]->Link(); }
  bool PollsLinkErrors() const override { return false; }
  int UpdateKernelStats(Counters* counters) override;
  RxLookAhead* lookAhead() override { return this; }

  uint32_t ReceiveUrgent(BatchFill& fill, Counters* counters) override;
  int64_t Peek(int64_t start, PeekSerializer& peek) override;
  uint32_t SkipLeading(HandedOverSkip& skip, Counters* counters) override;

 private:
  AfXdpQueuesRx(std::vector<std::unique_ptr<AfXdpRx>> queues, int epollFd)
      : queues_(std::move(queues)), epollFd_(epollFd) {}

  std::vector<std::unique_ptr<AfXdpRx>> queues_;
  int epollFd_ = -1;
  size_t next_ = 0;  // the queue the next Receive starts at
};

}  // namespace syncache
