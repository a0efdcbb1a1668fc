// The AF_PACKET backend (the first behind io/io_backend.h): its
// configuration, and the opening of its pieces on one interface inside a
// network namespace. The pieces, each a socket with its own mmap'ed ring:
//   io/af_packet_rx_v3.h  RX, TPACKET_V3 (blocks; batches best under a flood)
//   io/af_packet_rx_v2.h  RX, TPACKET_V2 (a frame readable the moment it
//                         lands, and a look ahead: for handoffs)
//   io/af_packet_tx.h     TX, TPACKET_V2 slots kicked in slices
// (io/af_packet_rx.h holds what both RX pieces share; io/ring_socket.h owns
// each piece's socket and mapped ring; io/tpacket_ring.h reads the RX rings'
// memory).
//
// Each layout (block size a multiple of the page size, frame size a
// multiple of TPACKET_ALIGNMENT and large enough for the header, no overflow
// in size x count) is checked before anything is mapped.
#pragma once

#include <linux/filter.h>
#include <linux/if_packet.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "boundary/sys_error.h"

namespace syncache {

struct AfPacketConfig {
  std::string iface;
  std::string netns;         // path; empty: the current namespace
  bool rx = true;
  bool tx = true;
  bool txRing = true;        // false: a plain send socket (sendmmsg), no TX ring
  uint32_t blockSize = 1u << 20;
  uint32_t blockCount = 8;
  uint32_t retireMs = 1;
  uint32_t txFrames = 4096;
  uint32_t txFrameSize = 2048;
  uint16_t fanoutGroup = 0;  // 0: no fanout
  bool qdiscBypass = false;
  // TX slots start with a virtio_net_hdr whose hdr_len is the whole frame
  // (PACKET_VNET_HDR), so the kernel copies each frame into its skb's head
  // instead of pinning the slot's page as a zero-copy fragment. A pinned
  // page must be copied again, into a freshly allocated page, wherever the
  // frame crosses into another namespace or is queued for another socket
  // (skb_copy_ubufs on veth): for frames of a few dozen bytes, copying them
  // once up front is the cheaper way. Off for the flood generator, so its
  // offered rates stay comparable along bench/results/.
  bool linearTx = true;
  std::vector<sock_filter> filter;  // attached to the RX socket before bind
};

// Checks an RX/TX layout; on failure describes it in `why` (naming the field).
bool CheckAfPacketLayout(const AfPacketConfig& config, std::string* why);

struct AfPacketInterface {
  int ifindex = 0;
  uint8_t mac[6] = {};
};

class AfPacketRx;
class AfPacketTx;

// Inside config.netns: finds config.iface, opens `rx` and `tx` on it
// (either may be null; config.rx and config.tx say which are wanted) and
// reads its index and MAC into *out. On failure every piece is closed and
// *error says why (what to do in its hint).
bool OpenAfPacket(const AfPacketConfig& config, AfPacketRx* rx, AfPacketTx* tx, AfPacketInterface* out,
                  SysError* error);

namespace afpacket {

constexpr uint32_t kRxFrameSize = 2048;  // a V2 slot; nominal in V3, whose frames are packed
constexpr uint32_t kTxBlockSize = 1u << 16;
// Where a TX slot's data starts (after its tpacket2_hdr).
constexpr uint32_t TxDataOffset() { return TPACKET2_HDRLEN - sizeof(sockaddr_ll); }

// "interface X in ...", for messages.
std::string Where(const AfPacketConfig& config);
// Fills *error; returns false.
inline bool Fail(SysError* error, int err, const char* syscall, std::string what, std::string hint = "") {
  return ReportSysError(error, err, syscall, std::move(what), std::move(hint));
}
using syncache::PermissionHint;

}  // namespace afpacket

}  // namespace syncache
