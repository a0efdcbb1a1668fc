// The native packet path under AddressSanitizer, UndefinedBehaviorSanitizer
// and LeakSanitizer, without Node: every frame of a corpus, then mutations of
// well-formed SYNs and ACKs (IPv4 and IPv6, with every option, VLAN-tagged
// too), go through Pipeline::Accept and Finish in batches, with flows
// handed over and taken back now and then, a quarter of the mutations first
// through wire::CompletePartialChecksum (as the ring completes offloaded
// checksums), and random send rows through Pipeline::Build. While flows are
// handed over, half the mutations first meet HandedOverSkip (as the ring's
// look-ahead takes a handed-over flow's segments before a receive), and an
// eighth are also shown to PeekSerializer (pipeline/handoff_frames.h) with
// an out buffer of random size, and to IsUrgentSegment. A memory error,
// undefined behaviour or a leak ends the run with a sanitizer report and a
// non-zero status; so does a frame that is neither accepted nor counted
// under a reason, or that is dropped but keeps space in the batch's payload
// arena, a frame HandedOverSkip leaves but counts, or a peek whose records
// do not add up to what it wrote within its buffer.
//
//   pipeline_fuzz [--corpus FILE] [--iterations N] [--seed S]
//
// FILE holds one frame per line in hex (test/native/sanitizers.test.ts
// writes test/fixtures/malformed-frames.json that way). Built by
// native/fuzz/CMakeLists.txt.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/splitmix.h"
#include "boundary/batch.h"
#include "boundary/counters.h"
#include "boundary/secrets.h"
#include "pipeline/handoff_frames.h"
#include "pipeline/pipeline.h"
#include "wire/checksum.h"
#include "wire/parse.h"

