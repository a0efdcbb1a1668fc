// What an AF_XDP socket's rings and UMEM say, apart from the socket
// (io/af_xdp.h maps them; the sanitizer build walks rings it writes itself):
// who owns each frame, which descriptors wait, and the cursors.
//
// An AF_XDP socket shares with the kernel one area of equal frames (the
// UMEM) and four single-producer, single-consumer rings. Each ring has a
// power-of-two number of entries and two free-running u32 indices (an
// entry's slot is its index modulo the size):
//
//   ring        producer -> consumer   entries
//   fill        user     -> kernel     UMEM addresses the kernel may receive into
//   RX          kernel   -> user       descriptors {addr, len} of received frames
//   TX          user     -> kernel     descriptors of frames to send
//   completion  kernel   -> user       addresses of sent frames, ours again
//
// A producer writes entries, then publishes its index (release order); a
// consumer reads the producer's index (acquire), then the entries, then
// publishes its own index (release), which hands the slots back.
//
// The UMEM is split once: frames [0, rxFrames) receive, the rest send. Each
// frame has an owner:
//   kUser    ours: an RX frame waiting to go back on the fill ring, or a TX
//            frame free to write into;
//   kKernel  the kernel's: an RX frame posted on the fill ring (and the
//            frame received into it until we consume its descriptor); a TX
//            frame posted on the TX ring until its completion comes back.
// A frame is read or written only while it is ours, or (RX) while the
// descriptor that names it is between our consumer and the kernel's producer.
//
// What the kernel writes is checked before it is followed:
//   an index    RX and completion: the kernel's producer may be at most the
//               ring's size ahead of our consumer; fill and TX: the kernel's
//               consumer at most our producer, and at most the size behind
//               it. Otherwise ringBadIndex, and the ring counts as empty
//               (RX, completion) or full (fill, TX): nothing past it is read.
//   an RX       its bytes must lie inside one RX frame that the kernel owns;
//   descriptor  otherwise rxBadFrame, the frame is not read, its slot is
//               consumed. Each descriptor is read once into a local copy.
//   a           the start of a TX frame that the kernel owns; otherwise
//   completion  txBadCompletion and it is dropped, so a frame is never on
//               the free list twice. (Not whether the kernel has taken its
//               descriptor yet: in copy mode a completion may be published
//               before the TX consumer index that took it.)
// Likewise an RX descriptor naming a frame we posted again since cannot be
// told from a real one; either way nothing outside the frame is read.
//
// RX reads as TPACKET_V2's (io/tpacket_ring.h): a frame is readable the
// moment its descriptor is published, so the ring can look ahead: take the
// frames that must not wait behind a flood of SYNs out of their turn (their
// slot is marked, so the in-order read skips it; the frame goes back to the
// fill ring at once), look at waiting frames without taking them, and take
// the frames at the head that are only a handed-over flow's. A descriptor
// has no timestamp, VLAN tag or checksum status: the caller gives each read
// one time, the tag stays in the frame (802.1Q in band), and a checksum a
// local sender left to the device reaches us unfinished (the parser drops
// it), so a local sender's checksum offload must be off.
#pragma once

#include <linux/if_xdp.h>

#include <cstdint>
#include <vector>

#include "boundary/counters.h"

