// The AF_XDP ring walkers (native/io/xsk_ring.h) against a model kernel,
// under AddressSanitizer and UndefinedBehaviorSanitizer, without a socket:
// the four rings and the UMEM live in heap memory. The model kernel takes
// frame addresses off the fill ring, writes frames into them (each a unique
// id at its start) and publishes RX descriptors; it takes TX descriptors off
// the TX ring and, some rounds later, publishes their completions. The
// reader receives with random batch sizes, out of turn (ReceiveUrgent), by
// peeking (Peek) and by skipping at the head (SkipLeading), refills, and
// sends frames carrying ids of their own, in random order. Now and then the
// model kernel is hostile: an RX descriptor outside the RX frames, in the
// TX frames, running past its frame's end, or naming a frame the reader
// holds; a completion naming no frame
// in flight (out of range, misaligned, an RX frame, one completed already);
// a ring index beyond what the ring holds (RX and completion producers,
// fill and TX consumers), put back after one operation.
//
// Checked: every frame handed to a visitor lies inside one RX frame; every
// frame the model wrote honestly is taken exactly once (by Receive in
// order); no bad descriptor is ever read (rxBadFrame counts them all); the
// fill ring never gets a frame the kernel holds, the TX ring never a frame
// in flight, and a sent frame's bytes stay as written until its completion;
// a bad completion frees nothing (txBadCompletion); a bad index is counted
// (ringBadIndex) and nothing past it is read; frames are conserved (RX:
// ours + on the fill ring + the kernel's = rxFrames; TX likewise); the
// counters add up.
//
//   xsk_ring_check [--rounds N] [--seed S]
//
// Prints a JSON summary; exits non-zero on the first mismatches.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "boundary/counters.h"
#include "fuzz/splitmix.h"
#include "io/xsk_ring.h"

namespace {

using syncache::Counters;
using syncache::XskRings;

int failures = 0;
void Check(bool ok, const char* what, uint64_t detail = 0) {
  if (ok) return;
  std::fprintf(stderr, "xsk_ring_check: %s (%llu)\n", what, static_cast<unsigned long long>(detail));
  if (++failures > 10) std::exit(1);
}

constexpr uint32_t kFrameSize = 2048;
constexpr uint32_t kRxFrames = 16;
constexpr uint32_t kTxFrames = 16;
constexpr uint64_t kRxBytes = static_cast<uint64_t>(kRxFrames) * kFrameSize;
constexpr uint64_t kUmemBytes = static_cast<uint64_t>(kRxFrames + kTxFrames) * kFrameSize;

// One ring in heap memory, laid out as the kernel maps one: the indices and
// flags apart, then the entries.
template <typename Entry>
struct HeapRing {
  explicit HeapRing(uint32_t size) : entries(size) {}
  uint32_t producer = 0, pad0 = 0, consumer = 0, pad1 = 0, flags = 0;
  std::vector<Entry> entries;
  syncache::xsk::RingMemory Memory() {
    return {&producer, &consumer, &flags, entries.data(), static_cast<uint32_t>(entries.size())};
  }
  Entry& At(uint32_t index) { return entries[index & (entries.size() - 1)]; }
};

// A frame's first 8 bytes: its id and the id's complement (so bytes a bad
// descriptor points at are not taken for a frame).
void WriteId(uint8_t* at, uint32_t id) {
  const uint32_t check = ~id;
  std::memcpy(at, &id, 4);
  std::memcpy(at + 4, &check, 4);
}
uint32_t IdOf(const uint8_t* at, uint32_t length) {
  if (length < 8) return 0;
  uint32_t id, check;
  std::memcpy(&id, at, 4);
  std::memcpy(&check, at + 4, 4);
  return check == ~id ? id : 0;
}
uint32_t Touch(const uint8_t* p, uint32_t n) {
  uint32_t sum = 0;
  for (uint32_t i = 0; i < n; i++) sum += p[i];
  return sum;
}

struct Stats {
  uint64_t written = 0, received = 0, urgent = 0, skipped = 0, peeked = 0, badDescs = 0, sent = 0, completed = 0,
           badCompletions = 0, badIndices = 0;
};

class Model {
 public:
  Model(Random* random, Stats* stats)
      : random_(random), stats_(stats), umem_(new uint8_t[kUmemBytes]), fill_(kRxFrames), rx_(kRxFrames),
        tx_(kTxFrames), completion_(kTxFrames), counters_(new Counters{}) {
    std::memset(umem_.get(), 0, kUmemBytes);
    XskRings::Layout layout;
    layout.umem = umem_.get();
    layout.frameSize = kFrameSize;
    layout.rxFrames = kRxFrames;
    layout.txFrames = kTxFrames;
    layout.fill = fill_.Memory();
    layout.rx = rx_.Memory();
    layout.tx = tx_.Memory();
    layout.completion = completion_.Memory();
    XskRings::Layout wrong = layout;
    wrong.rx.size = kRxFrames / 2;
    Check(!rings_.Attach(wrong), "Attach took a ring smaller than its frames");
    Check(rings_.Attach(layout), "Attach refused a good layout");
    rings_.Refill(counters_.get());
    state_.push_back(kSpoiled);  // id 0: no frame's
    inPool_.assign(kRxFrames + kTxFrames, false);
    inFlightFrame_.assign(kRxFrames + kTxFrames, false);
  }

