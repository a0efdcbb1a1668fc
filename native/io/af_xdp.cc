#include "io/af_xdp.h"

#include <linux/bpf.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/bpf_syscall.h"
#include "io/netns.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9  // Linux 6.17
#endif

namespace syncache {

namespace {

// The kernel's "not supported" from inside a driver (ENOTSUPP), which a
// bind asking for zero-copy may pass up as is.
constexpr int kKernelNotSupported = 524;

// Frames a copy-mode sendto may send (io/af_xdp_tx.h kicks in slices of 256).
constexpr uint32_t kTxBudget = 256;

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

std::string Where(const AfXdpConfig& config) {
  return "queue " + std::to_string(config.queue) + " of interface " + config.iface +
         (config.netns.empty() ? std::string(" in the current network namespace")
                               : " in network namespace " + config.netns);
}

// Whether a ring's offsets (as XDP_MMAP_OFFSETS gave them) fit a mapping of
// desc + entries: the indices and the flags word 4-aligned and before the
// entries, the entries (u64 or struct xdp_desc) 8-aligned, within a page
// or so of the start.
bool RingOffsetsFit(const xdp_ring_offset& off) {
  auto word = [&](uint64_t at) { return at % 4 == 0 && at + 4 <= off.desc; };
  return word(off.producer) && word(off.consumer) && word(off.flags) && off.desc % 8 == 0 && off.desc <= (1u << 16);
}

}  // namespace

bool CheckAfXdpLayout(const AfXdpConfig& config, std::string* why) {
  if (config.frameSize != 2048 && config.frameSize != 4096) {
    *why = "frameSize must be 2048 or 4096, got " + std::to_string(config.frameSize);
    return false;
  }
  for (auto [name, n] : {std::pair<const char*, uint32_t>{"rxFrames", config.rxFrames}, {"txFrames", config.txFrames}}) {
    if (!IsPowerOfTwo(n) || n < 64 || n > 65536) {
      *why = std::string(name) + " must be a power of two from 64 to 65536, got " + std::to_string(n);
      return false;
    }
  }
  if (config.xskMap < 0) {
    *why = "xskMap must be the fd of an XSKMAP";
    return false;
  }
  return true;
}

bool CheckXskMap(int fd, uint32_t queue, std::string* why) {
  bpf_map_info info;
  const int err = BpfMapInfo(fd, &info);
  if (err != 0) {
    *why = "xskMap (fd " + std::to_string(fd) + ") is not a BPF map: " + std::strerror(err);
    return false;
  }
  if (info.type != BPF_MAP_TYPE_XSKMAP) {
    *why = "xskMap (fd " + std::to_string(fd) + ") is a BPF map of type " + std::to_string(info.type) +
           ", not an XSKMAP (" + std::to_string(BPF_MAP_TYPE_XSKMAP) + ")";
    return false;
  }
  if (queue >= info.max_entries) {
    *why = "queue " + std::to_string(queue) + " has no slot in xskMap (" + std::to_string(info.max_entries) +
           " entries)";
    return false;
  }
  return true;
}

bool XskSocket::Open(const AfXdpConfig& config, int ifindex, SysError* error) {
  Close();
  ifindex_ = ifindex;
  fd_ = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    const int err = errno;
    std::string hint = PermissionHint(err, "CAP_NET_RAW");
    if (err == EAFNOSUPPORT) hint = "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)";
    return ReportSysError(error, err, "socket", "cannot open an AF_XDP socket for " + Where(config), hint);
  }
  linkFd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (linkFd_ < 0) return ReportSysError(error, errno, "socket", "cannot open a datagram socket to watch the link");

