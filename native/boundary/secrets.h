// Cookie secrets and the flow-hash key, shared read-mostly between the
// TypeScript owner (which draws them from a CSPRNG and rotates them) and every
// native reader, through one SharedArrayBuffer laid out as this struct.
//
// Rotation writes into a slot whose version is odd while the bytes change
// (a seqlock): a reader copies the slot and accepts it only if the version
// was even and unchanged around the copy. A slot that fails that check, or
// whose `valid` is 0, makes no cookie and validates none.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

namespace syncache {

constexpr uint32_t kSecretBytes = 16;

struct CookieSecrets {
  uint32_t version[2];              // seqlock per slot: odd while written
  uint32_t valid[2];                // 1 when the slot holds a live secret
  uint32_t active;                  // slot that new cookies use (0 or 1)
  uint32_t reserved;
  uint8_t secret[2][kSecretBytes];  // 128-bit MD5 keys
  uint8_t flowHashKey[kSecretBytes];
};

// Copies slot `slot` into out; false if it is invalid or was being rewritten.
inline bool ReadSecret(const CookieSecrets* s, uint32_t slot, uint8_t out[kSecretBytes]) {
  const auto* version = reinterpret_cast<const std::atomic<uint32_t>*>(&s->version[slot]);
  const auto* valid = reinterpret_cast<const std::atomic<uint32_t>*>(&s->valid[slot]);
  uint32_t before = version->load(std::memory_order_acquire);
  if ((before & 1u) != 0 || valid->load(std::memory_order_acquire) != 1) return false;
  std::memcpy(out, s->secret[slot], kSecretBytes);
  std::atomic_thread_fence(std::memory_order_acquire);
  return version->load(std::memory_order_relaxed) == before;
}

inline uint32_t ActiveSlot(const CookieSecrets* s) {
  return reinterpret_cast<const std::atomic<uint32_t>*>(&s->active)->load(std::memory_order_acquire) & 1u;
}

}  // namespace syncache
