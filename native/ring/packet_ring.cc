#include "ring/packet_ring.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "ring/bpf_filter.h"
#include "ring/netns.h"

namespace syncache {

namespace {

constexpr uint32_t kRxFrameSize = 2048;       // nominal in V3; frames are packed
constexpr uint32_t kTxBlockSize = 1u << 16;
constexpr uint64_t kMaxRingBytes = 1ull << 30;

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

uint32_t TxDataOffset() { return TPACKET2_HDRLEN - sizeof(sockaddr_ll); }

// struct virtio_net_hdr (linux/virtio_net.h, which C++ cannot include: a
// field there is named `class`), in the host's byte order, as packet sockets
// read it (vio_le() is the host's endianness there).
struct VnetHeader {
  uint8_t flags;      // no VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksums are done
  uint8_t gsoType;    // VIRTIO_NET_HDR_GSO_NONE
  uint16_t hdrLen;    // bytes copied into the skb's linear part
  uint16_t gsoSize;
  uint16_t csumStart;
  uint16_t csumOffset;
};
static_assert(sizeof(VnetHeader) == 10, "virtio_net_hdr is 10 bytes");

std::string Where(const RingConfig& config) {
  return "interface " + config.iface +
         (config.netns.empty() ? std::string(" in the current network namespace")
                               : " in network namespace " + config.netns);
}

bool Fail(SysError* error, int err, const char* syscall, std::string what, std::string hint = "") {
  error->err = err;
  error->syscall = syscall;
  error->what = std::move(what);
  error->hint = std::move(hint);
  return false;
}

std::string PermissionHint(int err, const char* capability) {
  if (err != EPERM && err != EACCES) return "";
  return std::string(capability) + " is missing: run as root or grant it (e.g. setcap " +
         capability + "+ep on the node binary)";
}

}  // namespace

bool CheckRingLayout(const RingConfig& config, std::string* why) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (config.rx) {
    if (config.blockSize < page || config.blockSize % page != 0 || !IsPowerOfTwo(config.blockSize)) {
      *why = "blockSize must be a power of two multiple of the page size (" + std::to_string(page) +
             "), got " + std::to_string(config.blockSize);
      return false;
    }
    if (config.blockSize < kRxFrameSize) {
      *why = "blockSize must be at least " + std::to_string(kRxFrameSize);
      return false;
    }
    if (config.blockCount < 1 || config.blockCount > 1024 ||
        static_cast<uint64_t>(config.blockSize) * config.blockCount > kMaxRingBytes) {
      *why = "blockCount must be from 1 to 1024 and blockSize x blockCount at most 1 GiB";
      return false;
    }
    if (config.retireMs < 1 || config.retireMs > 60000) {
      *why = "retireMs must be from 1 to 60000";
      return false;
    }
  }
  if (config.tx && config.txRing) {
    uint32_t f = config.txFrameSize;
    if (f % TPACKET_ALIGNMENT != 0 || f < TxDataOffset() + 128 || kTxBlockSize % f != 0) {
      *why = "txFrameSize must be a multiple of " + std::to_string(TPACKET_ALIGNMENT) +
             " that divides " + std::to_string(kTxBlockSize);
      return false;
    }
    uint32_t perBlock = kTxBlockSize / f;
    if (config.txFrames < perBlock || config.txFrames > 65536 || config.txFrames % perBlock != 0) {
      *why = "txFrames must be a multiple of " + std::to_string(perBlock) + " from " +
             std::to_string(perBlock) + " to 65536, got " + std::to_string(config.txFrames);
      return false;
    }
  }
  return true;
}

