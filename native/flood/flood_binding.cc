// STUB: the SYN flood generator.
#include <napi.h>

namespace syncache {

void InitFloodBinding(Napi::Env env, Napi::Object exports) {}

}  // namespace syncache
