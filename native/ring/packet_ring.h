// One struct owns an interface's AF_PACKET rings: the sockets, the mmaps,
// the layout, and the cursor that says which block or slot is ours.
//
// RX: TPACKET_V3. The kernel fills variable-length frames into blocks of
// blockSize bytes and retires a block to userspace when it is full or after
// retireMs; the block header's status says who owns it (TP_STATUS_USER:
// user_may_read; we hand it back by writing TP_STATUS_KERNEL). A block is
// read frame by frame; when a batch fills in the middle of a block the cursor
// (block, frames left, offset of the next frame) stays there for the next
// call, and a block goes back to the kernel only once fully read.
// The socket is made with protocol 0, so it receives nothing until bind; the
// ring, the classic BPF filter and PACKET_IGNORE_OUTGOING are set before we
// bind to ETH_P_ALL on the interface, so no unfiltered frame is ever queued.
// PACKET_FANOUT is joined after bind, because the kernel only lets a bound
// socket join a group; its mode is CBPF, with the steering program of
// bpf_filter.h (a flow's hash, and an ICMP error's by the flow it quotes).
//
// TX: TPACKET_V2 on a second socket made with protocol 0 and bound with
// protocol 0, so it never receives. V2 rather than V3: for TX the kernel
// treats V3 exactly like V2 (fixed-size slots, one status word each); V2 is
// the layout every TX user tests. Slots cycle in order: a slot whose status is
// TP_STATUS_AVAILABLE is ours to fill; we write the frame, then the status
// TP_STATUS_SEND_REQUEST (release order); one sendto(MSG_DONTWAIT) kicks the
// kernel to send every requested slot, and the kernel makes each slot
// available again once its skb is freed. PACKET_LOSS makes the kernel skip a
// malformed slot instead of stopping the ring. A full ring is counted, never
// waited on. With linearTx each slot's frame follows a virtio_net_hdr (no
// offloads; hdr_len the frame's length) that TxCommit fills in.
//
// Frames a local sender handed over with the TCP checksum left to the device
// (CHECKSUM_PARTIAL, e.g. over veth) carry TP_STATUS_CSUMNOTREADY and only
// the pseudo-header sum in the checksum field; wire::CompletePartialChecksum does
// what the device would (sum from the TCP header to the end, store the
// complement) in the ring, so the parser can verify every frame alike.
//
// The layout (block size a multiple of the page size, frame size a multiple
// of TPACKET_ALIGNMENT and large enough for the header, no overflow in
// size x count) is checked before anything is mapped.
#pragma once

#include <linux/filter.h>
#include <linux/if_packet.h>

#include <cstdint>
#include <string>
#include <vector>

#include "boundary/counters.h"
#include "boundary/sys_error.h"
#include "wire/parse.h"

namespace syncache {

struct RingConfig {
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
  // RX as TPACKET_V2: every frame is readable the moment the kernel has
  // written it, where a V3 block waits to fill or retire (4-8 ms at HZ=250).
  // For handing connections over; V3 batches better under a flood.
  bool lowLatency = false;
  bool qdiscBypass = false;
  // TX slots start with a virtio_net_hdr whose hdr_len is the whole frame
  // (PACKET_VNET_HDR), so the kernel copies each frame into its skb's head
  // instead of pinning the slot's page as a zero-copy fragment. A pinned
  // page must be copied again, into a freshly allocated page, wherever the
  // frame crosses into another namespace or is queued for another socket
  // (skb_copy_ubufs on veth): for frames of a few dozen bytes, copying them
  // once up front is the cheaper way. Off for the flood generator, whose
  // rate figures predate it.
  bool linearTx = true;
  std::vector<sock_filter> filter;  // attached to the RX socket before bind
};

// Checks an RX/TX layout; on failure describes it in `why` (naming the field).
bool CheckRingLayout(const RingConfig& config, std::string* why);

class PacketRing {
 public:
  PacketRing() = default;
  PacketRing(const PacketRing&) = delete;
  PacketRing& operator=(const PacketRing&) = delete;
  ~PacketRing() { Close(); }

  // Opens both sockets (inside config.netns) and maps the rings.
  bool Open(const RingConfig& config, SysError* error);
  // Idempotent: unmaps and closes.
  void Close();
  bool IsOpen() const { return open_; }

  int rxFd() const { return rxFd_; }
  // The interface going down sets the RX socket's error (ENETDOWN) and the
  // kernel stops feeding it until the interface comes up again, when it
  // feeds the same socket, ring and fanout group as before. Reads and clears
  // that error (SO_ERROR); 0 if none.
  int TakeRxError();
  // Where the interface the rings are bound to stands now, asked through the
  // RX socket (so in its namespace, from any thread): deleted (the kernel
  // unbinds the socket: its ifindex reads -1), down, or up.
  enum class Link { kGone, kDown, kUp };
  Link LinkState();
  int txFd() const { return txFd_; }
  int ifindex() const { return ifindex_; }
  const uint8_t* mac() const { return mac_; }

