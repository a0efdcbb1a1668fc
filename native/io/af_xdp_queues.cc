#include "io/af_xdp_queues.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

namespace syncache {

std::unique_ptr<AfXdpQueuesRx> AfXdpQueuesRx::Open(std::vector<std::unique_ptr<AfXdpRx>> queues, SysError* error) {
  const int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    ReportSysError(error, errno, "epoll_create1", "cannot make the epoll set of the AF_XDP sockets");
    return nullptr;
  }
  for (const auto& queue : queues) {
    epoll_event event{};
    event.events = EPOLLIN;
    if (epoll_ctl(fd, EPOLL_CTL_ADD, queue->pollFd(), &event) != 0) {
      const int err = errno;
      close(fd);
      ReportSysError(error, err, "epoll_ctl", "cannot add an AF_XDP socket to the epoll set");
      return nullptr;
    }
  }
  return std::unique_ptr<AfXdpQueuesRx>(new AfXdpQueuesRx(std::move(queues), fd));
}

AfXdpQueuesRx::~AfXdpQueuesRx() {
  if (epollFd_ >= 0) close(epollFd_);
}

bool AfXdpQueuesRx::Waiting() const {
  for (const auto& queue : queues_)
    if (queue->Waiting()) return true;
  return false;
}

uint32_t AfXdpQueuesRx::Receive(BatchFill& fill, Counters* counters) {
  const size_t n = queues_.size();
  const size_t start = next_;
  next_ = (next_ + 1) % n;
  uint32_t accepted = 0;
  for (size_t i = 0; i < n && fill.room() > 0; i++) accepted += queues_[(start + i) % n]->Receive(fill, counters);
  return accepted;
}

uint32_t AfXdpQueuesRx::ReceiveUrgent(BatchFill& fill, Counters* counters) {
  uint32_t accepted = 0;
  for (size_t i = 0; i < queues_.size() && fill.room() > 0; i++)
    accepted += queues_[i]->ReceiveUrgent(fill, counters);
  return accepted;
}

int64_t AfXdpQueuesRx::Peek(int64_t, PeekSerializer& peek) {
  for (const auto& queue : queues_) queue->Peek(-1, peek);
  return 0;
}

uint32_t AfXdpQueuesRx::SkipLeading(HandedOverSkip& skip, Counters* counters) {
  uint32_t taken = 0;
  for (const auto& queue : queues_) taken += queue->SkipLeading(skip, counters);
  return taken;
}

int AfXdpQueuesRx::TakeError() {
  int first = 0;
  for (const auto& queue : queues_) {
    const int err = queue->TakeError();
    if (first == 0) first = err;
  }
  return first;
}

int AfXdpQueuesRx::UpdateKernelStats(Counters* counters) {
  int first = 0;
  for (const auto& queue : queues_) {
    const int err = queue->UpdateKernelStats(counters);
    if (first == 0) first = err;
  }
  return first;
}

}  // namespace syncache
