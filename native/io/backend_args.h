// The Ring's options that choose and shape its packet backend
// (io/backend_factory.h), read from JS with errors that name the field:
//   iface, netns?                 both backends
//   io?: 'packet' | 'xdp'         default 'packet'
//   lowLatency?                   'packet': RX as TPACKET_V2 ('xdp' always reads so)
//   fanoutGroup?, qdiscBypass?, blockSize?, blockCount?, retireMs?   'packet' only
//   txFrames?                     TX slots ('packet': 1..65536, default 16384;
//                                 'xdp': TX frames, a power of two, default 4096)
//   xskMap, queue?, frameSize?, rxFrames?, zeroCopy?                 'xdp' only
// An option of the other backend is a TypeError, not ignored.
#pragma once

#include <napi.h>

#include "io/backend_factory.h"

namespace syncache {

bool ReadBackendOptions(Napi::Env env, Napi::Object options, BackendConfig* config);

}  // namespace syncache