  void Round() {
    KernelReceives();
    KernelSends();
    if (random_->Below(48) == 0) {
      SpoiledIndexRound();
    } else if (random_->Below(48) == 0) {
      ReaderFrameRound();
    } else {
      for (uint32_t ops = 1 + random_->Below(4); ops > 0; ops--) Operate();
    }
    CheckConserved();
  }

  void Drain() {
    for (int guard = 0; guard < 1000 && rings_.Waiting(); guard++) {
      rings_.Receive(64, counters_.get(), 0, [&](const uint8_t* f, uint32_t n, uint16_t, double) {
        Visited(f, n, "drain: Receive took a frame twice", true);
        stats_->received++;
        return true;
      });
      rings_.Refill(counters_.get());
    }
    Check(!rings_.Waiting(), "the RX ring never drained");
    rings_.Reap(counters_.get());
    uint64_t waiting = 0;
    for (uint32_t id = 1; id < state_.size(); id++) waiting += state_[id] == kWaiting;
    Check(waiting == 0, "whole frames never taken", waiting);
    const uint64_t* c = counters_->value;
    Check(c[syncache::kCounter_rxFrames] == stats_->received + stats_->urgent + stats_->skipped,
          "rxFrames != frames taken", c[syncache::kCounter_rxFrames]);
    Check(c[syncache::kCounter_rxBadFrame] == stats_->badDescs, "rxBadFrame != bad descriptors written",
          c[syncache::kCounter_rxBadFrame]);
    Check(c[syncache::kCounter_txBadCompletion] == stats_->badCompletions, "txBadCompletion != bad completions written",
          c[syncache::kCounter_txBadCompletion]);
    Check(c[syncache::kCounter_ringBadIndex] == stats_->badIndices, "ringBadIndex != bad indices read",
          c[syncache::kCounter_ringBadIndex]);
  }

 private:
  enum IdState : uint8_t { kWaiting, kTaken, kSpoiled };

  // What the model put in one RX slot: the frame's id (0: a bad descriptor).
  struct RxSlot {
    uint32_t id = 0;
    uint32_t frame = 0;
  };

  // ---- the model kernel

  void KernelReceives() {
    // Take frames off the fill ring, as many as it has or fewer.
    const uint32_t posted = __atomic_load_n(&fill_.producer, __ATOMIC_ACQUIRE);
    for (uint32_t n = random_->Below(kRxFrames + 1); n > 0 && fillTaken_ != posted; n--) {
      const uint64_t addr = fill_.At(fillTaken_++);
      const bool rxFrame = addr < kRxBytes && addr % kFrameSize == 0;
      Check(rxFrame, "the fill ring got an address that is no RX frame's", addr);
      if (!rxFrame) continue;
      const uint32_t frame = static_cast<uint32_t>(addr / kFrameSize);
      Check(!inPool_[frame], "the fill ring got a frame the kernel holds", frame);
      Check(!NamedByWaitingSlot(frame), "the fill ring got a frame whose descriptor was not consumed", frame);
      inPool_[frame] = true;
      pool_.push_back(frame);
    }
    __atomic_store_n(&fill_.consumer, fillTaken_, __ATOMIC_RELEASE);
    // Receive into some of them (or write a bad descriptor).
    for (uint32_t n = random_->Below(8); n > 0; n--) {
      if (rx_.producer - __atomic_load_n(&rx_.consumer, __ATOMIC_ACQUIRE) >= kRxFrames) break;
      xdp_desc d{};
      RxSlot slot;
      if (random_->Below(24) == 0) {
        d = HostileDesc();
        stats_->badDescs++;
      } else {
        if (pool_.empty()) break;
        const uint32_t frame = pool_.front();
        pool_.pop_front();
        inPool_[frame] = false;
        const uint32_t offset = random_->Below(2) ? 256 : 0;
        d.addr = static_cast<uint64_t>(frame) * kFrameSize + offset;
        d.len = 8 + random_->Below(kFrameSize - offset - 8 + 1);
        slot.id = static_cast<uint32_t>(state_.size());
        slot.frame = frame;
        WriteId(umem_.get() + d.addr, slot.id);
        state_.push_back(kWaiting);
        stats_->written++;
      }
      rxSlots_[rx_.producer % kRxFrames] = slot;
      rx_.At(rx_.producer) = d;
      __atomic_store_n(&rx_.producer, rx_.producer + 1, __ATOMIC_RELEASE);
    }
  }

