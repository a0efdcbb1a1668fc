#include "io/af_xdp_rx.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace syncache {

double AfXdpRx::NowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1000.0 + static_cast<double>(ts.tv_nsec) / 1e6;
}

int AfXdpRx::TakeError() {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(socket_->fd(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

LinkState AfXdpRx::Link() {
  ifreq ifr{};
  ifr.ifr_ifindex = socket_->ifindex();
  if (ioctl(socket_->linkFd(), SIOCGIFNAME, &ifr) != 0) return errno == ENODEV ? LinkState::kGone : LinkState::kDown;
  if (ioctl(socket_->linkFd(), SIOCGIFFLAGS, &ifr) != 0) return errno == ENODEV ? LinkState::kGone : LinkState::kDown;
  return (ifr.ifr_flags & IFF_UP) != 0 ? LinkState::kUp : LinkState::kDown;
}

int AfXdpRx::UpdateKernelStats(Counters* counters) {
  if (socket_->fd() < 0) return EBADF;
  xdp_statistics now{};
  socklen_t len = sizeof(now);
  if (getsockopt(socket_->fd(), SOL_XDP, XDP_STATISTICS, &now, &len) != 0) return errno;
  // Older kernels fill only the first three fields; the rest stay 0.
  counters->Add(kCounter_kernelDrops, (now.rx_dropped - last_.rx_dropped) + (now.rx_ring_full - last_.rx_ring_full));
  counters->Add(kCounter_kernelRxRingFull, now.rx_ring_full - last_.rx_ring_full);
  counters->Add(kCounter_kernelFillRingEmpty, now.rx_fill_ring_empty_descs - last_.rx_fill_ring_empty_descs);
  counters->Add(kCounter_kernelInvalidDescs,
                (now.rx_invalid_descs - last_.rx_invalid_descs) + (now.tx_invalid_descs - last_.tx_invalid_descs));
  last_ = now;
  return 0;
}

}  // namespace syncache
