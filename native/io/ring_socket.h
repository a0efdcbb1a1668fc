// One AF_PACKET socket and the ring mapped over it, owned together (what the
// RX pieces, io/af_packet_rx.h, and the TX piece, io/af_packet_tx.h, each
// hold): the socket is opened with protocol 0 and a TPACKET version, the
// ring requested with setsockopt(PACKET_RX_RING or PACKET_TX_RING) and then
// mmap'ed whole; Close unmaps, then closes.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "boundary/sys_error.h"
#include "io/af_packet.h"

namespace syncache {

class RingSocket {
 public:
  RingSocket() = default;
  RingSocket(const RingSocket&) = delete;
  RingSocket& operator=(const RingSocket&) = delete;
  ~RingSocket() { Close(); }

  // Opens a non-blocking AF_PACKET socket with protocol 0 (it receives
  // nothing until bound) set to TPACKET `version` (closing any open before);
  // on failure *error says why (naming config's interface).
  bool Open(const AfPacketConfig& config, int version, SysError* error);
  // Creates the ring (`option` PACKET_RX_RING or PACKET_TX_RING with the
  // request `req` of `reqLen` bytes) and maps its `bytes`; on failure *error
  // names the ring and carries `hint`.
  bool MapRing(int option, const void* req, socklen_t reqLen, size_t bytes, const char* hint, SysError* error);
  // Binds to the interface `ifindex` for `protocol` (network order; 0: send
  // only); 0 or an errno.
  int Bind(int ifindex, uint16_t protocol);
  // Idempotent: unmaps and closes.
  void Close();

  int fd = -1;
  uint8_t* map = nullptr;

 private:
  size_t mapBytes_ = 0;
};

}  // namespace syncache
