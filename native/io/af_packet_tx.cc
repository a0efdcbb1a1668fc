#include "io/af_packet_tx.h"

#include <linux/if_packet.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace syncache {

namespace {

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

}  // namespace

using afpacket::Fail;
using afpacket::PermissionHint;
using afpacket::TxDataOffset;
using afpacket::Where;

bool AfPacketTx::Open(const AfPacketConfig& config, int ifindex, SysError* error) {
  Close();
  if (!socket_.Open(config, TPACKET_V2, error)) return false;
  int one = 1;
  if (setsockopt(socket_.fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one)) != 0)
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
  if (setsockopt(socket_.fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) != 0)
    setsockopt(socket_.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  if (config.qdiscBypass &&
      setsockopt(socket_.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0) {
    int err = errno;
    return Fail(error, err, "setsockopt", "cannot set PACKET_QDISC_BYPASS",
                PermissionHint(err, "CAP_NET_ADMIN"));
  }
  if (config.txRing && config.linearTx) {
    if (setsockopt(socket_.fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) != 0)
      return Fail(error, errno, "setsockopt", "cannot set PACKET_VNET_HDR on the TX socket");
    vnetBytes_ = sizeof(VnetHeader);
  }
  if (config.txRing && !Map(config, error)) return false;
  if (int err = socket_.Bind(ifindex, 0); err != 0)  // send only: no receive hook
    return Fail(error, err, "bind", "cannot bind the TX socket to " + Where(config));
  return true;
}

bool AfPacketTx::Map(const AfPacketConfig& config, SysError* error) {
  tpacket_req req{};
  req.tp_block_size = afpacket::kTxBlockSize;
  req.tp_frame_size = config.txFrameSize;
  req.tp_frame_nr = config.txFrames;
  req.tp_block_nr = config.txFrames / (afpacket::kTxBlockSize / config.txFrameSize);
  if (!socket_.MapRing(PACKET_TX_RING, &req, sizeof(req), static_cast<size_t>(req.tp_block_size) * req.tp_block_nr,
                       "try fewer txFrames", error))
    return false;
  frameSize_ = config.txFrameSize;
  frameCount_ = config.txFrames;
  head_ = 0;
  return true;
}

void AfPacketTx::Close() {
  socket_.Close();
  vnetBytes_ = 0;
  kickPending_ = false;
}

uint8_t* AfPacketTx::Slot(uint32_t* capacity) {
  if (socket_.map == nullptr) return nullptr;
  auto* hdr = reinterpret_cast<tpacket2_hdr*>(socket_.map + static_cast<size_t>(head_) * frameSize_);
  uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
  // Ours to fill: available, or rejected by the kernel (with PACKET_LOSS it
  // marks those available itself; without, reusing the slot unblocks the ring).
  bool userMayFill = status == TP_STATUS_AVAILABLE || (status & TP_STATUS_WRONG_FORMAT) != 0;
  if (!userMayFill) return nullptr;
  *capacity = frameSize_ - TxDataOffset() - vnetBytes_;
  return reinterpret_cast<uint8_t*>(hdr) + TxDataOffset() + vnetBytes_;
}

void AfPacketTx::Commit(uint32_t length) {
  auto* hdr = reinterpret_cast<tpacket2_hdr*>(socket_.map + static_cast<size_t>(head_) * frameSize_);
  if (vnetBytes_ != 0) {
    // No checksum or segmentation offload; the whole frame is "header", so
    // the kernel copies all of it into the skb's linear part.
    VnetHeader vnet{};
    vnet.hdrLen = static_cast<uint16_t>(length);
    std::memcpy(reinterpret_cast<uint8_t*>(hdr) + TxDataOffset(), &vnet, sizeof(vnet));
    length += vnetBytes_;
  }
  hdr->tp_len = length;
  hdr->tp_snaplen = length;
  __atomic_store_n(&hdr->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
  head_ = head_ + 1 == frameCount_ ? 0 : head_ + 1;
}

int AfPacketTx::Kick() {
  if (socket_.fd < 0) return EBADF;
  if (sendto(socket_.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0) return errno;
  return 0;
}

void AfPacketTx::WaitSlot(int timeoutMs) {
  if (socket_.fd < 0) return;
  pollfd p{socket_.fd, POLLOUT, 0};
  poll(&p, 1, timeoutMs);
}

void AfPacketTx::KickCounted(Counters* counters) {
  counters->Bump(kCounter_txKicks);
  const int err = Kick();
  // EAGAIN/ENOBUFS leave the slots requested; the next kick sends them.
  kickPending_ = err != 0;
  if (err != 0) counters->Bump(kCounter_txErrors);
}

uint32_t AfPacketTx::Send(ReplyWriter& writer, uint32_t count, Counters* counters) {
  uint32_t sent = 0;
  uint32_t unkicked = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (!writer.Route(i)) continue;
    uint32_t capacity = 0;
    uint8_t* slot = Slot(&capacity);
    if (slot == nullptr) {
      counters->Add(kCounter_txRingFull, count - i);
      break;
    }
    const uint32_t length = writer.Write(i, slot, capacity);
    if (length == 0) continue;  // the writer counted why
    Commit(length);
    sent++;
    if (++unkicked == kFramesPerKick) {
      KickCounted(counters);
      unkicked = 0;
    }
  }
  counters->Add(kCounter_txFrames, sent);
  if (unkicked > 0 || kickPending_) KickCounted(counters);
  return sent;
}

}  // namespace syncache
