// What the two AF_PACKET RX pieces (io/af_packet_rx_v3.h, _v2.h) share: the
// socket, its ring's mmap, the link's state and the kernel's counts.
//
// The socket is made with protocol 0, so it receives nothing until bind; the
// ring, the classic BPF filter and PACKET_IGNORE_OUTGOING are set before we
// bind to ETH_P_ALL on the interface, so no unfiltered frame is ever queued.
// PACKET_FANOUT is joined after bind, because the kernel only lets a bound
// socket join a group; its mode is CBPF, with the steering program of
// io/bpf_filter.h (a flow's hash, and an ICMP error's by the flow it quotes).
// The ring's memory is read by io/tpacket_ring.h.
#pragma once

#include <linux/if_packet.h>

#include <cstdint>

#include "boundary/counters.h"
#include "boundary/sys_error.h"
#include "io/af_packet.h"
#include "io/io_backend.h"
#include "io/ring_socket.h"

namespace syncache {

class AfPacketRx : public RxSource {
 public:
  AfPacketRx(const AfPacketRx&) = delete;
  AfPacketRx& operator=(const AfPacketRx&) = delete;
  ~AfPacketRx() override = default;

  // Opens the socket and maps the ring; call inside the interface's
  // namespace (OpenAfPacket does).
  bool Open(const AfPacketConfig& config, int ifindex, SysError* error);
  // Idempotent: unmaps and closes.
  void Close() {
    socket_.Close();
    Attach(nullptr);
  }
  bool IsOpen() const { return socket_.fd >= 0; }

  int pollFd() const override { return socket_.fd; }
  // The interface going down sets the socket's error (ENETDOWN) and the
  // kernel stops feeding it until the interface comes up again, when it
  // feeds the same socket, ring and fanout group as before.
  int TakeError() override;
  // Asked through the socket (so in its namespace, from any thread): deleted
  // (the kernel unbinds the socket: its ifindex reads -1), down, or up.
  LinkState Link() override;
  // Adds PACKET_STATISTICS (reset by the read) into the kernel* counters.
  int UpdateKernelStats(Counters* counters) override;

 protected:
  explicit AfPacketRx(int version) : version_(version) {}
  // The ring was just mapped at map (nullptr: unmapped): read it from its start.
  virtual void Attach(uint8_t* map) = 0;

  static constexpr uint32_t kFrameSize = afpacket::kRxFrameSize;

  const int version_;
  RingSocket socket_;
  uint32_t blockSize_ = 0;
  uint32_t blockCount_ = 0;
  uint32_t frameCount_ = 0;
};

}  // namespace syncache
