// What the two AF_PACKET RX pieces (io/af_packet_rx_v3.h, _v2.h) share: the
// socket, its ring's mmap, the link's state and the kernel's counts.
//
// The socket is made with protocol 0, so it receives nothing until bind; the
// ring, the classic BPF filter and PACKET_IGNORE_OUTGOING are set before we
// bind to ETH_P_ALL on the interface, so no unfiltered frame is ever queued.
// PACKET_FANOUT is joined after bind, because the kernel only lets a bound
// socket join a group; its mode is CBPF, with the steering program of
// io/bpf_filter.h (a flow's hash, and an ICMP error's by the flow it quotes).
//
// Frames a local sender handed over with the TCP checksum left to the device
// (CHECKSUM_PARTIAL, e.g. over veth) carry TP_STATUS_CSUMNOTREADY and only
// the pseudo-header sum in the checksum field; wire::CompletePartialChecksum
// does what the device would (sum from the TCP header to the end, store the
// complement) in the ring, so the parser can verify every frame alike.
#pragma once

#include <linux/if_packet.h>

#include <cstdint>

#include "boundary/counters.h"
#include "boundary/sys_error.h"
#include "io/af_packet.h"
#include "io/io_backend.h"
#include "wire/parse.h"

namespace syncache {

class AfPacketRx : public RxSource {
 public:
  AfPacketRx(const AfPacketRx&) = delete;
  AfPacketRx& operator=(const AfPacketRx&) = delete;
  ~AfPacketRx() override { Close(); }

  // Opens the socket and maps the ring; call inside the interface's
  // namespace (OpenAfPacket does).
  bool Open(const AfPacketConfig& config, int ifindex, SysError* error);
  // Idempotent: unmaps and closes.
  void Close();
  bool IsOpen() const { return fd_ >= 0; }

  int pollFd() const override { return fd_; }
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
  // The ring was just mapped: start reading from its beginning.
  virtual void ResetCursor() = 0;

  // A frame the kernel cut to fit its slot (tp_len > tp_snaplen: a jumbo
  // frame or a GRO super-packet in a 2 KiB V2 slot): never parsed as if
  // whole; its sender resends it, and if it never fits, the counter says why.
  template <typename Hdr>
  static bool Truncated(const Hdr* hdr) {
    return hdr->tp_len > hdr->tp_snaplen;
  }
  // Hands one frame of either TPACKET version to visit with its VLAN tag and
  // time, first completing a checksum that was left to the device.
  template <typename Hdr, typename Visit>
  static bool Deliver(const Hdr* hdr, uint32_t status, uint16_t vlanTci, uint8_t* frame, Visit& visit) {
    if (status & TP_STATUS_CSUMNOTREADY) wire::CompletePartialChecksum(frame, hdr->tp_snaplen);
    const double timeMs = static_cast<double>(hdr->tp_sec) * 1000.0 + hdr->tp_nsec / 1e6;
    return visit(frame, hdr->tp_snaplen, (status & TP_STATUS_VLAN_VALID) ? vlanTci : 0, timeMs);
  }

  static constexpr uint32_t kFrameSize = afpacket::kRxFrameSize;

  const int version_;
  int fd_ = -1;
  uint8_t* map_ = nullptr;
  size_t mapBytes_ = 0;
  uint32_t blockSize_ = 0;
  uint32_t blockCount_ = 0;
  uint32_t frameCount_ = 0;
};

}  // namespace syncache
