// JS options shared by every binding that opens AF_PACKET sockets (the
// product's Ring, the lab's flood generator).
#pragma once

#include <napi.h>

#include "io/af_packet.h"

namespace syncache {

// Reads options.iface (1 to 15 characters without '/') and the optional
// options.netns (a path) into *config; throws a TypeError/RangeError naming
// the field and returns false on bad input.
bool ReadNetnsAndIface(Napi::Env env, Napi::Object options, AfPacketConfig* config);

}  // namespace syncache
