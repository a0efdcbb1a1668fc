// The TPACKET RX ring walkers (native/io/tpacket_ring.h) against a model,
// under AddressSanitizer and UndefinedBehaviorSanitizer, without a socket: a
// fake kernel writes frames into rings in heap memory (each a unique id in
// its source MAC; some cut short, some with the checksum left to the device
// or a VLAN tag beside them) the way the kernel does, block by block (V3) or
// slot by slot (V2), into what the reader has given back; the reader takes
// them with random batch sizes, and on V2 also out of turn (ReceiveUrgent),
// by peeking (Peek) and by skipping at the head (SkipLeading), in random
// order. Now and then the fake kernel writes a wrong offset, count or length
// into a header.
//
// Checked: every frame handed to a visitor lies inside its block or slot;
// in a ring whose headers are right, every whole frame is taken exactly
// once (V3: in order) and every cut one is counted, never handed over; the
// counters add up (rxFrames: frames taken; truncatedFrames; rxBadFrame only
// where a header was wrong); the walk always ends.
//
//   tpacket_ring_check [--rounds N] [--seed S]
//
// Prints a JSON summary; exits non-zero on the first mismatch.
#include <linux/if_packet.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/splitmix.h"
#include "boundary/counters.h"
#include "io/tpacket_ring.h"

