// Flows that are no longer syncache's: handed to the kernel as real sockets,
// or completed and reported (events only). Their segments still reach the
// packet ring (AF_PACKET sees everything the gate lets through); the
// pipeline skips them here, cheaply, before TypeScript sees a row.
//
// Open addressing with linear probing over a power-of-two table, deletion
// by backward shift (no tombstones), never more than half full. Only the
// application's own connections go in, so the table stays small; a lookup on
// an empty set is one comparison.
#pragma once

#include <sys/random.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "boundary/batch.h"

namespace syncache {

struct FlowKey {
  uint32_t peer[4];
  uint32_t local[4];
  uint16_t peerPort;
  uint16_t localPort;
  uint32_t family;

  bool operator==(const FlowKey& o) const { return std::memcmp(this, &o, sizeof(FlowKey)) == 0; }

  static FlowKey FromRow(const PacketBatch& b, uint32_t row) {
    FlowKey k;
    std::memcpy(k.peer, &b.saddr[row * 4], 16);
    std::memcpy(k.local, &b.daddr[row * 4], 16);
    k.peerPort = b.sport[row];
    k.localPort = b.dport[row];
    k.family = b.family[row];
    return k;
  }
};

// What became of a flow (the value stored with it).
enum FlowFate : uint8_t {
  kFlowAbsent = 0,
  kFlowKernelSocket = 1,  // a kernel socket serves it, open
  kFlowReported = 2,      // completed and reported; nothing serves it here
  kFlowClosed = 3,        // its kernel socket was closed (it may sit in TIME_WAIT)
};

// What the peer has sent on a flow since it was recorded: RFC 6191's inputs
// for telling a new connection on the 4-tuple from an old duplicate.
struct PeerProgress {
  uint32_t seqEnd = 0;       // just past the highest sequence the peer used
  uint32_t tsRecent = 0;     // the newest timestamp the peer sent
  bool timestamps = false;   // the peer sent timestamps

  // Segments further than this from seqEnd are not taken in: the ring sees
  // what the kernel socket would drop as out of window, and a blind spoofer
  // must not be able to move the old connection's clock forward (and so
  // keep its 4-tuple closed) with a few guesses.
  static constexpr int32_t kPlausible = 1 << 20;

  // One more segment from the peer (seq, its length in sequence space).
  void Observe(uint32_t seq, uint32_t length, bool hasTs, uint32_t tsval) {
    const int32_t offset = static_cast<int32_t>(seq - seqEnd);
    if (offset > kPlausible || offset < -kPlausible) return;
    const uint32_t end = seq + length;
    if (static_cast<int32_t>(end - seqEnd) > 0) seqEnd = end;
    if (hasTs && (!timestamps || static_cast<int32_t>(tsval - tsRecent) > 0)) tsRecent = tsval;
    timestamps = timestamps || hasTs;
  }

  // What another observer of the same peer saw, taken in: the further
  // sequence end, the newer timestamp.
  void Merge(const PeerProgress& other) {
    if (static_cast<int32_t>(other.seqEnd - seqEnd) > 0) seqEnd = other.seqEnd;
    if (other.timestamps && (!timestamps || static_cast<int32_t>(other.tsRecent - tsRecent) > 0)) tsRecent = other.tsRecent;
    timestamps = timestamps || other.timestamps;
  }

  // RFC 6191 2: may a SYN (isn, and its timestamp if any) open a new
  // connection on the 4-tuple of this one, closed and maybe in TIME_WAIT?
  // With timestamps on the old connection, only a newer timestamp may;
  // without, only an ISN beyond everything the old one used.
  bool AllowsNewSyn(uint32_t isn, bool hasTs, uint32_t tsval) const {
    if (timestamps && hasTs) return static_cast<int32_t>(tsval - tsRecent) > 0;
    return static_cast<int32_t>(isn - seqEnd) > 0;
  }
};

class FlowSet {
 public:
  static constexpr uint32_t kMaxFlows = 1u << 20;

  bool empty() const { return size_ == 0; }
  uint32_t size() const { return size_; }

  // The flow's fate, and (if peerIsn is given) the peer's initial sequence
  // number it was recorded with.
  FlowFate Find(const FlowKey& key, uint32_t* peerIsn = nullptr) const {
    const uint32_t i = IndexOf(key);
    if (i == kNone) return kFlowAbsent;
    if (peerIsn != nullptr) *peerIsn = slots_[i].peerIsn;
    return static_cast<FlowFate>(used_[i]);
  }

  // The same, with what the peer has sent on it since (to update or read;
  // valid until the set next changes).
  FlowFate Find(const FlowKey& key, uint32_t* peerIsn, PeerProgress** progress) {
    const uint32_t i = IndexOf(key);
    if (i == kNone) return kFlowAbsent;
    *peerIsn = slots_[i].peerIsn;
    *progress = &slots_[i].progress;
    return static_cast<FlowFate>(used_[i]);
  }

  // Removes the flow only if it was recorded with peerIsn (a newer
  // connection on the 4-tuple keeps its record); false if nothing was removed.
  bool RemoveIfIsn(const FlowKey& key, uint32_t peerIsn) {
    uint32_t recorded = 0;
    if (Find(key, &recorded) == kFlowAbsent || recorded != peerIsn) return false;
    return Remove(key);
  }

