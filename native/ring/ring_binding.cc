// STUB: JS class Ring.
#include <napi.h>

namespace syncache {

void InitRingBinding(Napi::Env env, Napi::Object exports) {}

}  // namespace syncache