namespace {

using syncache::Counters;

int failures = 0;
void Check(bool ok, const char* what, uint64_t detail = 0) {
  if (ok) return;
  std::fprintf(stderr, "tpacket_ring_check: %s (%llu)\n", what, static_cast<unsigned long long>(detail));
  if (++failures > 10) std::exit(1);
}

// A frame of `length` bytes (>= 54) carrying `id`: Ethernet, IPv4, TCP, as
// a local sender would hand it over, so a checksum left to the device can be
// completed; the id sits in the source MAC, its complement in the
// destination MAC (so bytes a spoiled header points at are not taken for one).
void WriteFrame(uint8_t* f, uint32_t length, uint32_t id) {
  std::memset(f, 0, length);
  const uint32_t check = ~id;
  std::memcpy(f, &check, 4);
  std::memcpy(f + 6, &id, 4);
  f[12] = 0x08;
  f[14] = 0x45;
  const uint32_t ipLength = length - 14;
  f[16] = static_cast<uint8_t>(ipLength >> 8);
  f[17] = static_cast<uint8_t>(ipLength);
  f[22] = 64;
  f[23] = 6;
  f[46] = 5 << 4;
  f[47] = 0x10;
}

// The frame's id; 0 (no frame's) if its bytes are not a frame's start.
uint32_t IdOf(const uint8_t* frame) {
  uint32_t id, check;
  std::memcpy(&id, frame + 6, 4);
  std::memcpy(&check, frame, 4);
  return check == ~id ? id : 0;
}

// Reads every byte, so a frame reaching past the ring is caught.
uint32_t Touch(const uint8_t* p, uint32_t n) {
  uint32_t sum = 0;
  for (uint32_t i = 0; i < n; i++) sum += p[i];
  return sum;
}

uint32_t RandomLength(Random* r) { return 54 + r->Below(200); }

// ---------------------------------------------------------------------------
// TPACKET_V3

struct V3Stats {
  uint64_t written = 0, taken = 0, truncated = 0, corrupted = 0;
};

void RunV3(Random* random, uint32_t rounds, V3Stats* stats) {
  constexpr uint32_t kBlockSize = 4096;
  constexpr uint32_t kBlocks = 4;
  constexpr uint32_t kFirst = 48;  // offset_to_first_pkt: past the block header
  constexpr uint32_t kMac = 64;    // tp_mac: past the frame header
  std::unique_ptr<uint8_t[]> map(new uint8_t[kBlockSize * kBlocks]);
  std::memset(map.get(), 0, kBlockSize * kBlocks);
  syncache::TpacketV3Ring ring;
  ring.Attach(map.get(), kBlockSize, kBlocks);
  auto counters = std::make_unique<Counters>();
  std::memset(counters.get(), 0, sizeof(Counters));

  // What the fake kernel put in each block: the whole frames' ids in order,
  // the cut ones, and whether a header was spoiled.
  struct Written {
    std::vector<uint32_t> ids;
    uint32_t truncated = 0;
    bool corrupted = false;
  };
  std::vector<Written> written(kBlocks);
  std::vector<size_t> nextExpected(kBlocks, 0);
  uint32_t kernelBlock = 0;
  uint32_t nextId = 1;

  auto block = [&](uint32_t b) { return reinterpret_cast<tpacket_block_desc*>(map.get() + b * kBlockSize); };
  auto fill = [&](uint32_t b) {
    tpacket_block_desc* desc = block(b);
    Written& w = written[b];
    w = Written{};
    nextExpected[b] = 0;
    uint32_t offset = kFirst;
    uint32_t count = 0;
    tpacket3_hdr* last = nullptr;
    const uint32_t want = 1 + random->Below(12);
    while (count < want) {
      const uint32_t length = RandomLength(random);
      const uint32_t need = TPACKET_ALIGN(kMac + length);
      if (offset + need > kBlockSize) break;
      auto* hdr = reinterpret_cast<tpacket3_hdr*>(map.get() + b * kBlockSize + offset);
      std::memset(hdr, 0, sizeof(*hdr));
      const uint32_t id = nextId++;
      WriteFrame(reinterpret_cast<uint8_t*>(hdr) + kMac, length, id);
      hdr->tp_mac = kMac;
      hdr->tp_snaplen = length;
      hdr->tp_len = random->Below(8) == 0 ? length + 1 + random->Below(9000) : length;
      hdr->tp_status = TP_STATUS_USER | (random->Below(4) == 0 ? TP_STATUS_CSUMNOTREADY : 0) |
                       (random->Below(4) == 0 ? TP_STATUS_VLAN_VALID : 0);
      hdr->hv1.tp_vlan_tci = static_cast<uint16_t>(random->Below(4096));
      if (hdr->tp_len > hdr->tp_snaplen) w.truncated++;
      else w.ids.push_back(id);
      if (last != nullptr) last->tp_next_offset = static_cast<uint32_t>(reinterpret_cast<uint8_t*>(hdr) - reinterpret_cast<uint8_t*>(last));
      last = hdr;
      offset += need;
      count++;
    }
    if (last != nullptr) last->tp_next_offset = 0;
    desc->version = TPACKET_V3;
    desc->hdr.bh1.num_pkts = count;
    desc->hdr.bh1.offset_to_first_pkt = kFirst;
    stats->written += count;
    if (random->Below(16) == 0) {
      // A wrong header: the walk must stay inside the block and end.
      w.corrupted = true;
      stats->corrupted++;
      switch (random->Below(5)) {
        case 0: desc->hdr.bh1.num_pkts = count + 1 + random->Below(1000); break;
        case 1: desc->hdr.bh1.offset_to_first_pkt = static_cast<uint32_t>(random->Next()); break;
        default: {
          if (count == 0) break;
          auto* hdr = reinterpret_cast<tpacket3_hdr*>(map.get() + b * kBlockSize + kFirst);
          const uint32_t v = random->Below(2) ? static_cast<uint32_t>(random->Next()) : kBlockSize - random->Below(64);
          if (random->Below(3) == 0) hdr->tp_next_offset = random->Below(2) ? 0 : v;
          else if (random->Below(2)) hdr->tp_mac = static_cast<uint16_t>(v);
          else hdr->tp_snaplen = v;
          break;
        }
      }
    }
    __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_USER, __ATOMIC_RELEASE);
  };

  uint64_t takenBefore = 0;
  for (uint32_t round = 0; round < rounds; round++) {
    // The kernel fills the blocks it owns, in order, until one is the reader's.
    for (uint32_t n = 0; n < kBlocks && block(kernelBlock)->hdr.bh1.block_status == TP_STATUS_KERNEL; n++) {
      fill(kernelBlock);
      kernelBlock = (kernelBlock + 1) % kBlocks;
    }
    for (uint32_t reads = random->Below(4); reads > 0; reads--) {
      const uint32_t max = 1 + random->Below(16);
      const uint32_t accepted = ring.Receive(max, counters.get(), [&](const uint8_t* frame, uint32_t length, uint16_t, double) {
        const size_t at = static_cast<size_t>(frame - map.get());
        const uint32_t b = static_cast<uint32_t>(at / kBlockSize);
        Check(at < kBlockSize * kBlocks && at + length <= (b + 1) * static_cast<size_t>(kBlockSize), "V3 frame outside its block", at);
        Touch(frame, length);
        stats->taken++;
        if (!written[b].corrupted) {
          const Written& w = written[b];
          Check(nextExpected[b] < w.ids.size() && w.ids[nextExpected[b]] == IdOf(frame), "V3 frame out of order or twice", IdOf(frame));
          nextExpected[b]++;
        }
        return random->Below(8) != 0;
      });
      Check(accepted <= max, "V3 accepted more than asked", accepted);
    }
    // A block handed back must have given every whole frame, once.
    for (uint32_t b = 0; b < kBlocks; b++) {
      if (block(b)->hdr.bh1.block_status == TP_STATUS_KERNEL && !written[b].corrupted && !written[b].ids.empty()) {
        Check(nextExpected[b] == written[b].ids.size(), "V3 block given back before all its frames were read", b);
        stats->truncated += written[b].truncated;
        written[b] = Written{};
      }
    }
  }
  Check(counters->value[syncache::kCounter_rxFrames] == stats->taken, "V3 rxFrames != frames taken",
        counters->value[syncache::kCounter_rxFrames]);
  if (stats->corrupted == 0) Check(counters->value[syncache::kCounter_rxBadFrame] == 0, "V3 rxBadFrame without a bad header");
  (void)takenBefore;
}