bool PacketRing::Open(const RingConfig& config, SysError* error) {
  Close();
  std::string why;
  if (!CheckRingLayout(config, &why)) return Fail(error, 0, "", why);

  NetnsScope netns;
  const char* syscall = "";
  int err = netns.Enter(config.netns, &syscall);
  if (err != 0) {
    std::string hint = PermissionHint(err, "CAP_SYS_ADMIN");
    if (err == ENOENT) hint = "no namespace is mounted at that path (see `ip netns list`)";
    return Fail(error, err, syscall, "cannot enter network namespace " + config.netns, hint);
  }
  ifindex_ = static_cast<int>(if_nametoindex(config.iface.c_str()));
  if (ifindex_ == 0) {
    err = errno == ENXIO ? ENODEV : errno;
    return Fail(error, err, "if_nametoindex", "no " + Where(config),
                "check the name with `ip link`" +
                    (config.netns.empty() ? std::string() : " inside that namespace"));
  }
  if ((config.rx && !OpenRx(config, error)) || (config.tx && !OpenTx(config, error))) {
    Close();
    return false;
  }
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, config.iface.c_str(), IFNAMSIZ - 1);
  if (ioctl(config.rx ? rxFd_ : txFd_, SIOCGIFHWADDR, &ifr) != 0) {
    err = errno;
    Close();
    return Fail(error, err, "ioctl", "cannot read the MAC address of " + Where(config));
  }
  std::memcpy(mac_, ifr.ifr_hwaddr.sa_data, 6);
  err = netns.Leave();
  if (err != 0) {
    Close();
    return Fail(error, err, "setns", "cannot return to the original network namespace",
                PermissionHint(err, "CAP_SYS_ADMIN"));
  }
  open_ = true;
  return true;
}

