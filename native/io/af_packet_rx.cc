#include "io/af_packet_rx.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "io/bpf_filter.h"

namespace syncache {

using afpacket::Fail;
using afpacket::PermissionHint;
using afpacket::Where;

bool AfPacketRx::Open(const AfPacketConfig& config, int ifindex, SysError* error) {
  Close();
  fd_ = afpacket::OpenSocket(config, version_, error);
  if (fd_ < 0) return false;
  tpacket_req3 req{};
  req.tp_block_size = config.blockSize;
  req.tp_block_nr = config.blockCount;
  req.tp_frame_size = kFrameSize;
  req.tp_frame_nr = (config.blockSize / kFrameSize) * config.blockCount;
  req.tp_retire_blk_tov = config.retireMs;
  // V2 reads the first fields of the same request (a tpacket_req).
  if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req,
                 version_ == TPACKET_V2 ? sizeof(tpacket_req) : sizeof(req)) != 0)
    return Fail(error, errno, "setsockopt", "cannot create the RX ring (PACKET_RX_RING)",
                "try a smaller blockSize or blockCount");
  mapBytes_ = static_cast<size_t>(config.blockSize) * config.blockCount;
  void* map = mmap(nullptr, mapBytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (map == MAP_FAILED) {
    mapBytes_ = 0;
    return Fail(error, errno, "mmap", "cannot map the RX ring");
  }
  map_ = static_cast<uint8_t*>(map);
  blockSize_ = config.blockSize;
  blockCount_ = config.blockCount;
  frameCount_ = req.tp_frame_nr;
  Attach(map_);

  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(config.filter.size());
  prog.filter = const_cast<sock_filter*>(config.filter.data());
  if (prog.len > 0 && setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
    return Fail(error, errno, "setsockopt", "cannot attach the BPF filter (SO_ATTACH_FILTER)");
  int one = 1;
  if (setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0)
    return Fail(error, errno, "setsockopt", "cannot set PACKET_IGNORE_OUTGOING (needs Linux 4.20)");

  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = ifindex;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    return Fail(error, err, "bind", "cannot bind the RX socket to " + Where(config),
                err == ENETDOWN ? "bring the interface up" : "");
  }
  if (config.fanoutGroup != 0) {
    std::vector<sock_filter> steering;
    if (!BuildFanoutSteering(&steering))
      return Fail(error, 0, "", "the fanout steering program does not fit classic BPF", "");
    int arg = config.fanoutGroup | (PACKET_FANOUT_CBPF << 16);
    if (setsockopt(fd_, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0) {
      int err = errno;
      std::string hint = PermissionHint(err, "CAP_NET_ADMIN");
      if (err == EINVAL) hint = "group " + std::to_string(config.fanoutGroup) +
                                " exists with another mode or on another interface";
      return Fail(error, err, "setsockopt", "cannot join PACKET_FANOUT group " +
                                                std::to_string(config.fanoutGroup), hint);
    }
    // Until a member sets the group's program, every frame goes to its first
    // member; each member sets the same one.
    sock_fprog steer{static_cast<unsigned short>(steering.size()), steering.data()};
    if (setsockopt(fd_, SOL_PACKET, PACKET_FANOUT_DATA, &steer, sizeof(steer)) != 0)
      return Fail(error, errno, "setsockopt", "cannot set the steering program of PACKET_FANOUT group " +
                                                  std::to_string(config.fanoutGroup), "");
  }
  return true;
}

void AfPacketRx::Unmap() {
  if (map_ != nullptr) munmap(map_, mapBytes_);
  if (fd_ >= 0) close(fd_);
  map_ = nullptr;
  mapBytes_ = 0;
  fd_ = -1;
}

int AfPacketRx::TakeError() {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

LinkState AfPacketRx::Link() {
  sockaddr_ll bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0 || bound.sll_ifindex <= 0)
    return LinkState::kGone;
  ifreq ifr{};
  ifr.ifr_ifindex = bound.sll_ifindex;
  if (ioctl(fd_, SIOCGIFNAME, &ifr) != 0) return errno == ENODEV ? LinkState::kGone : LinkState::kDown;
  if (ioctl(fd_, SIOCGIFFLAGS, &ifr) != 0) return errno == ENODEV ? LinkState::kGone : LinkState::kDown;
  return (ifr.ifr_flags & IFF_UP) != 0 ? LinkState::kUp : LinkState::kDown;
}

int AfPacketRx::UpdateKernelStats(Counters* counters) {
  if (fd_ < 0) return EBADF;
  tpacket_stats_v3 stats{};
  socklen_t len = sizeof(stats);
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &stats, &len) != 0) return errno;
  counters->Add(kCounter_kernelPackets, stats.tp_packets);
  counters->Add(kCounter_kernelDrops, stats.tp_drops);
  counters->Add(kCounter_kernelQueueFreezes, stats.tp_freeze_q_cnt);
  return 0;
}

}  // namespace syncache