  // The kernel socket of the flow recorded with peerIsn closed: its segments
  // stay skipped, but a SYN with a new ISN may now open a new connection on
  // its 4-tuple (see Pipeline::HandedOverFate). False if the flow is not an
  // open kernel socket's recorded with that ISN.
  // `seen`, if given: what the peer sent that this set did not see (the XDP
  // door passed it to the socket), taken in as well.
  bool MarkClosed(const FlowKey& key, uint32_t peerIsn, const PeerProgress* seen = nullptr) {
    uint32_t recorded = 0;
    PeerProgress* progress = nullptr;
    if (Find(key, &recorded, &progress) != kFlowKernelSocket || recorded != peerIsn) return false;
    if (seen != nullptr) progress->Merge(*seen);
    return Add(key, kFlowClosed, peerIsn);
  }

  // Records (or updates) a flow's fate and the peer's ISN (which tells its
  // own SYN, retransmitted, from a new connection's); false when the set is
  // at kMaxFlows.
  bool Add(const FlowKey& key, FlowFate fate, uint32_t peerIsn) {
    if (size_ > 0) {
      for (uint32_t i = Hash(key) & mask_; used_[i]; i = (i + 1) & mask_) {
        if (slots_[i].key == key) {
          used_[i] = fate;
          // Another connection on the 4-tuple: what the old one's peer sent no longer counts.
          if (slots_[i].peerIsn != peerIsn) slots_[i].progress = Progress(peerIsn);
          slots_[i].peerIsn = peerIsn;
          return true;
        }
      }
    }
    if (size_ >= kMaxFlows) return false;
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    uint32_t i = Hash(key) & mask_;
    while (used_[i]) i = (i + 1) & mask_;
    slots_[i] = Entry{key, peerIsn, Progress(peerIsn)};
    used_[i] = fate;
    size_++;
    return true;
  }

  bool Remove(const FlowKey& key) {
    if (size_ == 0) return false;
    uint32_t i = Hash(key) & mask_;
    while (true) {
      if (!used_[i]) return false;
      if (slots_[i].key == key) break;
      i = (i + 1) & mask_;
    }
    // Backward-shift deletion: pull later members of the probe run forward.
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask_; used_[j]; j = (j + 1) & mask_) {
      uint32_t home = Hash(slots_[j].key) & mask_;
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = slots_[j];
        used_[hole] = used_[j];
        hole = j;
      }
    }
    used_[hole] = 0;
    size_--;
    return true;
  }

 private:
  static constexpr uint32_t kNone = ~0u;

  uint32_t IndexOf(const FlowKey& key) const {
    if (size_ == 0) return kNone;
    for (uint32_t i = Hash(key) & mask_;; i = (i + 1) & mask_) {
      if (!used_[i]) return kNone;
      if (slots_[i].key == key) return i;
    }
  }

  // A flow recorded at its handshake: the peer has used its ISN (the SYN).
  static PeerProgress Progress(uint32_t peerIsn) {
    PeerProgress p;
    p.seqEnd = peerIsn + 1;
    return p;
  }

  // Seeded per set: the peer picks ports and (with cookies, cheaply) which
  // flows complete, so a fixed hash would let it pile its flows into one
  // probe run that every received frame then walks.
  uint32_t Hash(const FlowKey& k) const {
    uint64_t h = seed_ ^ k.family;
    auto mix = [&h](uint64_t v) {
      h ^= v;
      h *= 0xff51afd7ed558ccdull;
      h ^= h >> 32;
    };
    for (int w = 0; w < 4; w++) mix((uint64_t{k.peer[w]} << 32) | k.local[w]);
    mix((uint64_t{k.peerPort} << 16) | k.localPort);
    return static_cast<uint32_t>(h);
  }

  void Grow() {
    std::vector<Entry> old = std::move(slots_);
    std::vector<uint8_t> oldUsed = std::move(used_);
    size_t capacity = old.empty() ? 64 : old.size() * 2;
    slots_.assign(capacity, Entry{});
    used_.assign(capacity, 0);
    mask_ = static_cast<uint32_t>(capacity - 1);
    size_ = 0;
    for (size_t i = 0; i < old.size(); i++) {
      if (!oldUsed[i]) continue;
      uint32_t j = Hash(old[i].key) & mask_;
      while (used_[j]) j = (j + 1) & mask_;
      slots_[j] = old[i];
      used_[j] = oldUsed[i];
      size_++;
    }
  }

  static uint64_t RandomSeed() {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) seed = reinterpret_cast<uintptr_t>(&seed);
    return seed | 1;
  }

  // A flow, the peer's ISN it was recorded with, and what the peer sent since.
  struct Entry {
    FlowKey key;
    uint32_t peerIsn = 0;
    PeerProgress progress;
  };

  const uint64_t seed_ = RandomSeed();
  std::vector<Entry> slots_;
  std::vector<uint8_t> used_;  // FlowFate; kFlowAbsent marks an empty slot
  uint32_t mask_ = 0;
  uint32_t size_ = 0;
};

}  // namespace syncache