// ---------------------------------------------------------------------------
// TPACKET_V2

struct V2Stats {
  uint64_t written = 0, received = 0, urgent = 0, skipped = 0, peeked = 0, corrupted = 0, truncated = 0;
};

void RunV2(Random* random, uint32_t rounds, V2Stats* stats) {
  constexpr uint32_t kSlot = syncache::TpacketV2Ring::kSlotSize;
  constexpr uint32_t kSlots = 16;
  constexpr uint16_t kMac = 64;
  std::unique_ptr<uint8_t[]> map(new uint8_t[kSlot * kSlots]);
  std::memset(map.get(), 0, kSlot * kSlots);
  syncache::TpacketV2Ring ring;
  ring.Attach(map.get(), kSlots);
  auto counters = std::make_unique<Counters>();
  std::memset(counters.get(), 0, sizeof(Counters));

  // Per id: 0 written and whole, waiting; 1 taken; 2 cut (never to be taken); 3 spoiled.
  std::vector<uint8_t> state(1, 3);
  uint32_t kernelSlot = 0;
  uint32_t lastReceived = 0;
  auto slot = [&](uint32_t s) { return reinterpret_cast<tpacket2_hdr*>(map.get() + s * kSlot); };
  auto inSlot = [&](const uint8_t* frame, uint32_t length) {
    const size_t at = static_cast<size_t>(frame - map.get());
    const size_t s = at / kSlot;
    Check(at < kSlot * kSlots && at + length <= (s + 1) * kSlot, "V2 frame outside its slot", at);
    Touch(frame, length);
  };
  auto take = [&](const uint8_t* frame, const char* how) {
    const uint32_t id = IdOf(frame);
    if (id >= state.size() || state[id] == 3) return;  // a spoiled header: bounds only
    Check(state[id] == 0, how, id);
    state[id] = 1;
  };

  for (uint32_t round = 0; round < rounds; round++) {
    for (uint32_t n = random->Below(kSlots + 1); n > 0 && slot(kernelSlot)->tp_status == TP_STATUS_KERNEL; n--) {
      tpacket2_hdr* hdr = slot(kernelSlot);
      const uint32_t length = RandomLength(random);
      const uint32_t id = static_cast<uint32_t>(state.size());
      WriteFrame(reinterpret_cast<uint8_t*>(hdr) + kMac, length, id);
      hdr->tp_mac = kMac;
      hdr->tp_snaplen = length;
      hdr->tp_len = random->Below(8) == 0 ? length + 1 + random->Below(9000) : length;
      hdr->tp_vlan_tci = static_cast<uint16_t>(random->Below(4096));
      uint8_t fate = hdr->tp_len > length ? 2 : 0;
      if (random->Below(32) == 0) {
        fate = 3;
        stats->corrupted++;
        if (random->Below(2)) hdr->tp_mac = static_cast<uint16_t>(random->Next());
        else hdr->tp_snaplen = random->Below(2) ? static_cast<uint32_t>(random->Next()) : kSlot - kMac + 1 + random->Below(8);
      }
      if (fate == 2) stats->truncated++;
      state.push_back(fate);
      stats->written++;
      __atomic_store_n(&hdr->tp_status,
                       TP_STATUS_USER | (random->Below(4) == 0 ? TP_STATUS_CSUMNOTREADY : 0) |
                           (random->Below(4) == 0 ? TP_STATUS_VLAN_VALID : 0),
                       __ATOMIC_RELEASE);
      kernelSlot = (kernelSlot + 1) % kSlots;
    }
    for (uint32_t ops = random->Below(5); ops > 0; ops--) {
      switch (random->Below(4)) {
        case 0: {
          const uint32_t max = 1 + random->Below(8);
          const uint32_t accepted = ring.Receive(max, counters.get(), [&](const uint8_t* f, uint32_t n, uint16_t, double) {
            inSlot(f, n);
            const uint32_t id = IdOf(f);
            if (id < state.size() && state[id] != 3) {
              Check(id > lastReceived, "V2 Receive out of order", id);
              lastReceived = id;
            }
            take(f, "V2 Receive took a frame twice");
            stats->received++;
            return random->Below(8) != 0;
          });
          Check(accepted <= max, "V2 accepted more than asked", accepted);
          break;
        }
        case 1:
          ring.ReceiveUrgent(1 + random->Below(8), counters.get(),
                             [](const uint8_t* f, uint32_t) { return (IdOf(f) & 1) != 0; },
                             [&](const uint8_t* f, uint32_t n, uint16_t, double) {
                               inSlot(f, n);
                               take(f, "V2 ReceiveUrgent took a frame twice");
                               stats->urgent++;
                               return true;
                             });
          break;
        case 2:
          ring.Peek(random->Below(2) ? -1 : random->Below(kSlots * 2), [&](const uint8_t* f, uint32_t n, uint16_t, double) {
            inSlot(f, n);
            const uint32_t id = IdOf(f);
            Check(id >= state.size() || state[id] != 1, "V2 Peek showed a frame already taken", id);
            stats->peeked++;
            return true;
          });
          break;
        default:
          ring.SkipLeading(counters.get(), [&](const uint8_t* f, uint32_t n, uint16_t, double) {
            inSlot(f, n);
            if (random->Below(3) == 0) return false;
            take(f, "V2 SkipLeading took a frame twice");
            stats->skipped++;
            return true;
          });
      }
    }
  }
  // Drain: every whole frame was taken exactly once.
  for (int guard = 0; ring.Waiting() && guard < 1000; guard++) {
    ring.Receive(64, counters.get(), [&](const uint8_t* f, uint32_t n, uint16_t, double) {
      inSlot(f, n);
      take(f, "V2 Receive took a frame twice");
      stats->received++;
      return true;
    });
  }
  Check(!ring.Waiting(), "V2 ring never drained");
  uint64_t waiting = 0;
  for (uint32_t id = 1; id < state.size(); id++) {
    if (state[id] == 0) waiting++;
  }
  Check(waiting == 0, "V2 whole frames never taken", waiting);
  Check(counters->value[syncache::kCounter_rxFrames] == stats->received + stats->urgent + stats->skipped,
        "V2 rxFrames != frames taken", counters->value[syncache::kCounter_rxFrames]);
  const uint64_t truncated = counters->value[syncache::kCounter_truncatedFrames];
  Check(truncated >= stats->truncated && truncated <= stats->truncated + stats->corrupted,
        "V2 truncatedFrames is not the frames cut short", truncated);
  if (stats->corrupted == 0) Check(counters->value[syncache::kCounter_rxBadFrame] == 0, "V2 rxBadFrame without a bad header");
}

}  // namespace

int main(int argc, char** argv) {
  RunFlags flags;
  if (!ReadRunFlags(argc, argv, "tpacket_ring_check", &flags)) return 2;
  Random random{flags.seed};
  V3Stats v3;
  V2Stats v2;
  RunV3(&random, flags.rounds, &v3);
  RunV2(&random, flags.rounds, &v2);
  std::printf("{\"v3Written\":%llu,\"v3Taken\":%llu,\"v3Corrupted\":%llu,\"v2Written\":%llu,\"v2Received\":%llu,"
              "\"v2Urgent\":%llu,\"v2Skipped\":%llu,\"v2Peeked\":%llu,\"v2Corrupted\":%llu,\"failures\":%d}\n",
              static_cast<unsigned long long>(v3.written), static_cast<unsigned long long>(v3.taken),
              static_cast<unsigned long long>(v3.corrupted), static_cast<unsigned long long>(v2.written),
              static_cast<unsigned long long>(v2.received), static_cast<unsigned long long>(v2.urgent),
              static_cast<unsigned long long>(v2.skipped), static_cast<unsigned long long>(v2.peeked),
              static_cast<unsigned long long>(v2.corrupted), failures);
  return failures == 0 ? 0 : 1;
}