  const uint32_t frames = config.rxFrames + config.txFrames;
  umemBytes_ = static_cast<size_t>(frames) * config.frameSize;
  void* area = mmap(nullptr, umemBytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (area == MAP_FAILED) {
    umemBytes_ = 0;
    return ReportSysError(error, errno, "mmap", "cannot allocate the UMEM (" + std::to_string(frames) + " frames)",
                          "try fewer rxFrames or txFrames");
  }
  umem_ = static_cast<uint8_t*>(area);
  xdp_umem_reg reg{};
  reg.addr = reinterpret_cast<uintptr_t>(umem_);
  reg.len = umemBytes_;
  reg.chunk_size = config.frameSize;
  reg.headroom = 0;
  if (setsockopt(fd_, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) != 0) {
    const int err = errno;
    std::string hint = PermissionHint(err, "CAP_IPC_LOCK");
    if (err == ENOBUFS || err == ENOMEM) hint = "the UMEM is pinned: raise RLIMIT_MEMLOCK (ulimit -l) or grant CAP_IPC_LOCK";
    return ReportSysError(error, err, "setsockopt", "cannot register the UMEM (XDP_UMEM_REG)", hint);
  }
  // Every frame in flight counts against the send buffer until its skb is
  // freed (copy mode); let the whole TX share be in flight.
  const int sndbuf = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(config.txFrames) * 2048, INT32_MAX / 2));
  if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) != 0)
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  if (!MapRings(config, error)) return false;
  // Copy mode sends at most this many frames per sendto (32 by default,
  // then EAGAIN): as many as a kick's slice, where the kernel allows it
  // (from 6.17, up to the TX ring's size). Without it kicks just repeat.
  const uint32_t budget = std::min<uint32_t>(config.txFrames, kTxBudget);
  setsockopt(fd_, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget));
  // The RX frames go on the fill ring before bind, so the first frame has
  // somewhere to land.
  Counters unused{};
  rings_.Refill(&unused);
  return Bind(config, error);
}

bool XskSocket::MapRings(const AfXdpConfig& config, SysError* error) {
  struct Size {
    int option;
    uint32_t entries;
    const char* name;
  };
  for (const Size& s : {Size{XDP_UMEM_FILL_RING, config.rxFrames, "fill"}, Size{XDP_UMEM_COMPLETION_RING, config.txFrames, "completion"},
                        Size{XDP_RX_RING, config.rxFrames, "RX"}, Size{XDP_TX_RING, config.txFrames, "TX"}}) {
    if (setsockopt(fd_, SOL_XDP, s.option, &s.entries, sizeof(s.entries)) != 0)
      return ReportSysError(error, errno, "setsockopt", std::string("cannot size the ") + s.name + " ring");
  }
  xdp_mmap_offsets off{};
  socklen_t len = sizeof(off);
  if (getsockopt(fd_, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len) != 0)
    return ReportSysError(error, errno, "getsockopt", "cannot read the rings' offsets (XDP_MMAP_OFFSETS)");
  if (len != sizeof(off))
    return ReportSysError(error, ENOTSUP, "getsockopt", "the rings' offsets have no flags word (XDP_MMAP_OFFSETS)",
                          "needs Linux 5.4 or later");

  auto map = [&](const xdp_ring_offset& o, uint32_t entries, size_t entryBytes, uint64_t pgoff, const char* name,
                 Mapping* m, xsk::RingMemory* ring) {
    if (!RingOffsetsFit(o))
      return ReportSysError(error, EINVAL, "getsockopt", std::string("the ") + name + " ring's offsets do not fit its mapping");
    m->bytes = o.desc + static_cast<size_t>(entries) * entryBytes;
    void* at = mmap(nullptr, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, static_cast<off_t>(pgoff));
    if (at == MAP_FAILED) {
      m->bytes = 0;
      return ReportSysError(error, errno, "mmap", std::string("cannot map the ") + name + " ring");
    }
    m->at = at;
    uint8_t* base = static_cast<uint8_t*>(at);
    ring->producer = reinterpret_cast<uint32_t*>(base + o.producer);
    ring->consumer = reinterpret_cast<uint32_t*>(base + o.consumer);
    ring->flags = reinterpret_cast<uint32_t*>(base + o.flags);
    ring->entries = base + o.desc;
    ring->size = entries;
    return true;
  };
  XskRings::Layout layout;
  layout.umem = umem_;
  layout.frameSize = config.frameSize;
  layout.rxFrames = config.rxFrames;
  layout.txFrames = config.txFrames;
  if (!map(off.fr, config.rxFrames, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING, "fill", &fill_, &layout.fill) ||
      !map(off.cr, config.txFrames, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING, "completion", &completion_,
           &layout.completion) ||
      !map(off.rx, config.rxFrames, sizeof(xdp_desc), XDP_PGOFF_RX_RING, "RX", &rx_, &layout.rx) ||
      !map(off.tx, config.txFrames, sizeof(xdp_desc), XDP_PGOFF_TX_RING, "TX", &tx_, &layout.tx))
    return false;
  if (!rings_.Attach(layout)) return ReportSysError(error, 0, "", "the AF_XDP ring layout is inconsistent");
  return true;
}

