// STUB: replaced by the RFC 1321 MD5.
#include "cookie/md5.h"

#include <cstring>

namespace syncache::cookie {

void Md5(const uint8_t*, size_t, uint8_t digest[16]) { std::memset(digest, 0, 16); }

}  // namespace syncache::cookie
