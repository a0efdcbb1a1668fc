// AF_PACKET TX: TPACKET_V2 on a socket made with protocol 0 and bound with
// protocol 0, so it never receives. V2 rather than V3: for TX the kernel
// treats V3 exactly like V2 (fixed-size slots, one status word each); V2 is
// the layout every TX user tests. Slots cycle in order: a slot whose status
// is TP_STATUS_AVAILABLE is ours to fill; we write the frame, then the
// status TP_STATUS_SEND_REQUEST (release order); one sendto(MSG_DONTWAIT)
// kicks the kernel to send every requested slot, and the kernel makes each
// slot available again once its skb is freed. PACKET_LOSS makes the kernel
// skip a malformed slot instead of stopping the ring. A full ring is
// counted, never waited on. With linearTx each slot's frame follows a
// virtio_net_hdr (no offloads; hdr_len the frame's length) that Commit
// fills in. Without txRing the socket is a plain one, for sendmmsg.
#pragma once

#include <cstdint>

#include "boundary/counters.h"
#include "boundary/sys_error.h"
#include "io/af_packet.h"
#include "io/io_backend.h"
#include "io/ring_socket.h"

namespace syncache {

class AfPacketTx final : public TxSink {
 public:
  AfPacketTx() = default;
  AfPacketTx(const AfPacketTx&) = delete;
  AfPacketTx& operator=(const AfPacketTx&) = delete;
  ~AfPacketTx() override { Close(); }

  // Opens the socket and maps the ring; call inside the interface's
  // namespace (OpenAfPacket does).
  bool Open(const AfPacketConfig& config, int ifindex, SysError* error);
  // Idempotent: unmaps and closes.
  void Close();
  int fd() const { return socket_.fd; }

  // The next free slot's data area (capacity in *capacity), or nullptr if
  // the ring is full.
  uint8_t* Slot(uint32_t* capacity);
  // Hands the slot Slot returned to the kernel with a frame of `length`.
  void Commit(uint32_t length);
  // Asks the kernel to send every committed slot; 0 or an errno (EAGAIN,
  // ENOBUFS: the slots stay requested and go with the next kick).
  int Kick();
  // Waits up to timeoutMs for a free slot (for a sender off the JS thread).
  void WaitSlot(int timeoutMs);

  // Kicks every kFramesPerKick frames and after the last.
  uint32_t Send(ReplyWriter& writer, uint32_t count, Counters* counters) override;
  bool Backlogged() const override { return kickPending_; }
  void Flush(Counters* counters) override { KickCounted(counters); }

  // A kick hands every committed frame to the driver in one go; on veth the
  // peer's per-CPU backlog (netdev_max_backlog, 1000) takes such a burst
  // whole or drops its tail, so a large batch goes in slices.
  static constexpr uint32_t kFramesPerKick = 256;

 private:
  bool Map(const AfPacketConfig& config, SysError* error);
  void KickCounted(Counters* counters);

  RingSocket socket_;
  uint32_t frameSize_ = 0;
  uint32_t frameCount_ = 0;
  uint32_t head_ = 0;
  uint32_t vnetBytes_ = 0;  // sizeof(VnetHeader) with linearTx, else 0
  bool kickPending_ = false;
};

}  // namespace syncache