  // Walks frames the kernel has handed over, calling
  //   bool visit(const uint8_t* frame, uint32_t length, uint16_t vlanTci, double timeMs)
  // until `maxAccepted` visits returned true. Never blocks. Returns the
  // number of visits that returned true.
  template <typename Visit>
  uint32_t Receive(uint32_t maxAccepted, Counters* counters, Visit visit);

  // TPACKET_V2 only (else 0): takes, ahead of their turn, the waiting frames
  // `urgent(frame, length)` picks, calling visit(frame, length, vlanTci,
  // timeMs) -> accepted for each, until `maxAccepted` were accepted; their
  // slots are marked so Receive skips them and hands them back in order.
  // Each call looks on from where the last one stopped, so a backlog is
  // looked at once. For handshake completions that must not wait behind a
  // flood of SYNs.
  template <typename Urgent, typename Visit>
  uint32_t ReceiveUrgent(uint32_t maxAccepted, Counters* counters, Urgent urgent, Visit visit);

  // Looks at the frames the kernel has handed over without taking them
  // (Receive still reads each one later), from slot `start` on (-1: from the
  // read cursor), calling visit(frame, length, vlanTci, timeMs) for each.
  // Returns the slot after the last one looked at, for the next call to
  // start from (valid while nothing is received in between), or -1 if this
  // ring cannot peek (TPACKET_V3: frames wait unreadable in the open block).
  // A frame whose checksum was left to the device is completed here, and its
  // status says so, so Receive does not complete it twice.
  template <typename Visit>
  int64_t Peek(int64_t start, Visit visit);

  // TPACKET_V2 only (else 0): takes the waiting frames from the read cursor
  // on for as long as `skip(frame, length, vlanTci, timeMs)` says they are
  // nothing to Receive's caller (and the slots ReceiveUrgent took already,
  // and frames with bad offsets, as Receive would), stopping at the first
  // other frame, which stays for Receive. Returns the frames taken.
  template <typename Skip>
  uint32_t SkipLeading(Counters* counters, Skip skip);

  // The next free TX slot's data area (capacity in *capacity), or nullptr if
  // the ring is full.
  uint8_t* TxSlot(uint32_t* capacity);
  // Hands the slot TxSlot returned to the kernel with a frame of `length`.
  void TxCommit(uint32_t length);
  // Asks the kernel to send every committed slot; 0 or an errno (EAGAIN,
  // ENOBUFS: the slots stay requested and go with the next kick).
  int Kick();
  // Waits up to timeoutMs for a free TX slot (for a sender off the JS thread).
  void WaitTxSlot(int timeoutMs);
  // Adds PACKET_STATISTICS (reset by the read) into the kernel* counters.
  int UpdateKernelStats(Counters* counters);

