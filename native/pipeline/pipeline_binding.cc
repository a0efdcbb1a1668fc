// JS class Pipeline: the ring's packet path without a ring, over frames in a
// caller-owned buffer. Tests feed it fixture frames; benchmarks time it.
//
//   new Pipeline({ addrs, ports, cookies, secrets })
//   .counters                       BigUint64Array over the native counters
//   .process(frames, offsets, lengths, count, batch[, vlans]) -> rows accepted
//   .build(batch, count, srcMac, out, offsets, lengths)       -> frames built
#include <napi.h>

#include <cstring>

#include "boundary/errors.h"
#include "pipeline/pipeline.h"
#include "wire/build.h"

namespace syncache {

namespace {

class PipelineBinding : public Napi::ObjectWrap<PipelineBinding> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "Pipeline", {
        InstanceMethod<&PipelineBinding::Process>("process"),
        InstanceMethod<&PipelineBinding::Build>("build"),
        InstanceAccessor<&PipelineBinding::GetCounters>("counters"),
    });
    exports.Set("Pipeline", ctor);
  }

  explicit PipelineBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PipelineBinding>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) {
      ThrowTypeError(env, "new Pipeline(options): options must be an object");
      return;
    }
    if (!ConfigurePipeline(env, info[0].As<Napi::Object>(), &pipeline_, &secretsRef_)) return;
    countersRef_ = Napi::Persistent(NewCountersArray(env, &pipeline_.counters));
  }

 private:
  Napi::Value GetCounters(const Napi::CallbackInfo&) { return countersRef_.Value(); }

  Napi::Value Process(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray() || !info[3].IsNumber()) {
      ThrowTypeError(env, "process(frames: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, batch: ArrayBuffer[, vlans: Uint16Array])");
      return env.Undefined();
    }
    Napi::Uint8Array frames = info[0].As<Napi::Uint8Array>();
    Napi::Uint32Array offsets = info[1].As<Napi::Uint32Array>();
    Napi::Uint32Array lengths = info[2].As<Napi::Uint32Array>();
    uint32_t count = info[3].As<Napi::Number>().Uint32Value();
    PacketBatch* batch = BatchFromValue(env, info[4], "batch");
    if (batch == nullptr) return env.Undefined();
    const uint16_t* vlans = nullptr;
    if (info.Length() > 5 && info[5].IsTypedArray()) {
      Napi::Uint16Array v = info[5].As<Napi::Uint16Array>();
      if (v.ElementLength() < count) {
        ThrowRangeError(env, "vlans is shorter than count");
        return env.Undefined();
      }
      vlans = v.Data();
    }
    if (count > offsets.ElementLength() || count > lengths.ElementLength()) {
      ThrowRangeError(env, "count is larger than offsets or lengths");
      return env.Undefined();
    }
    uint32_t rows = 0;
    for (uint32_t i = 0; i < count && rows < kBatchCapacity; i++) {
      uint64_t end = static_cast<uint64_t>(offsets[i]) + lengths[i];
      if (end > frames.ByteLength()) {
        ThrowRangeError(env, "frame " + std::to_string(i) + " runs past the end of frames");
        return env.Undefined();
      }
      pipeline_.counters->Bump(kCounter_rxFrames);
      if (pipeline_.Accept(frames.Data() + offsets[i], lengths[i], vlans ? vlans[i] : 0,
                           0.0, batch, rows)) {
        rows++;
      }
    }
    pipeline_.Finish(batch, rows);
    return Napi::Number::New(env, rows);
  }

  Napi::Value Build(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    PacketBatch* batch = BatchFromValue(env, info[0], "batch");
    if (batch == nullptr) return env.Undefined();
    if (!info[1].IsNumber() || !info[2].IsTypedArray() || !info[3].IsTypedArray() ||
        !info[4].IsTypedArray() || !info[5].IsTypedArray()) {
      ThrowTypeError(env, "build(batch, count: number, srcMac: Uint8Array(6), out: Uint8Array, offsets: Uint32Array, lengths: Uint32Array)");
      return env.Undefined();
    }
    uint32_t count = info[1].As<Napi::Number>().Uint32Value();
    Napi::Uint8Array mac = info[2].As<Napi::Uint8Array>();
    Napi::Uint8Array out = info[3].As<Napi::Uint8Array>();
    Napi::Uint32Array offsets = info[4].As<Napi::Uint32Array>();
    Napi::Uint32Array lengths = info[5].As<Napi::Uint32Array>();
    if (mac.ByteLength() != 6) {
      ThrowRangeError(env, "srcMac must be 6 bytes");
      return env.Undefined();
    }
    if (count > kBatchCapacity || count > offsets.ElementLength() || count > lengths.ElementLength()) {
      ThrowRangeError(env, "count is larger than the batch, offsets or lengths");
      return env.Undefined();
    }
    uint32_t used = 0;
    uint32_t built = 0;
    for (uint32_t i = 0; i < count; i++) {
      uint32_t length = pipeline_.Build(*batch, i, mac.Data(), out.Data() + used,
                                        static_cast<uint32_t>(out.ByteLength()) - used);
      offsets[i] = used;
      lengths[i] = length;
      used += length;
      if (length > 0) built++;
    }
    return Napi::Number::New(env, built);
  }

  Pipeline pipeline_;
  Napi::ObjectReference secretsRef_;
  Napi::Reference<Napi::BigUint64Array> countersRef_;
};

}  // namespace

void InitPipelineBinding(Napi::Env env, Napi::Object exports) {
  PipelineBinding::Init(env, exports);
}

}  // namespace syncache