namespace {

using syncache::Counters;
using syncache::PacketBatch;
using syncache::Pipeline;

constexpr uint8_t kLocalV4[4] = {198, 18, 0, 1};
constexpr uint8_t kPeerV4[4] = {198, 18, 0, 2};
constexpr uint8_t kLocalV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr uint8_t kPeerV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
constexpr uint16_t kPort = 80;

void Put16(uint8_t* p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
void Put32(uint8_t* p, uint32_t v) { Put16(p, v >> 16); Put16(p + 2, v & 0xffff); }

// A TCP segment to kLocal:kPort with MSS, SACK permitted, timestamps and
// window scale, and `payload` bytes of data; checksums right.
std::vector<uint8_t> Segment(bool v6, bool vlan, uint8_t flags, uint32_t payload) {
  std::vector<uint8_t> f;
  const uint8_t eth[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  f.insert(f.end(), eth, eth + 12);
  if (vlan) f.insert(f.end(), {0x81, 0x00, 0x00, 0x07});
  f.insert(f.end(), {static_cast<uint8_t>(v6 ? 0x86 : 0x08), static_cast<uint8_t>(v6 ? 0xdd : 0x00)});
  const size_t ip = f.size();
  const uint32_t tcpLength = 40 + payload;
  if (v6) {
    f.resize(ip + 40);
    f[ip] = 0x60;
    Put16(&f[ip + 4], static_cast<uint16_t>(tcpLength));
    f[ip + 6] = IPPROTO_TCP;
    f[ip + 7] = 64;
    std::memcpy(&f[ip + 8], kPeerV6, 16);
    std::memcpy(&f[ip + 24], kLocalV6, 16);
  } else {
    f.resize(ip + 20);
    f[ip] = 0x45;
    Put16(&f[ip + 2], static_cast<uint16_t>(20 + tcpLength));
    f[ip + 6] = 0x40;  // DF
    f[ip + 8] = 64;
    f[ip + 9] = IPPROTO_TCP;
    std::memcpy(&f[ip + 12], kPeerV4, 4);
    std::memcpy(&f[ip + 16], kLocalV4, 4);
    syncache::wire::ChecksumStore(&f[ip + 10], syncache::wire::ChecksumAdd(0, &f[ip], 20));
  }
  const size_t tcp = f.size();
  f.resize(tcp + tcpLength);
  Put16(&f[tcp], 40000);
  Put16(&f[tcp + 2], kPort);
  Put32(&f[tcp + 4], 1000);
  Put32(&f[tcp + 8], flags & 0x10 ? 2001 : 0);
  f[tcp + 12] = 10 << 4;  // 40-byte header
  f[tcp + 13] = flags;
  Put16(&f[tcp + 14], 64240);
  const uint8_t options[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
  std::memcpy(&f[tcp + 20], options, 20);
  for (uint32_t i = 0; i < payload; i++) f[tcp + 40 + i] = static_cast<uint8_t>('a' + i % 26);
  const uint8_t* src = v6 ? kPeerV6 : kPeerV4;
  const uint8_t* dst = v6 ? kLocalV6 : kLocalV4;
  uint64_t sum = syncache::wire::PseudoHeaderSum(src, dst, v6 ? 16 : 4, IPPROTO_TCP, tcpLength);
  syncache::wire::ChecksumStore(&f[tcp + 16], syncache::wire::ChecksumAdd(sum, &f[tcp], tcpLength));
  return f;
}

bool ReadCorpus(const char* path, std::vector<std::vector<uint8_t>>* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<uint8_t> frame;
    for (size_t i = 0; i + 1 < line.size(); i += 2) {
      frame.push_back(static_cast<uint8_t>(std::strtoul(line.substr(i, 2).c_str(), nullptr, 16)));
    }
    out->push_back(std::move(frame));
  }
  return true;
}

void Mutate(std::vector<uint8_t>* f, Random* r) {
  const uint32_t edits = 1 + r->Below(4);
  for (uint32_t e = 0; e < edits; e++) {
    switch (r->Below(6)) {
      case 0:  // flip a bit
        if (!f->empty()) (*f)[r->Below(f->size())] ^= static_cast<uint8_t>(1u << r->Below(8));
        break;
      case 1:  // any byte
        if (!f->empty()) (*f)[r->Below(f->size())] = static_cast<uint8_t>(r->Next());
        break;
      case 2:  // cut short
        f->resize(r->Below(f->size() + 1));
        break;
      case 3:  // more bytes
        for (uint32_t n = r->Below(64); n > 0; n--) f->push_back(static_cast<uint8_t>(r->Next()));
        break;
      case 4:  // a boundary value in a header byte (lengths, offsets, option kinds)
        if (!f->empty()) {
          const uint8_t values[] = {0, 1, 2, 0x0f, 0x40, 0x45, 0x4f, 0x7f, 0x80, 0xf0, 0xff};
          (*f)[r->Below(std::min<size_t>(f->size(), 80))] = values[r->Below(sizeof(values))];
        }
        break;
      default:  // a 16-bit length field at a header offset set to anything
        if (f->size() >= 2) Put16(&(*f)[r->Below(std::min<size_t>(f->size() - 1, 80))], static_cast<uint16_t>(r->Next()));
        break;
    }
  }
}

#define SYNCACHE_COUNTER_NAME(name) #name,
const char* const kCounterNames[] = {SYNCACHE_NATIVE_COUNTERS(SYNCACHE_COUNTER_NAME)};

uint64_t Total(const Counters& c) {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < syncache::kCounterCount; i++) sum += c.value[i];
  return sum;
}

// Walks what a PeekSerializer wrote: true if its records (count first, then
// flow index < keyCount, seq, length, bytes padded to 4) end exactly where it
// says it stopped, within the buffer.
bool PeekAddsUp(const uint8_t* out, size_t used, size_t capacity, size_t keyCount) {
  if (used > capacity || used < 4) return false;
  uint32_t records;
  std::memcpy(&records, out, 4);
  size_t at = 4;
  for (uint32_t r = 0; r < records; r++) {
    if (at + 12 > used) return false;
    uint32_t head[3];
    std::memcpy(head, out + at, 12);
    if (head[0] >= keyCount) return false;
    at += 12 + ((static_cast<size_t>(head[2]) + 3) & ~static_cast<size_t>(3));
  }
  return at == used;
}

}  // namespace

int main(int argc, char** argv) {
  const char* corpusPath = nullptr;
  uint64_t iterations = 200000;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--corpus") corpusPath = argv[i + 1];
    else if (flag == "--iterations") iterations = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--seed") seed = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "pipeline_fuzz: unknown flag %s (see the header of native/fuzz/pipeline_fuzz.cc)\n", argv[i]);
      return 2;
    }
  }

  auto secrets = std::make_unique<syncache::CookieSecrets>();
  std::memset(secrets.get(), 0, sizeof(*secrets));
  for (int s = 0; s < 2; s++) {
    secrets->valid[s] = 1;
    for (uint32_t b = 0; b < syncache::kSecretBytes; b++) secrets->secret[s][b] = static_cast<uint8_t>(s * 31 + b);
  }
  auto counters = std::make_unique<Counters>();
  std::memset(counters.get(), 0, sizeof(*counters));
  auto batch = std::make_unique<PacketBatch>();
  auto send = std::make_unique<PacketBatch>();
  std::memset(send.get(), 0, sizeof(*send));

  Pipeline pipeline;
  pipeline.counters = counters.get();
  pipeline.secrets = secrets.get();
  uint32_t v4;
  std::memcpy(&v4, kLocalV4, 4);
  pipeline.config.v4.push_back(v4);
  std::array<uint32_t, 4> v6;
  std::memcpy(v6.data(), kLocalV6, 16);
  pipeline.config.v6.push_back(v6);
  pipeline.config.ports.push_back(kPort);
  pipeline.config.mode = syncache::CookieMode::kOn;

  std::vector<std::vector<uint8_t>> seeds;
  for (bool isV6 : {false, true}) {
    for (bool vlan : {false, true}) {
      seeds.push_back(Segment(isV6, vlan, 0x02, 0));    // SYN
      seeds.push_back(Segment(isV6, vlan, 0x10, 0));    // ACK
      seeds.push_back(Segment(isV6, vlan, 0x18, 300));  // ACK + data
      seeds.push_back(Segment(isV6, vlan, 0x04, 0));    // RST
    }
  }
  std::vector<std::vector<uint8_t>> corpus;
  if (corpusPath != nullptr && !ReadCorpus(corpusPath, &corpus)) {
    std::fprintf(stderr, "pipeline_fuzz: cannot read %s\n", corpusPath);
    return 2;
  }

  // The flows of the seeds that carry data, for the peeks, and one no frame has.
  auto scratch = std::make_unique<PacketBatch>();
  std::vector<syncache::FlowKey> peekKeys;
  for (const auto& seed : seeds) {
    Counters ignored{};
    scratch->payloadUsed = 0;
    if (syncache::wire::ParseFrame(seed.data(), static_cast<uint32_t>(seed.size()), 0, 0, pipeline.config, scratch.get(), 0, &ignored) &&
        scratch->payloadLength[0] > 0) {
      peekKeys.push_back(syncache::FlowKey::FromRow(*scratch, 0));
    }
  }
  syncache::FlowKey stranger = peekKeys.front();
  stranger.peerPort = 1;
  peekKeys.push_back(stranger);

  Random random{seed};
  uint32_t rows = 0;
  uint64_t frames = 0, accepted = 0, built = 0, miscounted = 0, arenaLeaks = 0;
  uint64_t skipped = 0, peeked = 0, urgent = 0, lookAheadErrors = 0;
  std::vector<uint8_t> out(4096);
  auto flush = [&]() {
    if (rows == 0) return;
    pipeline.Finish(batch.get(), rows);
    rows = 0;
  };
  auto feed = [&](const std::vector<uint8_t>& frame, uint16_t ringVlan, bool mutated) {
    // An exact-size heap copy, so reading past the frame is caught.
    std::unique_ptr<uint8_t[]> copy(new uint8_t[std::max<size_t>(frame.size(), 1)]);
    std::memcpy(copy.get(), frame.data(), frame.size());
    // As the ring does for a frame marked TP_STATUS_CSUMNOTREADY, now and then.
    if (mutated && random.Below(4) == 0) syncache::wire::CompletePartialChecksum(copy.get(), static_cast<uint32_t>(frame.size()));
    const uint32_t length = static_cast<uint32_t>(frame.size());
    if (mutated && random.Below(8) == 0) {
      // A look ahead: peeked into a buffer of random size, exactly allocated.
      const size_t capacity = 4 + random.Below(1024);
      std::unique_ptr<uint8_t[]> out(new uint8_t[capacity]);
      syncache::PeekSerializer peek(pipeline.config, peekKeys.data(), peekKeys.size(), out.get(), capacity, scratch.get());
      peek(copy.get(), length, ringVlan, 1.7e12);
      peeked += peek.records();
      if (!PeekAddsUp(out.get(), peek.used(), capacity, peekKeys.size())) lookAheadErrors++;
      if (syncache::IsUrgentSegment(copy.get(), length)) urgent++;
    }
    if (mutated && !pipeline.handedOver.empty() && random.Below(2) == 0) {
      // As before a receive: a handed-over flow's own segment is taken (and
      // counted as receive() would); anything else is left, uncounted.
      const uint64_t beforeSkip = Total(*counters);
      syncache::HandedOverSkip skip(&pipeline, scratch.get());
      if (skip(copy.get(), length, ringVlan, 1.7e12)) {
        frames++;
        skipped++;
        if (Total(*counters) == beforeSkip) miscounted++;
        return;
      }
      if (Total(*counters) != beforeSkip) lookAheadErrors++;
    }
    const uint64_t before = Total(*counters);
    const uint32_t arenaBefore = batch->payloadUsed;
    bool ok = pipeline.Accept(copy.get(), static_cast<uint32_t>(frame.size()),
                              ringVlan, 1.7e12, batch.get(), rows);
    frames++;
    if (ok) {
      accepted++;
      // Now and then the flow becomes handed over (or stops being), so the
      // skip path and the flow set's growth and removal run too.
      if (mutated && random.Below(16) == 0) {
        const syncache::FlowKey key = syncache::FlowKey::FromRow(*batch, rows);
        switch (random.Below(6)) {
          case 0: pipeline.handedOver.Remove(key); break;
          case 1: pipeline.handedOver.RemoveIfIsn(key, batch->seq[rows]); break;
          case 2: pipeline.handedOver.MarkClosed(key, batch->seq[rows]); break;
          default:
            pipeline.handedOver.Add(key, random.Below(2) ? syncache::kFlowKernelSocket : syncache::kFlowReported,
                                    random.Below(2) == 0 ? batch->seq[rows] : static_cast<uint32_t>(random.Next()));
        }
      }
      if (++rows == syncache::kBatchCapacity) flush();
    } else {
      if (Total(*counters) == before) miscounted++;  // dropped without a reason
      if (rows > 0 && batch->payloadUsed != arenaBefore) arenaLeaks++;  // a dropped frame kept arena space
    }
  };

  for (const auto& frame : corpus) feed(frame, 0, false);
  // The seeds are well-formed: each must be accepted, or the mutations
  // below would only ever reach the parser's first checks.
  for (size_t i = 0; i < seeds.size(); i++) {
    Counters before = *counters;
    const uint64_t acceptedBefore = accepted;
    feed(seeds[i], 0, false);
    if (accepted == acceptedBefore) {
      std::fprintf(stderr, "pipeline_fuzz: well-formed seed %zu was dropped:", i);
      for (uint32_t c = 0; c < syncache::kCounterCount; c++) {
        if (counters->value[c] != before.value[c]) std::fprintf(stderr, " %s", kCounterNames[c]);
      }
      std::fprintf(stderr, "\n");
      return 1;
    }
  }
  for (uint64_t i = 0; i < iterations; i++) {
    std::vector<uint8_t> frame = random.Below(8) == 0 && !corpus.empty()
                                     ? corpus[random.Below(corpus.size())]
                                     : seeds[random.Below(seeds.size())];
    Mutate(&frame, &random);
    // A tag the kernel took off (as the ring reports it), now and then.
    feed(frame, static_cast<uint16_t>(random.Below(4) == 0 ? random.Below(4096) : 0), true);
    if (i % 64 == 0) {
      // A send row with random fields: Build must refuse (count) or build within capacity.
      const uint32_t row = random.Below(syncache::kBatchCapacity);
      uint8_t* bytes = reinterpret_cast<uint8_t*>(send.get());
      for (size_t b = 0; b < 32; b++) bytes[random.Below(sizeof(PacketBatch))] = static_cast<uint8_t>(random.Next());
      send->kind[row] = static_cast<uint8_t>(16 + random.Below(4));
      send->family[row] = random.Below(2) ? 4 : 6;
      const uint32_t capacity = random.Below(static_cast<uint32_t>(out.size()));
      std::unique_ptr<uint8_t[]> target(new uint8_t[std::max<uint32_t>(capacity, 1)]);
      const uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
      if (pipeline.Build(*send, row, mac, target.get(), capacity) > 0) built++;
    }
  }
  flush();
  std::printf("{\"frames\":%llu,\"accepted\":%llu,\"built\":%llu,\"miscounted\":%llu,\"arenaLeaks\":%llu,"
              "\"skipped\":%llu,\"peeked\":%llu,\"urgent\":%llu,\"lookAheadErrors\":%llu}\n",
              static_cast<unsigned long long>(frames), static_cast<unsigned long long>(accepted),
              static_cast<unsigned long long>(built), static_cast<unsigned long long>(miscounted),
              static_cast<unsigned long long>(arenaLeaks), static_cast<unsigned long long>(skipped),
              static_cast<unsigned long long>(peeked), static_cast<unsigned long long>(urgent),
              static_cast<unsigned long long>(lookAheadErrors));
  return miscounted == 0 && arenaLeaks == 0 && lookAheadErrors == 0 ? 0 : 1;
}
