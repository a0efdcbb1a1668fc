// The SYN flood generator's binding (see flood_binding.cc).
#pragma once

#include <napi.h>

namespace syncache {

// exports.flood(options) -> Promise<FloodResult>.
void InitFloodBinding(Napi::Env env, Napi::Object exports);

}  // namespace syncache
