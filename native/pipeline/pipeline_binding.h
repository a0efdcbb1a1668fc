// The JS side of the pipeline: its configuration, batches and counters as
// JS values, and the pipeline's test/benchmark bindings.
#pragma once

#include <napi.h>

#include "pipeline/pipeline.h"

namespace syncache {

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
