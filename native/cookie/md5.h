#pragma once

#include <cstddef>
#include <cstdint>

namespace syncache::cookie {

// MD5 (RFC 1321) of `length` bytes.
void Md5(const uint8_t* data, size_t length, uint8_t digest[16]);

}  // namespace syncache::cookie
