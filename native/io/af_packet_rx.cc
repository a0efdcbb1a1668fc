#include "io/af_packet_rx.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

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
  if (!socket_.Open(config, version_, error)) return false;
  tpacket_req3 req{};
  req.tp_block_size = config.blockSize;
  req.tp_block_nr = config.blockCount;
  req.tp_frame_size = kFrameSize;
  req.tp_frame_nr = (config.blockSize / kFrameSize) * config.blockCount;
  req.tp_retire_blk_tov = config.retireMs;
  // V2 reads the first fields of the same request (a tpacket_req).
  if (!socket_.MapRing(PACKET_RX_RING, &req, version_ == TPACKET_V2 ? sizeof(tpacket_req) : sizeof(req),
                       static_cast<size_t>(config.blockSize) * config.blockCount,
                       "try a smaller blockSize or blockCount", error))
    return false;
  blockSize_ = config.blockSize;
  blockCount_ = config.blockCount;
  frameCount_ = req.tp_frame_nr;
  Attach(socket_.map);

  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(config.filter.size());
  prog.filter = const_cast<sock_filter*>(config.filter.data());
  if (prog.len > 0 && setsockopt(socket_.fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
    return Fail(error, errno, "setsockopt", "cannot attach the BPF filter (SO_ATTACH_FILTER)");
  int one = 1;
  if (setsockopt(socket_.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0)
    return Fail(error, errno, "setsockopt", "cannot set PACKET_IGNORE_OUTGOING (needs Linux 4.20)");

  if (int err = socket_.Bind(ifindex, htons(ETH_P_ALL)); err != 0)
    return Fail(error, err, "bind", "cannot bind the RX socket to " + Where(config),
                err == ENETDOWN ? "bring the interface up" : "");
  if (config.fanoutGroup != 0) {
    std::vector<sock_filter> steering;
    if (!BuildFanoutSteering(&steering))
      return Fail(error, 0, "", "the fanout steering program does not fit classic BPF", "");
    int arg = config.fanoutGroup | (PACKET_FANOUT_CBPF << 16);
    if (setsockopt(socket_.fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0) {
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
    if (setsockopt(socket_.fd, SOL_PACKET, PACKET_FANOUT_DATA, &steer, sizeof(steer)) != 0)
      return Fail(error, errno, "setsockopt", "cannot set the steering program of PACKET_FANOUT group " +
                                                  std::to_string(config.fanoutGroup), "");
  }
  return true;
}

int AfPacketRx::TakeError() {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(socket_.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

LinkState AfPacketRx::Link() {
  sockaddr_ll bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(socket_.fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0 || bound.sll_ifindex <= 0)
    return LinkState::kGone;
  ifreq ifr{};
  ifr.ifr_ifindex = bound.sll_ifindex;
  if (ioctl(socket_.fd, SIOCGIFNAME, &ifr) != 0) return errno == ENODEV ? LinkState::kGone : LinkState::kDown;
  if (ioctl(socket_.fd, SIOCGIFFLAGS, &ifr) != 0) return errno == ENODEV ? LinkState::kGone : LinkState::kDown;
  return (ifr.ifr_flags & IFF_UP) != 0 ? LinkState::kUp : LinkState::kDown;
}

int AfPacketRx::UpdateKernelStats(Counters* counters) {
  if (socket_.fd < 0) return EBADF;
  tpacket_stats_v3 stats{};
  socklen_t len = sizeof(stats);
  if (getsockopt(socket_.fd, SOL_PACKET, PACKET_STATISTICS, &stats, &len) != 0) return errno;
  counters->Add(kCounter_kernelPackets, stats.tp_packets);
  counters->Add(kCounter_kernelDrops, stats.tp_drops);
  counters->Add(kCounter_kernelQueueFreezes, stats.tp_freeze_q_cnt);
  return 0;
}

}  // namespace syncache
