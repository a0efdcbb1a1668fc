// What this responder answers for: its addresses and ports, and the cookie
// mode. Validated in TypeScript; native only re-checks sizes.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace syncache {

enum class CookieMode : uint8_t { kOff = 0, kOn = 1, kOnly = 2 };

struct LocalConfig {
  std::vector<uint32_t> v4;                  // network byte order
  std::vector<std::array<uint32_t, 4>> v6;   // network byte order words
  std::vector<uint16_t> ports;               // host order
  CookieMode mode = CookieMode::kOn;

  bool HasV4(uint32_t addr) const {
    for (uint32_t a : v4) if (a == addr) return true;
    return false;
  }
  bool HasV6(const uint32_t* addr) const {
    for (const auto& a : v6)
      if (a[0] == addr[0] && a[1] == addr[1] && a[2] == addr[2] && a[3] == addr[3]) return true;
    return false;
  }
  bool HasPort(uint16_t port) const {
    for (uint16_t p : ports) if (p == port) return true;
    return false;
  }
};

}  // namespace syncache
