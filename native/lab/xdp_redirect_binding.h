// The lab's XDP redirect program as a JS class (see xdp_redirect.h).
#pragma once

#include <napi.h>

namespace syncache {

// exports.XdpRedirect: new XdpRedirect({ iface, netns?, queues?, generic? })
//   .xskMap (the map's fd, for Ring's options.xskMap) .ifindex .close()
void InitXdpRedirectBinding(Napi::Env env, Napi::Object exports);

}  // namespace syncache