  xdp_desc HostileDesc() {
    xdp_desc d{};
    switch (random_->Below(4)) {
      case 0: d.addr = kUmemBytes + random_->Below(1u << 20); d.len = 64; break;             // past the UMEM
      case 1: d.addr = kRxBytes + random_->Below(kTxFrames) * kFrameSize; d.len = 64; break;  // a TX frame
      case 2: d.addr = random_->Below(kRxFrames) * kFrameSize + 256; d.len = kFrameSize - 255 + random_->Below(4096); break;
      default: d.addr = ~0ull - random_->Below(4096); d.len = 0xffffffffu - random_->Below(16); break;
    }
    return d;
  }

  // Whether the reader holds RX frame `frame`: not the kernel's (in its
  // pool, or on the fill ring), nor named by a slot not taken yet.
  bool ReaderHolds(uint32_t frame) const {
    if (inPool_[frame] || NamedByWaitingSlot(frame)) return false;
    for (uint32_t i = fillTaken_; i != fill_.producer; i++) {
      if (fill_.entries[i % kRxFrames] == static_cast<uint64_t>(frame) * kFrameSize) return false;
    }
    return true;
  }

  // Whether an RX slot the reader has not consumed names `frame` and its
  // frame was not taken out of turn.
  bool NamedByWaitingSlot(uint32_t frame) const {
    for (uint32_t i = rx_.consumer; i != rx_.producer; i++) {
      const RxSlot& slot = rxSlots_[i % kRxFrames];
      if (slot.id != 0 && slot.frame == frame && state_[slot.id] == kWaiting) return true;
    }
    return false;
  }

  void KernelSends() {
    // Take descriptors off the TX ring.
    const uint32_t posted = __atomic_load_n(&tx_.producer, __ATOMIC_ACQUIRE);
    for (uint32_t n = random_->Below(kTxFrames + 1); n > 0 && txTaken_ != posted; n--) {
      const xdp_desc d = tx_.At(txTaken_++);
      const bool txFrame = d.addr >= kRxBytes && d.addr < kUmemBytes && d.addr % kFrameSize == 0 && d.len <= kFrameSize;
      Check(txFrame, "a TX descriptor outside the TX frames", d.addr);
      if (!txFrame) continue;
      const uint32_t frame = static_cast<uint32_t>(d.addr / kFrameSize);
      Check(!inFlightFrame_[frame], "the TX ring got a frame in flight", frame);
      Check(d.len >= 8, "a TX descriptor shorter than what was written", d.len);
      inFlightFrame_[frame] = true;
      inFlight_.push_back({frame, IdOf(umem_.get() + d.addr, 8)});
      stats_->sent++;
    }
    __atomic_store_n(&tx_.consumer, txTaken_, __ATOMIC_RELEASE);
    // Complete some, now and then with a bad one among them.
    for (uint32_t n = random_->Below(6); n > 0; n--) {
      if (completion_.producer - __atomic_load_n(&completion_.consumer, __ATOMIC_ACQUIRE) >= kTxFrames) break;
      uint64_t addr;
      bool honest = false;
      if (random_->Below(16) == 0) {
        switch (random_->Below(4)) {
          case 0: addr = kUmemBytes + random_->Below(1u << 16) * kFrameSize; break;
          case 1: addr = kRxBytes + random_->Below(kTxFrames) * kFrameSize + 1 + random_->Below(kFrameSize - 1); break;
          case 2: addr = random_->Below(kRxFrames) * kFrameSize; break;
          default:
            // A TX frame the reader has not given the kernel (not posted,
            // in flight, or completed and waiting to be reaped; if every one
            // is, past the UMEM). One posted and not taken yet cannot be
            // told from a real completion (in copy mode a completion may be
            // published before the consumer index that took it).
            addr = kUmemBytes;
            for (uint32_t f = kRxFrames; f < kRxFrames + kTxFrames; f++) {
              if (!inFlightFrame_[f] && !CompletedUnreaped(f) && !PostedUntaken(f)) addr = static_cast<uint64_t>(f) * kFrameSize;
            }
        }
        stats_->badCompletions++;
      } else {
        if (inFlight_.empty()) break;
        const Sent sent = inFlight_.front();
        inFlight_.pop_front();
        Check(IdOf(umem_.get() + static_cast<uint64_t>(sent.frame) * kFrameSize, 8) == sent.id,
              "a frame in flight was written over", sent.frame);
        inFlightFrame_[sent.frame] = false;
        addr = static_cast<uint64_t>(sent.frame) * kFrameSize;
        honest = true;
        stats_->completed++;
      }
      completionHonest_[completion_.producer % kTxFrames] = honest;
      completion_.At(completion_.producer) = addr;
      __atomic_store_n(&completion_.producer, completion_.producer + 1, __ATOMIC_RELEASE);
    }
  }

