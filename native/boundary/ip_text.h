// An IP address as text (what JS passes: "198.18.0.1", "2001:db8::1") into
// its 16 bytes, the one parser the bindings share. No Node-API.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

namespace syncache {

// `text` as an address of `family` (4 or 6; 0: either) into *out (IPv4 in
// its first 4 bytes, network order, the rest zero). Returns the family it
// parsed as, or 0 if it is not one.
inline int ParseIp(const std::string& text, int family, in6_addr* out) {
  in6_addr a{};
  if (family != 6 && inet_pton(AF_INET, text.c_str(), &a) == 1) {
    *out = a;
    return 4;
  }
  if (family != 4 && inet_pton(AF_INET6, text.c_str(), &a) == 1) {
    *out = a;
    return 6;
  }
  return 0;
}

}  // namespace syncache
