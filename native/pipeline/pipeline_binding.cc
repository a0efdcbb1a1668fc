// JS class Pipeline: the ring's packet path without a ring, over frames in a
// caller-owned buffer. Tests feed it fixture frames; benchmarks time it.
//
//   new Pipeline({ addrs, ports, cookies, secrets })
//   .counters                       BigUint64Array over the native counters
//   .process(frames, offsets, lengths, count, batch[, vlans]) -> rows accepted
//   .build(batch, count, srcMac, out, offsets, lengths)       -> frames built
#include "pipeline/pipeline_binding.h"

#include <napi.h>

#include <cstring>
#include <string>

#include "boundary/errors.h"
#include "boundary/js_args.h"
#include "boundary/ip_text.h"
#include "wire/build.h"

namespace syncache {

bool ConfigurePipeline(Napi::Env env, Napi::Object options, Pipeline* pipeline,
                       Napi::ObjectReference* secretsRef) {
  LocalConfig config;
  Napi::Value addrs = options.Get("addrs");
  if (!addrs.IsArray() || addrs.As<Napi::Array>().Length() == 0) {
    ThrowTypeError(env, "options.addrs must be a non-empty array of IP address strings");
    return false;
  }
  Napi::Array list = addrs.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsString()) {
      ThrowTypeError(env, "options.addrs[" + std::to_string(i) + "] must be a string");
      return false;
    }
    std::string text = v.As<Napi::String>().Utf8Value();
    in6_addr a{};
    const int family = ParseIp(text, 0, &a);
    std::array<uint32_t, 4> words{};
    std::memcpy(words.data(), &a, 16);
    if (family == 4) {
      config.v4.push_back(words[0]);
    } else if (family == 6) {
      config.v6.push_back(words);
    } else {
      ThrowTypeError(env, "options.addrs[" + std::to_string(i) + "] is not an IPv4 or IPv6 address: " + text);
      return false;
    }
  }
  std::vector<uint32_t> ports;
  if (!ReadIntegerArray(env, options, "options.", "ports", 1, 65535, 0, "port numbers", &ports)) return false;
  for (uint32_t port : ports) config.ports.push_back(static_cast<uint16_t>(port));
  Napi::Value cookies = options.Get("cookies");
  std::string mode = cookies.IsString() ? cookies.As<Napi::String>().Utf8Value() : "";
  if (mode == "off") config.mode = CookieMode::kOff;
  else if (mode == "on") config.mode = CookieMode::kOn;
  else if (mode == "only") config.mode = CookieMode::kOnly;
  else {
    ThrowTypeError(env, "options.cookies must be 'off', 'on' or 'only'");
    return false;
  }
  // Node 20's Node-API cannot open a SharedArrayBuffer itself, so the
  // secrets come as a Uint8Array view over it.
  uint8_t* secretBytes = BytesFromValue(env, options.Get("secrets"), "options.secrets",
                                        sizeof(CookieSecrets));
  if (secretBytes == nullptr) return false;
  // Its words are read atomically, across threads: they must be aligned.
  if (reinterpret_cast<uintptr_t>(secretBytes) % alignof(CookieSecrets) != 0) {
    ThrowRangeError(env, "options.secrets must start at a multiple of " + std::to_string(alignof(CookieSecrets)) +
                             " bytes into its buffer (its words are read atomically)");
    return false;
  }
  pipeline->config = std::move(config);
  pipeline->secrets = reinterpret_cast<const CookieSecrets*>(secretBytes);
  *secretsRef = Napi::Persistent(options.Get("secrets").As<Napi::Object>());
  return true;
}

uint8_t* BytesFromValue(Napi::Env env, Napi::Value value, const char* name, size_t size) {
  uint8_t* data = nullptr;
  size_t length = 0;
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer buffer = value.As<Napi::ArrayBuffer>();
    data = static_cast<uint8_t*>(buffer.Data());
    length = buffer.ByteLength();
  } else if (value.IsTypedArray()) {
    // napi_get_typedarray_info's data pointer already includes the offset
    // and, unlike ArrayBuffer().Data(), works for a SharedArrayBuffer view.
    napi_typedarray_type type;
    size_t elements = 0;
    void* raw = nullptr;
    if (napi_get_typedarray_info(env, value, &type, &elements, &raw, nullptr, nullptr) != napi_ok) {
      ThrowTypeError(env, std::string(name) + " could not be read");
      return nullptr;
    }
    data = static_cast<uint8_t*>(raw);
    length = value.As<Napi::TypedArray>().ByteLength();
  } else {
    ThrowTypeError(env, std::string(name) + " must be an ArrayBuffer or a Uint8Array of " +
                            std::to_string(size) + " bytes");
    return nullptr;
  }
  if (length != size || data == nullptr) {
    ThrowRangeError(env, std::string(name) + " must be exactly " + std::to_string(size) +
                             " bytes, got " + std::to_string(length));
    return nullptr;
  }
  return data;
}

PacketBatch* BatchFromValue(Napi::Env env, Napi::Value value, const char* name) {
  return reinterpret_cast<PacketBatch*>(BytesFromValue(env, value, name, sizeof(PacketBatch)));
}

Napi::BigUint64Array NewCountersArray(Napi::Env env, Counters** out) {
  auto* counters = new Counters{};
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, counters->value, sizeof(counters->value),
      [](Napi::Env, void*, Counters* c) { delete c; }, counters);
  *out = counters;
  return Napi::BigUint64Array::New(env, kCounterCount, buffer, 0);
}


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
  // A typed array of exactly this element type: As<Uint32Array>() on a
  // Uint8Array would index past its end.
  static bool IsTyped(const Napi::Value& v, napi_typedarray_type type) {
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
  }

  Napi::Value GetCounters(const Napi::CallbackInfo&) { return countersRef_.Value(); }

  Napi::Value Process(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!IsTyped(info[0], napi_uint8_array) || !IsTyped(info[1], napi_uint32_array) ||
        !IsTyped(info[2], napi_uint32_array) || !info[3].IsNumber() ||
        (info.Length() > 5 && !info[5].IsUndefined() && !IsTyped(info[5], napi_uint16_array))) {
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
    if (!info[1].IsNumber() || !IsTyped(info[2], napi_uint8_array) || !IsTyped(info[3], napi_uint8_array) ||
        !IsTyped(info[4], napi_uint32_array) || !IsTyped(info[5], napi_uint32_array)) {
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