  bool PostedUntaken(uint32_t frame) {
    for (uint32_t i = txTaken_; i != tx_.producer; i++) {
      if (tx_.At(i).addr == static_cast<uint64_t>(frame) * kFrameSize) return true;
    }
    return false;
  }

  bool CompletedUnreaped(uint32_t frame) {
    for (uint32_t i = completion_.consumer; i != completion_.producer; i++) {
      if (completionHonest_[i % kTxFrames] && completion_.At(i) == static_cast<uint64_t>(frame) * kFrameSize) return true;
    }
    return false;
  }

  // One kernel-written index spoiled (past what its ring holds), the
  // operation that reads it, and the index put back: counted, nothing read.
  void SpoiledIndexRound() {
    Counters* c = counters_.get();
    const uint64_t before = c->value[syncache::kCounter_ringBadIndex];
    bool read = true;
    switch (random_->Below(4)) {
      case 0: {
        const uint32_t saved = rx_.producer;
        rx_.producer = rx_.consumer + kRxFrames + 1 + random_->Below(1000);
        Check(!rings_.Waiting(), "Waiting trusted a bad RX producer");
        const uint32_t accepted = rings_.Receive(64, c, 0, [&](const uint8_t*, uint32_t, uint16_t, double) {
          Check(false, "Receive read past a bad RX producer");
          return true;
        });
        Check(accepted == 0, "Receive accepted past a bad RX producer", accepted);
        rx_.producer = saved;
        break;
      }
      case 1: {
        const uint32_t saved = completion_.producer;
        const uint32_t freeBefore = rings_.txFree();
        completion_.producer = completion_.consumer + kTxFrames + 1 + random_->Below(1000);
        rings_.Reap(c);
        Check(rings_.txFree() == freeBefore, "Reap freed frames past a bad completion producer");
        completion_.producer = saved;
        break;
      }
      case 2: {
        const uint32_t saved = fill_.consumer;
        fill_.consumer = fill_.producer + 1 + random_->Below(1000);
        read = rings_.rxHeld() > 0;  // Refill looks only with frames to post
        Check(rings_.Refill(c) == 0, "Refill posted past a bad fill consumer");
        fill_.consumer = saved;
        break;
      }
      default: {
        const uint32_t saved = tx_.consumer;
        tx_.consumer = tx_.producer + 1 + random_->Below(1000);
        // BeginTx reaps first (counting a bad completion index is not this).
        Check(rings_.BeginTx(c) == 0, "BeginTx offered frames past a bad TX consumer");
        tx_.consumer = saved;
        break;
      }
    }
    if (read) stats_->badIndices++;
    Check(c->value[syncache::kCounter_ringBadIndex] == before + (read ? 1 : 0), "a bad index went uncounted");
  }

