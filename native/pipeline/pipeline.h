// The per-batch packet path shared by the ring and by tests/benchmarks:
// parse frames into a PacketBatch, then hash flows and make/check cookies
// for the whole batch; and build frames from a send batch.
#pragma once

#include <napi.h>

#include <cstdint>

#include "boundary/batch.h"
#include "boundary/counters.h"
#include "boundary/secrets.h"
#include "pipeline/flow_set.h"
#include "pipeline/local_config.h"

namespace syncache {

class Pipeline {
 public:
  Counters* counters = nullptr;  // owned by the JS counters ArrayBuffer
  LocalConfig config;
  const CookieSecrets* secrets = nullptr;
  FlowSet handedOver;  // flows now served by kernel sockets: skipped

  // One frame into row `row`; true if it was accepted.
  bool Accept(const uint8_t* frame, uint32_t length, uint16_t ringVlan,
              double timeMs, PacketBatch* batch, uint32_t row);
  // After rows [0, count) are filled: flow hashes and cookies.
  void Finish(PacketBatch* batch, uint32_t count);
  // One send row into a frame; 0 if not buildable.
  uint32_t Build(const PacketBatch& batch, uint32_t row, const uint8_t srcMac[6],
                 uint8_t* out, uint32_t capacity);
};

// Reads { addrs: string[], ports: number[], cookies: 'off'|'on'|'only',
// secrets: Uint8Array over a SharedArrayBuffer } into `pipeline`, keeping the secrets buffer
// alive in `secretsRef`. Throws a JS TypeError/RangeError naming the field
// and returns false on bad input.
bool ConfigurePipeline(Napi::Env env, Napi::Object options, Pipeline* pipeline,
                       Napi::ObjectReference* secretsRef);

// The bytes of an ArrayBuffer or typed array (which may view a
// SharedArrayBuffer) of exactly `size` bytes; throws and returns nullptr
// otherwise.
uint8_t* BytesFromValue(Napi::Env env, Napi::Value value, const char* name, size_t size);

// A PacketBatch view of a JS ArrayBuffer of exactly sizeof(PacketBatch)
// bytes; throws and returns nullptr otherwise.
PacketBatch* BatchFromValue(Napi::Env env, Napi::Value value, const char* name);

// A BigUint64Array over freshly zeroed counters whose memory belongs to the
// ArrayBuffer (freed by its finalizer), so a view kept past its owner stays
// valid. Sets *out to the counters.
Napi::BigUint64Array NewCountersArray(Napi::Env env, Counters** out);

void InitPipelineBinding(Napi::Env env, Napi::Object exports);

}  // namespace syncache