namespace syncache {

namespace xsk {

inline uint32_t LoadAcquire(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
inline void StoreRelease(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// One ring as mapped: its two indices, its flags word and its entries.
struct RingMemory {
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  uint32_t* flags = nullptr;
  void* entries = nullptr;
  uint32_t size = 0;  // a power of two
};

// A ring we produce into and the kernel consumes (fill, TX).
template <typename Entry>
class ProducerRing {
 public:
  void Attach(const RingMemory& memory) {
    memory_ = memory;
    mask_ = memory.size - 1;
    produced_ = memory.producer != nullptr ? *memory.producer : 0;
  }
  // Into *free, the slots we may write now; false if the kernel's consumer
  // index lies outside [produced - size, produced].
  bool Free(uint32_t* free) const {
    const uint32_t inKernel = produced_ - LoadAcquire(memory_.consumer);
    if (inKernel > memory_.size) return false;
    *free = memory_.size - inKernel;
    return true;
  }
  // Entries published but not consumed yet; false as for Free.
  bool Unconsumed(uint32_t* n) const {
    const uint32_t inKernel = produced_ - LoadAcquire(memory_.consumer);
    if (inKernel > memory_.size) return false;
    *n = inKernel;
    return true;
  }
  // The i-th slot after the last one published.
  Entry* Slot(uint32_t i) { return static_cast<Entry*>(memory_.entries) + ((produced_ + i) & mask_); }
  void Publish(uint32_t n) {
    produced_ += n;
    StoreRelease(memory_.producer, produced_);
  }
  bool NeedsWakeup() const {
    return memory_.flags != nullptr && (__atomic_load_n(memory_.flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP) != 0;
  }

 private:
  RingMemory memory_;
  uint32_t mask_ = 0;
  uint32_t produced_ = 0;
};

// A ring the kernel produces into and we consume (RX, completion).
template <typename Entry>
class ConsumerRing {
 public:
  void Attach(const RingMemory& memory) {
    memory_ = memory;
    mask_ = memory.size - 1;
    consumed_ = memory.consumer != nullptr ? *memory.consumer : 0;
  }
  // Into *n, the entries waiting from our consumer on; false if the
  // kernel's producer index claims more than the ring holds.
  bool Waiting(uint32_t* n) const {
    const uint32_t waiting = LoadAcquire(memory_.producer) - consumed_;
    if (waiting > memory_.size) return false;
    *n = waiting;
    return true;
  }
  const Entry* At(uint32_t index) const { return static_cast<const Entry*>(memory_.entries) + (index & mask_); }
  uint32_t consumed() const { return consumed_; }
  uint32_t size() const { return memory_.size; }
  // Hands the next n slots back.
  void Release(uint32_t n) {
    consumed_ += n;
    StoreRelease(memory_.consumer, consumed_);
  }

 private:
  RingMemory memory_;
  uint32_t mask_ = 0;
  uint32_t consumed_ = 0;
};

}  // namespace xsk

class XskRings {
 public:
  struct Layout {
    uint8_t* umem = nullptr;
    uint32_t frameSize = 0;  // a power of two
    uint32_t rxFrames = 0;   // fill and RX rings have this many entries
    uint32_t txFrames = 0;   // TX and completion rings have this many entries
    xsk::RingMemory fill, rx, tx, completion;
  };

  // Checks the layout (sizes powers of two, each ring as large as its
  // frames) and takes it, every frame ours; false (nothing taken) if wrong.
  // Then Refill posts the RX frames.
  bool Attach(const Layout& layout);
  void Detach() { layout_ = Layout{}; }
  bool attached() const { return layout_.umem != nullptr; }

  // ---- RX

  // Walks the received frames in order, calling
  //   bool visit(const uint8_t* frame, uint32_t length, uint16_t vlanTci, double timeMs)
  // until `maxAccepted` visits returned true; each frame read is consumed
  // and its UMEM frame becomes ours, for Refill. Never blocks. Counts
  // rxFrames, rxBlocks (one per read that took anything), rxBatchFull,
  // rxBadFrame, ringBadIndex.
  template <typename Visit>
  uint32_t Receive(uint32_t maxAccepted, Counters* counters, double timeMs, Visit&& visit);

  // Takes, ahead of their turn, the waiting frames `urgent(frame, length)`
  // picks, calling visit for each, until `maxAccepted` were accepted; their
  // slots are marked so Receive skips them, and their frames are ours at
  // once. Each call looks on from where the last one stopped.
  template <typename Urgent, typename Visit>
  uint32_t ReceiveUrgent(uint32_t maxAccepted, Counters* counters, double timeMs, Urgent urgent, Visit&& visit);

  // Shows `visit` the waiting frames without taking any, from ring index
  // `start` (-1, or an index no longer waiting: our consumer). Returns the
  // index after the last one shown, for the next call (valid while nothing
  // is received in between).
  template <typename Visit>
  int64_t Peek(int64_t start, double timeMs, Visit&& visit);

  // Takes the frames at the head for as long as
  // `skip(frame, length, vlanTci, timeMs)` says they are nothing to
  // Receive's caller (and slots ReceiveUrgent took, and bad descriptors, as
  // Receive would), stopping at the first other frame. Returns the slots taken.
  template <typename Skip>
  uint32_t SkipLeading(Counters* counters, double timeMs, Skip&& skip);

  // Whether Receive would find a slot now (a read of the producer index).
  bool Waiting() const {
    uint32_t n = 0;
    return attached() && rx_.Waiting(&n) && n > 0;
  }

  // Posts the RX frames we hold on the fill ring, as many as it has room
  // for; returns how many. Counts ringBadIndex.
  uint32_t Refill(Counters* counters);
  // Whether the kernel asks to be woken to take from the fill ring.
  bool FillNeedsWakeup() const { return fill_.NeedsWakeup(); }

  // ---- TX

  // Takes back the frames the kernel has sent (completion ring), then says
  // how many frames may be posted now: free TX frames with room for them on
  // the TX ring. Counts txBadCompletion, ringBadIndex.
  uint32_t BeginTx(Counters* counters);
  // The next free TX frame (BeginTx said there is one), frameSize bytes.
  uint8_t* NextTxFrame() { return layout_.umem + Address(txFree_.back()); }
  // Posts NextTxFrame()'s frame with `length` bytes; the kernel sees it
  // after PublishTx.
  void PostTx(uint32_t length);
  void PublishTx() {
    if (txPosted_ == 0) return;
    tx_.Publish(txPosted_);
    txPosted_ = 0;
  }
  // Descriptors published that the kernel has not taken off the TX ring
  // yet (0 if its index is bad).
  uint32_t TxUnconsumed() const {
    uint32_t n = 0;
    return attached() && tx_.Unconsumed(&n) ? n : 0;
  }
  bool TxNeedsWakeup() const { return tx_.NeedsWakeup(); }
  // Takes completions back; returns the frames freed.
  uint32_t Reap(Counters* counters);

  uint32_t frameSize() const { return layout_.frameSize; }
  uint32_t txFree() const { return static_cast<uint32_t>(txFree_.size()); }
  uint32_t rxHeld() const { return static_cast<uint32_t>(rxHeld_.size()); }

 private:
  enum Owner : uint8_t { kUser, kKernel };

  uint64_t Address(uint32_t frame) const { return static_cast<uint64_t>(frame) << frameShift_; }
  // The bytes an RX descriptor names, if they lie inside one RX frame that
  // the kernel owns; else nullptr.
  uint8_t* RxBytes(uint64_t addr, uint32_t length) const {
    if (addr >= rxBytes_) return nullptr;
    if ((addr & (layout_.frameSize - 1)) + length > layout_.frameSize) return nullptr;
    if (owner_[addr >> frameShift_] != kKernel) return nullptr;
    return layout_.umem + addr;
  }
  // The descriptor at ring index i, read once.
  xdp_desc ReadRx(uint32_t i) const {
    const xdp_desc* d = rx_.At(i);
    xdp_desc copy;
    copy.addr = __atomic_load_n(&d->addr, __ATOMIC_RELAXED);
    copy.len = __atomic_load_n(&d->len, __ATOMIC_RELAXED);
    copy.options = 0;
    return copy;
  }
  // An RX frame read: ours again, for Refill.
  void Reclaim(uint64_t addr) {
    const uint32_t frame = static_cast<uint32_t>(addr >> frameShift_);
    owner_[frame] = kUser;
    rxHeld_.push_back(frame);
  }
  bool TakenEarly(uint32_t index) const { return takenEarly_[index & (layout_.rxFrames - 1)] != 0; }
  void MarkTakenEarly(uint32_t index, bool taken) { takenEarly_[index & (layout_.rxFrames - 1)] = taken ? 1 : 0; }
  // Consumes the next `n` RX slots (their marks cleared).
  void ConsumeRx(uint32_t n) {
    for (uint32_t i = 0; i < n; i++) MarkTakenEarly(rx_.consumed() + i, false);
    rx_.Release(n);
  }

  Layout layout_;
  uint32_t frameShift_ = 0;
  uint64_t rxBytes_ = 0;  // RX frames end here; TX frames up to totalBytes_
  uint64_t totalBytes_ = 0;
  xsk::ProducerRing<uint64_t> fill_;
  xsk::ConsumerRing<xdp_desc> rx_;
  xsk::ProducerRing<xdp_desc> tx_;
  xsk::ConsumerRing<uint64_t> completion_;
  std::vector<Owner> owner_;          // per frame
  std::vector<uint32_t> rxHeld_;      // RX frames ours, for the fill ring
  std::vector<uint32_t> txFree_;      // TX frames ours, free to write
  std::vector<uint8_t> takenEarly_;   // per RX slot: ReceiveUrgent took it
  uint32_t urgentLooked_ = 0;         // the RX index ReceiveUrgent looks at next
  uint32_t txPosted_ = 0;             // posted since the last PublishTx
};

// ---------------------------------------------------------------------------

inline bool XskRings::Attach(const Layout& layout) {
  auto powerOfTwo = [](uint64_t v) { return v != 0 && (v & (v - 1)) == 0; };
  if (layout.umem == nullptr || !powerOfTwo(layout.frameSize) || layout.frameSize < 2048 ||
      !powerOfTwo(layout.rxFrames) || !powerOfTwo(layout.txFrames) || layout.fill.size != layout.rxFrames ||
      layout.rx.size != layout.rxFrames || layout.tx.size != layout.txFrames ||
      layout.completion.size != layout.txFrames)
    return false;
  layout_ = layout;
  frameShift_ = static_cast<uint32_t>(__builtin_ctz(layout.frameSize));
  rxBytes_ = static_cast<uint64_t>(layout.rxFrames) << frameShift_;
  totalBytes_ = static_cast<uint64_t>(layout.rxFrames + layout.txFrames) << frameShift_;
  fill_.Attach(layout.fill);
  rx_.Attach(layout.rx);
  tx_.Attach(layout.tx);
  completion_.Attach(layout.completion);
  owner_.assign(layout.rxFrames + layout.txFrames, kUser);
  rxHeld_.clear();
  rxHeld_.reserve(layout.rxFrames);
  for (uint32_t f = layout.rxFrames; f > 0; f--) rxHeld_.push_back(f - 1);
  txFree_.clear();
  txFree_.reserve(layout.txFrames);
  for (uint32_t f = layout.rxFrames + layout.txFrames; f > layout.rxFrames; f--) txFree_.push_back(f - 1);
  takenEarly_.assign(layout.rxFrames, 0);
  urgentLooked_ = rx_.consumed();
  txPosted_ = 0;
  return true;
}

inline uint32_t XskRings::Refill(Counters* counters) {
  if (!attached() || rxHeld_.empty()) return 0;
  uint32_t free = 0;
  if (!fill_.Free(&free)) {
    counters->Bump(kCounter_ringBadIndex);
    return 0;
  }
  const uint32_t n = free < rxHeld_.size() ? free : static_cast<uint32_t>(rxHeld_.size());
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t frame = rxHeld_.back();
    rxHeld_.pop_back();
    owner_[frame] = kKernel;
    *fill_.Slot(i) = Address(frame);
  }
  if (n > 0) fill_.Publish(n);
  return n;
}

template <typename Visit>
uint32_t XskRings::Receive(uint32_t maxAccepted, Counters* counters, double timeMs, Visit&& visit) {
  if (!attached()) return 0;
  uint32_t waiting = 0;
  if (!rx_.Waiting(&waiting)) {
    counters->Bump(kCounter_ringBadIndex);
    return 0;
  }
  uint32_t accepted = 0;
  uint32_t taken = 0;
  while (taken < waiting && accepted < maxAccepted) {
    const uint32_t index = rx_.consumed() + taken;
    taken++;
    if (TakenEarly(index)) continue;  // ReceiveUrgent had it (and counted it)
    const xdp_desc d = ReadRx(index);
    uint8_t* frame = RxBytes(d.addr, d.len);
    if (frame == nullptr) {
      counters->Bump(kCounter_rxBadFrame);
      continue;
    }
    counters->Bump(kCounter_rxFrames);
    if (visit(frame, d.len, 0, timeMs)) accepted++;
    Reclaim(d.addr);
  }
  if (taken > 0) {
    ConsumeRx(taken);
    counters->Bump(kCounter_rxBlocks);
  }
  if (accepted == maxAccepted) counters->Bump(kCounter_rxBatchFull);
  return accepted;
}

template <typename Urgent, typename Visit>
uint32_t XskRings::ReceiveUrgent(uint32_t maxAccepted, Counters* counters, double timeMs, Urgent urgent,
                                 Visit&& visit) {
  if (!attached()) return 0;
  uint32_t waiting = 0;
  if (!rx_.Waiting(&waiting)) {
    counters->Bump(kCounter_ringBadIndex);
    return 0;
  }
  // Looked at already: from our consumer up to urgentLooked_ (none if
  // Receive has gone past it, or it is not among the waiting).
  if (urgentLooked_ - rx_.consumed() > waiting) urgentLooked_ = rx_.consumed();
  uint32_t accepted = 0;
  while (accepted < maxAccepted && urgentLooked_ - rx_.consumed() < waiting) {
    const uint32_t index = urgentLooked_++;
    if (TakenEarly(index)) continue;
    const xdp_desc d = ReadRx(index);
    uint8_t* frame = RxBytes(d.addr, d.len);
    if (frame == nullptr || !urgent(frame, d.len)) continue;
    counters->Bump(kCounter_rxFrames);
    if (visit(frame, d.len, 0, timeMs)) accepted++;
    MarkTakenEarly(index, true);
    Reclaim(d.addr);
  }
  return accepted;
}

template <typename Visit>
int64_t XskRings::Peek(int64_t start, double timeMs, Visit&& visit) {
  if (!attached()) return -1;
  uint32_t waiting = 0;
  if (!rx_.Waiting(&waiting)) return rx_.consumed();
  uint32_t index = rx_.consumed();
  if (start >= 0 && start <= UINT32_MAX && static_cast<uint32_t>(start) - rx_.consumed() <= waiting)
    index = static_cast<uint32_t>(start);
  for (; index - rx_.consumed() < waiting; index++) {
    if (TakenEarly(index)) continue;
    const xdp_desc d = ReadRx(index);
    uint8_t* frame = RxBytes(d.addr, d.len);
    if (frame != nullptr) visit(frame, d.len, 0, timeMs);
  }
  return index;
}

template <typename Skip>
uint32_t XskRings::SkipLeading(Counters* counters, double timeMs, Skip&& skip) {
  if (!attached()) return 0;
  uint32_t waiting = 0;
  if (!rx_.Waiting(&waiting)) {
    counters->Bump(kCounter_ringBadIndex);
    return 0;
  }
  uint32_t taken = 0;
  while (taken < waiting) {
    const uint32_t index = rx_.consumed() + taken;
    if (!TakenEarly(index)) {
      const xdp_desc d = ReadRx(index);
      uint8_t* frame = RxBytes(d.addr, d.len);
      if (frame == nullptr) {
        counters->Bump(kCounter_rxBadFrame);
      } else {
        if (!skip(frame, d.len, 0, timeMs)) break;  // stays, for Receive
        counters->Bump(kCounter_rxFrames);
        Reclaim(d.addr);
      }
    }
    taken++;
  }
  if (taken > 0) ConsumeRx(taken);
  return taken;
}

inline uint32_t XskRings::Reap(Counters* counters) {
  if (!attached()) return 0;
  uint32_t waiting = 0;
  if (!completion_.Waiting(&waiting)) {
    counters->Bump(kCounter_ringBadIndex);
    return 0;
  }
  uint32_t freed = 0;
  for (uint32_t i = 0; i < waiting; i++) {
    const uint64_t addr = __atomic_load_n(completion_.At(completion_.consumed() + i), __ATOMIC_RELAXED);
    const bool sentFrame = addr >= rxBytes_ && addr < totalBytes_ && (addr & (layout_.frameSize - 1)) == 0 &&
                           owner_[addr >> frameShift_] == kKernel;
    if (!sentFrame) {
      counters->Bump(kCounter_txBadCompletion);
      continue;
    }
    const uint32_t frame = static_cast<uint32_t>(addr >> frameShift_);
    owner_[frame] = kUser;
    txFree_.push_back(frame);
    freed++;
  }
  if (waiting > 0) completion_.Release(waiting);
  return freed;
}

inline uint32_t XskRings::BeginTx(Counters* counters) {
  if (!attached()) return 0;
  Reap(counters);
  uint32_t room = 0;
  if (!tx_.Free(&room)) {
    counters->Bump(kCounter_ringBadIndex);
    return 0;
  }
  room -= room < txPosted_ ? room : txPosted_;
  return room < txFree_.size() ? room : static_cast<uint32_t>(txFree_.size());
}

inline void XskRings::PostTx(uint32_t length) {
  const uint32_t frame = txFree_.back();
  txFree_.pop_back();
  owner_[frame] = kKernel;
  xdp_desc* d = tx_.Slot(txPosted_);
  d->addr = Address(frame);
  d->len = length;
  d->options = 0;
  txPosted_++;
}

}  // namespace syncache