  // A whole descriptor naming an RX frame the reader holds, read before the
  // reader could post that frame again (once posted, the kernel may rightly
  // receive into it): refused, counted, never shown.
  void ReaderFrameRound() {
    if (rx_.producer - rx_.consumer >= kRxFrames) return;
    uint32_t frame = kRxFrames;
    for (uint32_t f = 0; f < kRxFrames; f++) {
      if (ReaderHolds(f)) frame = f;
    }
    if (frame == kRxFrames) return;
    xdp_desc d{};
    d.addr = static_cast<uint64_t>(frame) * kFrameSize + 256;
    d.len = 64;
    rxSlots_[rx_.producer % kRxFrames] = RxSlot{};
    rx_.At(rx_.producer) = d;
    __atomic_store_n(&rx_.producer, rx_.producer + 1, __ATOMIC_RELEASE);
    stats_->badDescs++;
    const uint64_t before = counters_->value[syncache::kCounter_rxBadFrame];
    rings_.Receive(kRxFrames + 1, counters_.get(), 0, [&](const uint8_t* f, uint32_t n, uint16_t, double) {
      Check(static_cast<size_t>(f - umem_.get()) / kFrameSize != frame, "Receive showed a frame the reader holds", frame);
      const uint32_t id = Visited(f, n, "Receive took a frame twice", true);
      if (id != 0) lastReceived_ = id;
      stats_->received++;
      return true;
    });
    Check(counters_->value[syncache::kCounter_rxBadFrame] >= before + 1, "a descriptor naming the reader's frame went uncounted");
  }

  // ---- the reader

  void Operate() {
    Counters* c = counters_.get();
    switch (random_->Below(7)) {
      case 0:
      case 1: {
        const uint32_t max = 1 + random_->Below(8);
        const uint32_t accepted = rings_.Receive(max, c, 0, [&](const uint8_t* f, uint32_t n, uint16_t, double) {
          const uint32_t id = Visited(f, n, "Receive took a frame twice", true);
          if (id != 0) {
            Check(id > lastReceived_, "Receive out of order", id);
            lastReceived_ = id;
          }
          stats_->received++;
          return random_->Below(8) != 0;
        });
        Check(accepted <= max, "Receive accepted more than asked", accepted);
        break;
      }
      case 2:
        rings_.ReceiveUrgent(1 + random_->Below(8), c, 0, [](const uint8_t* f, uint32_t n) { return (IdOf(f, n) & 1) != 0; },
                             [&](const uint8_t* f, uint32_t n, uint16_t, double) {
                               Visited(f, n, "ReceiveUrgent took a frame twice", true);
                               stats_->urgent++;
                               return true;
                             });
        break;
      case 3: {
        const int64_t start = random_->Below(2) ? -1 : static_cast<int64_t>(random_->Below(kRxFrames * 4));
        rings_.Peek(start, 0, [&](const uint8_t* f, uint32_t n, uint16_t, double) {
          const uint32_t id = Visited(f, n, "", false);
          Check(id == 0 || state_[id] != kTaken, "Peek showed a frame already taken", id);
          stats_->peeked++;
          return true;
        });
        break;
      }
      case 4:
        rings_.SkipLeading(c, 0, [&](const uint8_t* f, uint32_t n, uint16_t, double) {
          if (random_->Below(3) == 0) {
            Visited(f, n, "", false);
            return false;
          }
          Visited(f, n, "SkipLeading took a frame twice", true);
          stats_->skipped++;
          return true;
        });
        break;
      case 5:
        rings_.Refill(c);
        break;
      default: {
        const uint32_t room = rings_.BeginTx(c);
        Check(room <= rings_.txFree(), "BeginTx offered more frames than are free", room);
        const uint32_t n = room == 0 ? 0 : random_->Below(room + 1);
        for (uint32_t i = 0; i < n; i++) {
          uint8_t* frame = rings_.NextTxFrame();
          const size_t at = static_cast<size_t>(frame - umem_.get());
          Check(at >= kRxBytes && at + kFrameSize <= kUmemBytes && at % kFrameSize == 0, "NextTxFrame outside the TX frames", at);
          Touch(frame, kFrameSize);
          WriteId(frame, nextTxId_++);
          rings_.PostTx(8 + random_->Below(kFrameSize - 8 + 1));
        }
        rings_.PublishTx();
        break;
      }
    }
  }