int PacketRing::TakeRxError() {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(rxFd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

PacketRing::Link PacketRing::LinkState() {
  sockaddr_ll bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(rxFd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0 || bound.sll_ifindex <= 0)
    return Link::kGone;
  ifreq ifr{};
  ifr.ifr_ifindex = bound.sll_ifindex;
  if (ioctl(rxFd_, SIOCGIFNAME, &ifr) != 0) return errno == ENODEV ? Link::kGone : Link::kDown;
  if (ioctl(rxFd_, SIOCGIFFLAGS, &ifr) != 0) return errno == ENODEV ? Link::kGone : Link::kDown;
  return (ifr.ifr_flags & IFF_UP) != 0 ? Link::kUp : Link::kDown;
}

bool PacketRing::OpenRx(const RingConfig& config, SysError* error) {
  rxFd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (rxFd_ < 0) {
    int err = errno;
    return Fail(error, err, "socket", "cannot open an AF_PACKET socket on " + Where(config),
                PermissionHint(err, "CAP_NET_RAW"));
  }
  int version = config.lowLatency ? TPACKET_V2 : TPACKET_V3;
  if (setsockopt(rxFd_, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) != 0)
    return Fail(error, errno, "setsockopt", "cannot select the TPACKET version (PACKET_VERSION)");
  tpacket_req3 req{};
  req.tp_block_size = config.blockSize;
  req.tp_block_nr = config.blockCount;
  req.tp_frame_size = kRxFrameSize;
  req.tp_frame_nr = (config.blockSize / kRxFrameSize) * config.blockCount;
  req.tp_retire_blk_tov = config.retireMs;
  // V2 reads the first fields of the same request (a tpacket_req).
  if (setsockopt(rxFd_, SOL_PACKET, PACKET_RX_RING, &req,
                 config.lowLatency ? sizeof(tpacket_req) : sizeof(req)) != 0)
    return Fail(error, errno, "setsockopt", "cannot create the RX ring (PACKET_RX_RING)",
                "try a smaller blockSize or blockCount");
  rxMapBytes_ = static_cast<size_t>(config.blockSize) * config.blockCount;
  void* map = mmap(nullptr, rxMapBytes_, PROT_READ | PROT_WRITE, MAP_SHARED, rxFd_, 0);
  if (map == MAP_FAILED) {
    rxMapBytes_ = 0;
    return Fail(error, errno, "mmap", "cannot map the RX ring");
  }
  rxMap_ = static_cast<uint8_t*>(map);
  rxBlockSize_ = config.blockSize;
  rxBlockCount_ = config.blockCount;
  rxBlock_ = 0;
  rxFramesLeft_ = -1;
  rxNext_ = 0;
  rxV2_ = config.lowLatency;
  rxFrame_ = 0;
  rxConsumed_ = 0;
  urgentLooked_ = 0;
  rxFrameSize_ = kRxFrameSize;
  rxFrameCount_ = req.tp_frame_nr;

  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(config.filter.size());
  prog.filter = const_cast<sock_filter*>(config.filter.data());
  if (prog.len > 0 && setsockopt(rxFd_, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
    return Fail(error, errno, "setsockopt", "cannot attach the BPF filter (SO_ATTACH_FILTER)");
  int one = 1;
  if (setsockopt(rxFd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0)
    return Fail(error, errno, "setsockopt", "cannot set PACKET_IGNORE_OUTGOING (needs Linux 4.20)");

  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = ifindex_;
  if (bind(rxFd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    return Fail(error, err, "bind", "cannot bind the RX socket to " + Where(config),
                err == ENETDOWN ? "bring the interface up" : "");
  }
  if (config.fanoutGroup != 0) {
    std::vector<sock_filter> steering;
    if (!BuildFanoutSteering(&steering))
      return Fail(error, 0, "", "the fanout steering program does not fit classic BPF", "");
    int arg = config.fanoutGroup | (PACKET_FANOUT_CBPF << 16);
    if (setsockopt(rxFd_, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0) {
      int err = errno;
      std::string hint = PermissionHint(err, "CAP_NET_ADMIN");
      if (err == EINVAL) hint = "group " + std::to_string(config.fanoutGroup) +
                                " exists with another mode or on another interface";
      return Fail(error, err, "setsockopt", "cannot join PACKET_FANOUT group " +
                                                std::to_string(config.fanoutGroup), hint);
    }
    // Until a member sets the group's program, every frame goes to its first
    // member; each member sets the same one.
    sock_fprog prog{static_cast<unsigned short>(steering.size()), steering.data()};
    if (setsockopt(rxFd_, SOL_PACKET, PACKET_FANOUT_DATA, &prog, sizeof(prog)) != 0)
      return Fail(error, errno, "setsockopt", "cannot set the steering program of PACKET_FANOUT group " +
                                                  std::to_string(config.fanoutGroup), "");
  }
  return true;
}

bool PacketRing::OpenTx(const RingConfig& config, SysError* error) {
  txFd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (txFd_ < 0) {
    int err = errno;
    return Fail(error, err, "socket", "cannot open an AF_PACKET socket on " + Where(config),
                PermissionHint(err, "CAP_NET_RAW"));
  }
  int version = TPACKET_V2;
  if (setsockopt(txFd_, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) != 0)
    return Fail(error, errno, "setsockopt", "cannot select TPACKET_V2 (PACKET_VERSION)");
  int one = 1;
  if (setsockopt(txFd_, SOL_PACKET, PACKET_LOSS, &one, sizeof(one)) != 0)
    return Fail(error, errno, "setsockopt", "cannot set PACKET_LOSS");
  // A sent frame's skb counts against the socket's send buffer until the
  // receiver frees it. The default (wmem_default, ~208 KiB) admits a few
  // hundred: under a flood a kick past that fails with EAGAIN, the ring
  // fills and answers are dropped (txRingFull). Let the whole ring be in
  // flight: SO_SNDBUFFORCE (CAP_NET_ADMIN), else what SO_SNDBUF may (wmem_max).
  // An skb's truesize (its struct, head and shared info, ~1-2 KiB for a
  // small frame) is what counts, however small the slot.
  uint64_t perFrame = std::max<uint64_t>(config.txFrameSize, 2048);
  int sndbuf = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(config.txFrames) * perFrame, INT32_MAX / 2));
  if (setsockopt(txFd_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) != 0)
    setsockopt(txFd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  if (config.qdiscBypass &&
      setsockopt(txFd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0) {
    int err = errno;
    return Fail(error, err, "setsockopt", "cannot set PACKET_QDISC_BYPASS",
                PermissionHint(err, "CAP_NET_ADMIN"));
  }
  if (config.txRing && config.linearTx) {
    if (setsockopt(txFd_, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) != 0)
      return Fail(error, errno, "setsockopt", "cannot set PACKET_VNET_HDR on the TX socket");
    txVnetBytes_ = sizeof(VnetHeader);
  }
  if (config.txRing && !MapTx(config, error)) return false;
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = 0;  // send only: no receive hook
  addr.sll_ifindex = ifindex_;
  if (bind(txFd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return Fail(error, errno, "bind", "cannot bind the TX socket to " + Where(config));
  return true;
}

bool PacketRing::MapTx(const RingConfig& config, SysError* error) {
  tpacket_req req{};
  req.tp_block_size = kTxBlockSize;
  req.tp_frame_size = config.txFrameSize;
  req.tp_frame_nr = config.txFrames;
  req.tp_block_nr = config.txFrames / (kTxBlockSize / config.txFrameSize);
  if (setsockopt(txFd_, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) != 0)
    return Fail(error, errno, "setsockopt", "cannot create the TX ring (PACKET_TX_RING)",
                "try fewer txFrames");
  txMapBytes_ = static_cast<size_t>(req.tp_block_size) * req.tp_block_nr;
  void* map = mmap(nullptr, txMapBytes_, PROT_READ | PROT_WRITE, MAP_SHARED, txFd_, 0);
  if (map == MAP_FAILED) {
    txMapBytes_ = 0;
    return Fail(error, errno, "mmap", "cannot map the TX ring");
  }
  txMap_ = static_cast<uint8_t*>(map);
  txFrameSize_ = config.txFrameSize;
  txFrameCount_ = config.txFrames;
  txHead_ = 0;
  return true;
}

void PacketRing::Close() {
  if (rxMap_ != nullptr) munmap(rxMap_, rxMapBytes_);
  if (txMap_ != nullptr) munmap(txMap_, txMapBytes_);
  if (rxFd_ >= 0) close(rxFd_);
  if (txFd_ >= 0) close(txFd_);
  rxMap_ = txMap_ = nullptr;
  rxMapBytes_ = txMapBytes_ = 0;
  rxFd_ = txFd_ = -1;
  txVnetBytes_ = 0;
  open_ = false;
}

uint8_t* PacketRing::TxSlot(uint32_t* capacity) {
  if (txMap_ == nullptr) return nullptr;
  auto* hdr = reinterpret_cast<tpacket2_hdr*>(txMap_ + static_cast<size_t>(txHead_) * txFrameSize_);
  uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
  // Ours to fill: available, or rejected by the kernel (with PACKET_LOSS it
  // marks those available itself; without, reusing the slot unblocks the ring).
  bool userMayFill = status == TP_STATUS_AVAILABLE || (status & TP_STATUS_WRONG_FORMAT) != 0;
  if (!userMayFill) return nullptr;
  *capacity = txFrameSize_ - TxDataOffset() - txVnetBytes_;
  return reinterpret_cast<uint8_t*>(hdr) + TxDataOffset() + txVnetBytes_;
}

void PacketRing::TxCommit(uint32_t length) {
  auto* hdr = reinterpret_cast<tpacket2_hdr*>(txMap_ + static_cast<size_t>(txHead_) * txFrameSize_);
  if (txVnetBytes_ != 0) {
    // No checksum or segmentation offload; the whole frame is "header", so
    // the kernel copies all of it into the skb's linear part.
    VnetHeader vnet{};
    vnet.hdrLen = static_cast<uint16_t>(length);
    std::memcpy(reinterpret_cast<uint8_t*>(hdr) + TxDataOffset(), &vnet, sizeof(vnet));
    length += txVnetBytes_;
  }
  hdr->tp_len = length;
  hdr->tp_snaplen = length;
  __atomic_store_n(&hdr->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
  txHead_ = txHead_ + 1 == txFrameCount_ ? 0 : txHead_ + 1;
}

int PacketRing::Kick() {
  if (txFd_ < 0) return EBADF;
  if (sendto(txFd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0) return errno;
  return 0;
}

void PacketRing::WaitTxSlot(int timeoutMs) {
  if (txFd_ < 0) return;
  pollfd p{txFd_, POLLOUT, 0};
  poll(&p, 1, timeoutMs);
}

int PacketRing::UpdateKernelStats(Counters* counters) {
  if (rxFd_ < 0) return EBADF;
  tpacket_stats_v3 stats{};
  socklen_t len = sizeof(stats);
  if (getsockopt(rxFd_, SOL_PACKET, PACKET_STATISTICS, &stats, &len) != 0) return errno;
  counters->Add(kCounter_kernelPackets, stats.tp_packets);
  counters->Add(kCounter_kernelDrops, stats.tp_drops);
  counters->Add(kCounter_kernelQueueFreezes, stats.tp_freeze_q_cnt);
  return 0;
}

}  // namespace syncache
