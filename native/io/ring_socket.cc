#include "io/ring_socket.h"

#include <linux/if_packet.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace syncache {

bool RingSocket::Open(const AfPacketConfig& config, int version, SysError* error) {
  Close();
  fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    const int err = errno;
    return afpacket::Fail(error, err, "socket", "cannot open an AF_PACKET socket on " + afpacket::Where(config),
                          afpacket::PermissionHint(err, "CAP_NET_RAW"));
  }
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) != 0) {
    afpacket::Fail(error, errno, "setsockopt",
                   "cannot select TPACKET_V" + std::to_string(version + 1) + " (PACKET_VERSION)");
    Close();
    return false;
  }
  return true;
}

bool RingSocket::MapRing(int option, const void* req, socklen_t reqLen, size_t bytes, const char* hint,
                         SysError* error) {
  const bool tx = option == PACKET_TX_RING;
  const std::string ring = tx ? "the TX ring" : "the RX ring";
  if (setsockopt(fd, SOL_PACKET, option, req, reqLen) != 0)
    return afpacket::Fail(error, errno, "setsockopt",
                          "cannot create " + ring + (tx ? " (PACKET_TX_RING)" : " (PACKET_RX_RING)"), hint);
  void* mapped = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) return afpacket::Fail(error, errno, "mmap", "cannot map " + ring);
  map = static_cast<uint8_t*>(mapped);
  mapBytes_ = bytes;
  return true;
}

int RingSocket::Bind(int ifindex, uint16_t protocol) {
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = protocol;
  addr.sll_ifindex = ifindex;
  return bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ? errno : 0;
}

void RingSocket::Close() {
  if (map != nullptr) munmap(map, mapBytes_);
  if (fd >= 0) close(fd);
  map = nullptr;
  mapBytes_ = 0;
  fd = -1;
}

}  // namespace syncache
