// The Internet checksum (RFC 1071) with the pseudo-headers of RFC 793 and
// RFC 8200 8.1.
//
// The one's-complement sum is independent of byte order (RFC 1071 2(B)), so
// the data is summed as it lies in memory, 32 bits at a time into a 64-bit
// accumulator (no carry handling until the fold), and the folded result is
// stored back with memcpy: the bytes come out in network order on any host.
// Values that are not in memory (protocol, length) are added as the native
// load of their network-order bytes. A header whose checksum field is right
// folds to 0xffff.
#pragma once

#include <cstdint>
#include <cstring>

namespace syncache::wire {

inline uint64_t ChecksumAdd(uint64_t sum, const uint8_t* p, uint32_t n) {
  while (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    sum += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    sum += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    const uint8_t last[2] = {p[0], 0};
    uint16_t w;
    std::memcpy(&w, last, 2);
    sum += w;
  }
  return sum;
}

// A 16-bit value in network order, as the native load of its bytes.
inline uint64_t ChecksumAddBe16(uint64_t sum, uint16_t value) {
  const uint8_t bytes[2] = {static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
  uint16_t w;
  std::memcpy(&w, bytes, 2);
  return sum + w;
}

inline uint16_t ChecksumFold(uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Pseudo-header sums; addresses are `bytes` long (4 or 16) in network order.
inline uint64_t PseudoHeaderSum(const uint8_t* saddr, const uint8_t* daddr, uint32_t bytes,
                                uint8_t protocol, uint32_t length) {
  uint64_t sum = ChecksumAdd(0, saddr, bytes);
  sum = ChecksumAdd(sum, daddr, bytes);
  sum = ChecksumAddBe16(sum, protocol);
  sum = ChecksumAddBe16(sum, static_cast<uint16_t>(length >> 16));
  return ChecksumAddBe16(sum, static_cast<uint16_t>(length));
}

// True if data (with its checksum field in place) plus `sum` verifies.
inline bool ChecksumOk(uint64_t sum, const uint8_t* p, uint32_t n) {
  return ChecksumFold(ChecksumAdd(sum, p, n)) == 0xffff;
}

// Stores the checksum of `sum` (data summed with the field zeroed) at `field`.
inline void ChecksumStore(uint8_t* field, uint64_t sum) {
  uint16_t c = static_cast<uint16_t>(~ChecksumFold(sum));
  std::memcpy(field, &c, 2);
}

}  // namespace syncache::wire