  // Whether Receive would find a frame now (a read of one status word).
  bool Waiting() const {
    if (rxMap_ == nullptr) return false;
    if (rxV2_) {
      return (__atomic_load_n(&Slot(rxFrame_)->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
    }
    return rxFramesLeft_ > 0 || UserMayRead(Block(rxBlock_));
  }

  // Frames the kernel has put in the block it is still filling (not yet
  // retired, so not readable): a hint, read without the kernel's lock. With
  // HZ=250 a block retires 4 to 8 ms after it opens; whoever must see a
  // frame that just arrived waits until this is 0 or the block retires.
  uint32_t PendingInOpenBlock() const {
    if (rxMap_ == nullptr || rxV2_) return 0;  // V2: nothing waits unreadable
    tpacket_block_desc* block = Block(rxBlock_);
    if (UserMayRead(block)) return 0;  // retired: receive() reads it
    return __atomic_load_n(&block->hdr.bh1.num_pkts, __ATOMIC_RELAXED);
  }

 private:
  bool OpenRx(const RingConfig& config, SysError* error);
  bool OpenTx(const RingConfig& config, SysError* error);
  bool MapTx(const RingConfig& config, SysError* error);
  // Block ownership: the kernel sets TP_STATUS_USER when it retires a block;
  // we hand a block back, fully read, by writing TP_STATUS_KERNEL.
  static bool UserMayRead(tpacket_block_desc* block) {
    return (__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
  }
  static void GiveBackToKernel(tpacket_block_desc* block) {
    __atomic_store_n(&block->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }
  // A V2 slot's header, and its frame (nullptr if the kernel's offsets
  // would take us outside the slot).
  tpacket2_hdr* Slot(uint32_t i) const {
    return reinterpret_cast<tpacket2_hdr*>(rxMap_ + static_cast<size_t>(i) * rxFrameSize_);
  }
  uint8_t* FrameIn(tpacket2_hdr* hdr) const {
    const uint64_t end = static_cast<uint64_t>(hdr->tp_mac) + hdr->tp_snaplen;
    if (hdr->tp_mac < sizeof(tpacket2_hdr) || end > rxFrameSize_) return nullptr;
    return reinterpret_cast<uint8_t*>(hdr) + hdr->tp_mac;
  }
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
  // Deliver for a V2 frame that may stay in the ring (TP_STATUS_USER): its
  // status then says the checksum is done, so it is not completed twice.
  template <typename Visit>
  static bool DeliverInPlace(tpacket2_hdr* hdr, uint32_t status, uint8_t* frame, Visit& visit) {
    const bool result = Deliver(hdr, status, hdr->tp_vlan_tci, frame, visit);
    if (status & TP_STATUS_CSUMNOTREADY) {
      __atomic_store_n(&hdr->tp_status, status & ~static_cast<uint32_t>(TP_STATUS_CSUMNOTREADY), __ATOMIC_RELAXED);
    }
    return result;
  }
  tpacket_block_desc* Block(uint32_t i) const {
    return reinterpret_cast<tpacket_block_desc*>(rxMap_ + static_cast<size_t>(i) * rxBlockSize_);
  }

  bool open_ = false;
  int rxFd_ = -1;
  int txFd_ = -1;
  int ifindex_ = 0;
  uint8_t mac_[6] = {};

  uint8_t* rxMap_ = nullptr;
  size_t rxMapBytes_ = 0;
  uint32_t rxBlockSize_ = 0;
  uint32_t rxBlockCount_ = 0;
  // Cursor: the block we are in, frames left in it (-1: not started), and
  // the offset of its next frame.
  uint32_t rxBlock_ = 0;
  bool rxV2_ = false;
  uint32_t rxFrame_ = 0;
  uint32_t rxFrameSize_ = 0;
  uint32_t rxFrameCount_ = 0;
  int64_t rxFramesLeft_ = -1;
  // V2: slots Receive has handed back so far, and how far ReceiveUrgent has
  // looked (both counted from the ring's opening).
  uint64_t rxConsumed_ = 0;
  uint64_t urgentLooked_ = 0;
  // A mark in tp_status of a slot we own (bit unused by the kernel for RX):
  // ReceiveUrgent took this frame.
  static constexpr uint32_t kTakenEarly = 1u << 30;
  uint64_t rxNext_ = 0;

  uint8_t* txMap_ = nullptr;
  size_t txMapBytes_ = 0;
  uint32_t txFrameSize_ = 0;
  uint32_t txFrameCount_ = 0;
  uint32_t txHead_ = 0;
  uint32_t txVnetBytes_ = 0;  // sizeof(VnetHeader) with linearTx, else 0
};

// ---------------------------------------------------------------------------

template <typename Visit>
uint32_t PacketRing::Receive(uint32_t maxAccepted, Counters* counters, Visit visit) {
  uint32_t accepted = 0;
  if (rxMap_ == nullptr) return 0;
  if (rxV2_) {
    // One frame slot after another; TP_STATUS_USER says the kernel is done.
    bool any = false;
    while (accepted < maxAccepted) {
      tpacket2_hdr* hdr = Slot(rxFrame_);
      const uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
      if ((status & TP_STATUS_USER) == 0) break;
      any = true;
      uint8_t* frame = FrameIn(hdr);
      if (status & kTakenEarly) {
        // ReceiveUrgent had it (and counted it).
      } else if (frame == nullptr) {
        counters->Bump(kCounter_rxBadFrame);
      } else if (Truncated(hdr)) {
        counters->Bump(kCounter_truncatedFrames);
      } else {
        counters->Bump(kCounter_rxFrames);
        if (Deliver(hdr, status, hdr->tp_vlan_tci, frame, visit)) accepted++;
      }
      __atomic_store_n(&hdr->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      rxFrame_ = (rxFrame_ + 1) % rxFrameCount_;
      rxConsumed_++;
    }
    if (any) counters->Bump(kCounter_rxBlocks);
    if (accepted == maxAccepted) counters->Bump(kCounter_rxBatchFull);
    return accepted;
  }
  for (;;) {
    tpacket_block_desc* block = Block(rxBlock_);
    if (!UserMayRead(block)) break;
    const uint8_t* base = reinterpret_cast<const uint8_t*>(block);
    if (rxFramesLeft_ < 0) {
      rxFramesLeft_ = block->hdr.bh1.num_pkts;
      rxNext_ = block->hdr.bh1.offset_to_first_pkt;
      counters->Bump(kCounter_rxBlocks);
    }
    while (rxFramesLeft_ > 0) {
      if (accepted == maxAccepted) {
        counters->Bump(kCounter_rxBatchFull);
        return accepted;
      }
      rxFramesLeft_--;
      // The kernel wrote these offsets, but a bad one must not send us past
      // the block: check before reading, and abandon the block if wrong.
      if (rxNext_ > rxBlockSize_ - sizeof(tpacket3_hdr)) {
        counters->Bump(kCounter_rxBadFrame);
        rxFramesLeft_ = 0;
        break;
      }
      const tpacket3_hdr* hdr = reinterpret_cast<const tpacket3_hdr*>(base + rxNext_);
      uint64_t end = static_cast<uint64_t>(rxNext_) + hdr->tp_mac + hdr->tp_snaplen;
      uint32_t next = hdr->tp_next_offset;
      if (end > rxBlockSize_) {
        counters->Bump(kCounter_rxBadFrame);
        rxFramesLeft_ = 0;
        break;
      }
      uint8_t* frame = const_cast<uint8_t*>(base) + rxNext_ + hdr->tp_mac;
      if (Truncated(hdr)) {
        counters->Bump(kCounter_truncatedFrames);
      } else {
        counters->Bump(kCounter_rxFrames);
        if (Deliver(hdr, hdr->tp_status, hdr->hv1.tp_vlan_tci, frame, visit)) accepted++;
      }
      if (rxFramesLeft_ > 0) {
        if (next == 0) {
          counters->Bump(kCounter_rxBadFrame);
          rxFramesLeft_ = 0;
          break;
        }
        rxNext_ += next;
      }
    }
    GiveBackToKernel(block);
    rxFramesLeft_ = -1;
    rxBlock_ = (rxBlock_ + 1) % rxBlockCount_;
  }
  return accepted;
}

template <typename Skip>
uint32_t PacketRing::SkipLeading(Counters* counters, Skip skip) {
  if (rxMap_ == nullptr || !rxV2_) return 0;
  uint32_t taken = 0;
  for (;;) {
    tpacket2_hdr* hdr = Slot(rxFrame_);
    const uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    uint8_t* frame = FrameIn(hdr);
    if (status & kTakenEarly) {
      // ReceiveUrgent had it (and counted it).
    } else if (frame == nullptr) {
      counters->Bump(kCounter_rxBadFrame);
    } else if (Truncated(hdr)) {
      break;  // stays, for Receive to count
    } else {
      if (!DeliverInPlace(hdr, status, frame, skip)) break;  // stays, for Receive
      counters->Bump(kCounter_rxFrames);
    }
    __atomic_store_n(&hdr->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    rxFrame_ = (rxFrame_ + 1) % rxFrameCount_;
    rxConsumed_++;
    taken++;
  }
  return taken;
}

template <typename Urgent, typename Visit>
uint32_t PacketRing::ReceiveUrgent(uint32_t maxAccepted, Counters* counters, Urgent urgent, Visit visit) {
  if (rxMap_ == nullptr || !rxV2_) return 0;
  if (urgentLooked_ < rxConsumed_) urgentLooked_ = rxConsumed_;
  uint32_t accepted = 0;
  while (accepted < maxAccepted && urgentLooked_ - rxConsumed_ < rxFrameCount_) {
    const uint32_t slot = static_cast<uint32_t>(urgentLooked_ % rxFrameCount_);
    tpacket2_hdr* hdr = Slot(slot);
    const uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    urgentLooked_++;
    uint8_t* frame = FrameIn(hdr);
    if ((status & kTakenEarly) || frame == nullptr || Truncated(hdr) || !urgent(frame, hdr->tp_snaplen)) continue;
    counters->Bump(kCounter_rxFrames);
    if (Deliver(hdr, status, hdr->tp_vlan_tci, frame, visit)) accepted++;
    __atomic_store_n(&hdr->tp_status, (status | kTakenEarly) & ~static_cast<uint32_t>(TP_STATUS_CSUMNOTREADY), __ATOMIC_RELAXED);
  }
  return accepted;
}

template <typename Visit>
int64_t PacketRing::Peek(int64_t start, Visit visit) {
  if (rxMap_ == nullptr || !rxV2_) return -1;
  uint32_t slot = start < 0 ? rxFrame_ : static_cast<uint32_t>(start % rxFrameCount_);
  // Slots from the cursor up to `slot` were looked at already: at most one lap in all.
  for (uint32_t looked = (slot + rxFrameCount_ - rxFrame_) % rxFrameCount_; looked < rxFrameCount_; looked++) {
    tpacket2_hdr* hdr = Slot(slot);
    const uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    uint8_t* frame = FrameIn(hdr);
    if ((status & kTakenEarly) == 0 && frame != nullptr && !Truncated(hdr)) DeliverInPlace(hdr, status, frame, visit);
    slot = (slot + 1) % rxFrameCount_;
  }
  return slot;
}

}  // namespace syncache
