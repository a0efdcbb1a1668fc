// The AF_XDP backend (the second behind io/io_backend.h): one XDP socket on
// one queue of an interface, with its own UMEM, read by an RX piece
// (io/af_xdp_rx.h) and written by a TX piece (io/af_xdp_tx.h) that share it.
// What the rings' memory says is read by io/xsk_ring.h.
//
// An XDP program on the interface (the door's, or the lab's redirect
// program in native/lab) sends frames into the socket through an XSKMAP:
// we put the socket's fd at key `queue` of the map the caller gives, and
// the program redirects with key = the frame's RX queue. Frames the
// program does not redirect go on to the kernel as before.
//
// Opening, inside the interface's network namespace (the socket keeps it):
//   1. socket(AF_XDP) (and an AF_INET one for the link's state); the UMEM (rxFrames + txFrames frames of frameSize,
//      headroom 0, anonymous memory) registered with XDP_UMEM_REG;
//   2. the four rings sized (fill and RX: rxFrames; TX and completion:
//      txFrames), their offsets read (XDP_MMAP_OFFSETS) and checked
//      against the mapping before each is mapped;
//   3. the RX frames posted on the fill ring, then bind to (ifindex, queue)
//      with XDP_USE_NEED_WAKEUP, zero-copy first (XDP_ZEROCOPY) and, where
//      the driver has none (EOPNOTSUPP; veth), copy mode (XDP_COPY);
//   4. the socket put into the XSKMAP (it must be bound first). The kernel
//      takes it out again when the socket closes.
// Closing the socket (or the process dying) undoes all of it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "boundary/sys_error.h"
#include "io/xsk_ring.h"

namespace syncache {

struct AfXdpConfig {
  std::string iface;
  std::string netns;       // path; empty: the current namespace
  uint32_t queue = 0;      // the RX queue bound, and the socket's key in the XSKMAP
  int xskMap = -1;         // an XSKMAP's fd (not owned)
  uint32_t frameSize = 2048;  // 2048 or 4096
  uint32_t rxFrames = 4096;   // a power of two, 64 to 65536
  uint32_t txFrames = 4096;   // a power of two, 64 to 65536
  bool zeroCopy = true;    // try XDP_ZEROCOPY before XDP_COPY
};

// Checks the layout; on failure describes it in `why` (naming the field).
bool CheckAfXdpLayout(const AfXdpConfig& config, std::string* why);

// The socket, its UMEM and its mapped rings; RX and TX share one.
class XskSocket {
 public:
  XskSocket() = default;
  XskSocket(const XskSocket&) = delete;
  XskSocket& operator=(const XskSocket&) = delete;
  ~XskSocket() { Close(); }

  // Steps 1-3 above; call inside the interface's namespace (OpenAfXdp does).
  bool Open(const AfXdpConfig& config, int ifindex, SysError* error);
  // Idempotent: closes the socket, unmaps the rings and the UMEM.
  void Close();

  int fd() const { return fd_; }
  int ifindex() const { return ifindex_; }
  // A socket of the same namespace (AF_INET, datagram) for asking about the
  // interface from any thread: an XDP socket answers no interface ioctls.
  int linkFd() const { return linkFd_; }
  bool zeroCopy() const { return zeroCopy_; }
  XskRings& rings() { return rings_; }
  const XskRings& rings() const { return rings_; }
  // Wakes the driver to take from the fill ring (recvfrom); 0 or an errno.
  int WakeRx();
  // Asks the kernel to send what the TX ring holds (sendto); 0 or an errno.
  int KickTx();

 private:
  bool MapRings(const AfXdpConfig& config, SysError* error);
  bool Bind(const AfXdpConfig& config, SysError* error);

  int fd_ = -1;
  int linkFd_ = -1;
  int ifindex_ = 0;
  bool zeroCopy_ = false;
  uint8_t* umem_ = nullptr;
  size_t umemBytes_ = 0;
  struct Mapping {
    void* at = nullptr;
    size_t bytes = 0;
  } fill_, rx_, tx_, completion_;
  XskRings rings_;
};

struct AfXdpInterface {
  int ifindex = 0;
  uint8_t mac[6] = {};
};

// Inside config.netns: finds config.iface, opens *socket on it, puts it into
// config.xskMap and reads the interface's index and MAC into *out. On
// failure nothing stays open and *error says why (what to do in its hint).
bool OpenAfXdp(const AfXdpConfig& config, std::shared_ptr<XskSocket>* socket, AfXdpInterface* out,
               SysError* error);

// Whether `fd` is an XSKMAP with a slot for `queue`; else why not in *why.
bool CheckXskMap(int fd, uint32_t queue, std::string* why);

}  // namespace syncache