  // A frame a visitor got: inside one RX frame; its id (0 if not one the
  // model wrote honestly). With `take`, the id must be waiting and is taken.
  uint32_t Visited(const uint8_t* f, uint32_t n, const char* twice, bool take) {
    const size_t at = static_cast<size_t>(f - umem_.get());
    Check(f >= umem_.get() && at + n <= kRxBytes && at / kFrameSize == (at + (n == 0 ? 0 : n - 1)) / kFrameSize,
          "a visited frame outside one RX frame", at);
    Touch(f, n);
    const uint32_t id = IdOf(f, n);
    if (id == 0 || id >= state_.size() || state_[id] == kSpoiled) return 0;
    if (take) {
      Check(state_[id] == kWaiting, twice, id);
      state_[id] = kTaken;
    }
    return id;
  }

  // Frames are neither lost nor made up. RX: the reader's + on the fill
  // ring + in the kernel's pool + received and not yet taken = kRxFrames.
  // TX: free + posted and not taken + in flight + completed and not yet
  // reaped = kTxFrames.
  void CheckConserved() {
    uint32_t waiting = 0;
    for (uint32_t i = rx_.consumer; i != rx_.producer; i++) {
      const RxSlot& slot = rxSlots_[i % kRxFrames];
      waiting += slot.id != 0 && state_[slot.id] == kWaiting;
    }
    const uint32_t rx = rings_.rxHeld() + (fill_.producer - fillTaken_) + static_cast<uint32_t>(pool_.size()) + waiting;
    Check(rx == kRxFrames, "RX frames not conserved", rx);
    uint32_t unreaped = 0;
    for (uint32_t i = completion_.consumer; i != completion_.producer; i++) unreaped += completionHonest_[i % kTxFrames];
    const uint32_t tx = rings_.txFree() + (tx_.producer - txTaken_) + static_cast<uint32_t>(inFlight_.size()) + unreaped;
    Check(tx == kTxFrames, "TX frames not conserved", tx);
  }

  Random* random_;
  Stats* stats_;
  std::unique_ptr<uint8_t[]> umem_;
  HeapRing<uint64_t> fill_;
  HeapRing<xdp_desc> rx_;
  HeapRing<xdp_desc> tx_;
  HeapRing<uint64_t> completion_;
  std::unique_ptr<Counters> counters_;
  XskRings rings_;

  std::vector<uint8_t> state_;  // per id
  std::deque<uint32_t> pool_;   // RX frames the kernel took off the fill ring, not received into yet
  std::vector<bool> inPool_;    // per frame
  RxSlot rxSlots_[kRxFrames];
  struct Sent {
    uint32_t frame;
    uint32_t id;
  };
  std::deque<Sent> inFlight_;        // TX frames taken off the TX ring, not completed yet
  std::vector<bool> inFlightFrame_;  // per frame
  bool completionHonest_[kTxFrames] = {};
  uint32_t fillTaken_ = 0, txTaken_ = 0;
  uint32_t lastReceived_ = 0;
  uint32_t nextTxId_ = 1;
};

}  // namespace

int main(int argc, char** argv) {
  RunFlags flags;
  if (!ReadRunFlags(argc, argv, "xsk_ring_check", &flags)) return 2;
  Random random{flags.seed};
  Stats stats;
  Model model(&random, &stats);
  for (uint32_t round = 0; round < flags.rounds; round++) model.Round();
  model.Drain();
  std::printf("{\"written\":%llu,\"received\":%llu,\"urgent\":%llu,\"skipped\":%llu,\"peeked\":%llu,\"badDescs\":%llu,"
              "\"sent\":%llu,\"completed\":%llu,\"badCompletions\":%llu,\"badIndices\":%llu,\"failures\":%d}\n",
              static_cast<unsigned long long>(stats.written), static_cast<unsigned long long>(stats.received),
              static_cast<unsigned long long>(stats.urgent), static_cast<unsigned long long>(stats.skipped),
              static_cast<unsigned long long>(stats.peeked), static_cast<unsigned long long>(stats.badDescs),
              static_cast<unsigned long long>(stats.sent), static_cast<unsigned long long>(stats.completed),
              static_cast<unsigned long long>(stats.badCompletions), static_cast<unsigned long long>(stats.badIndices),
              failures);
  return failures == 0 ? 0 : 1;
}
