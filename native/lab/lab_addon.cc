// The lab's addon (build/Release/syncache_lab.node), apart from the
// product's: tools that only `syncache lab`, the benchmarks and the tests
// use (the SYN flood generator; the XDP program that redirects TCP to an
// AF_XDP ring until the door's lands). It links the same Node-free core
// (binding.gyp's syncache_core: the wire helpers, the packet backends) as
// the product addon.
#include <napi.h>

#include "lab/flood_binding.h"
#include "lab/xdp_redirect_binding.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  syncache::InitFloodBinding(env, exports);
  syncache::InitXdpRedirectBinding(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(syncache_lab, Init)