bool XskSocket::Bind(const AfXdpConfig& config, SysError* error) {
  sockaddr_xdp addr{};
  addr.sxdp_family = AF_XDP;
  addr.sxdp_ifindex = static_cast<uint32_t>(ifindex_);
  addr.sxdp_queue_id = config.queue;
  int err = 0;
  if (config.zeroCopy) {
    addr.sxdp_flags = XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      zeroCopy_ = true;
      return true;
    }
    err = errno;
    if (err != EOPNOTSUPP && err != kKernelNotSupported) {
      return ReportSysError(error, err, "bind", "cannot bind an AF_XDP socket (zero-copy) to " + Where(config),
                            err == EBUSY ? "another AF_XDP socket holds that queue" : "");
    }
  }
  addr.sxdp_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    err = errno;
    std::string hint;
    if (err == EBUSY) hint = "another AF_XDP socket holds that queue";
    else if (err == EINVAL) hint = "check that the interface has that queue (ethtool -l)";
    return ReportSysError(error, err, "bind", "cannot bind an AF_XDP socket to " + Where(config), hint);
  }
  zeroCopy_ = false;
  return true;
}

void XskSocket::Close() {
  // The socket first: the kernel lets go of the rings and the UMEM's pages.
  if (fd_ >= 0) close(fd_);
  if (linkFd_ >= 0) close(linkFd_);
  fd_ = -1;
  linkFd_ = -1;
  rings_.Detach();
  for (Mapping* m : {&fill_, &rx_, &tx_, &completion_}) {
    if (m->at != nullptr) munmap(m->at, m->bytes);
    *m = Mapping{};
  }
  if (umem_ != nullptr) munmap(umem_, umemBytes_);
  umem_ = nullptr;
  umemBytes_ = 0;
  zeroCopy_ = false;
}

int XskSocket::WakeRx() {
  if (fd_ < 0) return EBADF;
  return recvfrom(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr) < 0 && errno != EAGAIN ? errno : 0;
}

int XskSocket::KickTx() {
  if (fd_ < 0) return EBADF;
  return sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 ? errno : 0;
}

bool OpenAfXdp(const AfXdpConfig& config, std::shared_ptr<XskSocket>* socket, AfXdpInterface* out,
               SysError* error) {
  socket->reset();
  std::string why;
  if (!CheckAfXdpLayout(config, &why) || !CheckXskMap(config.xskMap, config.queue, &why))
    return ReportSysError(error, 0, "", why);

  NetnsScope netns;
  int ifindex = 0;
  if (!netns.EnterAndFind(config.netns, config.iface, Where(config), &ifindex, error)) return false;
  int err = 0;
  auto opened = std::make_shared<XskSocket>();
  if (!opened->Open(config, ifindex, error)) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, config.iface.c_str(), IFNAMSIZ - 1);
  if (ioctl(opened->linkFd(), SIOCGIFHWADDR, &ifr) != 0)
    return ReportSysError(error, errno, "ioctl", "cannot read the MAC address of " + Where(config));
  err = BpfMapPut(config.xskMap, config.queue, static_cast<uint32_t>(opened->fd()));
  if (err != 0)
    return ReportSysError(error, err, "bpf", "cannot put the AF_XDP socket into xskMap at key " + std::to_string(config.queue),
                          PermissionHint(err, "CAP_NET_ADMIN (or CAP_BPF)"));
  err = netns.Leave();
  if (err != 0)
    return ReportSysError(error, err, "setns", "cannot return to the original network namespace",
                          PermissionHint(err, "CAP_SYS_ADMIN"));
  out->ifindex = ifindex;
  std::memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
  *socket = std::move(opened);
  return true;
}

}  // namespace syncache
