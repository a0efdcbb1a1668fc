// md5(), the cookie tables and processCookies() for JS: tests fill batch rows
// through a BatchView and run the cookie pass without frames; benchmarks time
// it.
//
//   md5(data: Uint8Array, out: Uint8Array(16))
//   md5Lanes(words: Uint32Array(16 * lanes), out: Uint32Array(4 * lanes),
//            repeat = 1, scalar = false)   transposed one-block compressions
//   cookie: { mssTable, wscaleTable, layout, md5Lanes, md5Avx2 }
//   processCookies(batch: ArrayBuffer, count, secrets: Uint8Array,
//                  mode: 'off'|'on'|'only', counters?: BigUint64Array)
#include <napi.h>

#include <string>

#include "boundary/errors.h"
#include "cookie/md5.h"
#include "cookie/syncookie.h"
#include "pipeline/pipeline_binding.h"

namespace syncache {

namespace {

size_t ElementBytes(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    default: return 8;
  }
}

// Bytes of a typed array (a SharedArrayBuffer view too) or an ArrayBuffer,
// with as few Node-API calls as possible: md5() is called per digest.
bool ViewBytes(Napi::Env env, Napi::Value value, const char* name, uint8_t** data, size_t* length) {
  napi_typedarray_type type;
  size_t elements = 0;
  void* raw = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &elements, &raw, nullptr, nullptr) == napi_ok) {
    *data = static_cast<uint8_t*>(raw);
    *length = elements * ElementBytes(type);
    return true;
  }
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer b = value.As<Napi::ArrayBuffer>();
    *data = static_cast<uint8_t*>(b.Data());
    *length = b.ByteLength();
    return true;
  }
  ThrowTypeError(env, std::string(name) + " must be a Uint8Array");
  return false;
}

bool Uint32View(Napi::Env env, Napi::Value value, const char* name, size_t elements, uint32_t** out) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    ThrowTypeError(env, std::string(name) + " must be a Uint32Array");
    return false;
  }
  Napi::Uint32Array a = value.As<Napi::Uint32Array>();
  if (a.ElementLength() != elements) {
    ThrowRangeError(env, std::string(name) + " must have " + std::to_string(elements) +
                             " elements, got " + std::to_string(a.ElementLength()));
    return false;
  }
  *out = a.Data();
  return true;
}

Napi::Value Md5(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data = nullptr;
  size_t length = 0;
  if (!ViewBytes(env, info[0], "data", &data, &length)) return env.Undefined();
  uint8_t* out = nullptr;
  size_t outLength = 0;
  if (!ViewBytes(env, info[1], "out", &out, &outLength)) return env.Undefined();
  if (outLength != 16) {
    ThrowRangeError(env, "out must be exactly 16 bytes, got " + std::to_string(outLength));
    return env.Undefined();
  }
  cookie::Md5(data, length, out);
  return env.Undefined();
}

Napi::Value Md5Lanes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* words = nullptr;
  uint32_t* out = nullptr;
  if (!Uint32View(env, info[0], "words", 16 * cookie::kMd5Lanes, &words)) return env.Undefined();
  if (!Uint32View(env, info[1], "out", 4 * cookie::kMd5Lanes, &out)) return env.Undefined();
  double repeat = 1;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    repeat = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
    if (!(repeat >= 1 && repeat <= 1e9) || repeat != static_cast<double>(static_cast<uint32_t>(repeat))) {
      ThrowRangeError(env, "repeat must be an integer from 1 to 1e9");
      return env.Undefined();
    }
  }
  bool scalar = info.Length() > 3 && info[3].ToBoolean().Value();
  auto* w = reinterpret_cast<const uint32_t(*)[cookie::kMd5Lanes]>(words);
  auto* o = reinterpret_cast<uint32_t(*)[cookie::kMd5Lanes]>(out);
  uint32_t n = static_cast<uint32_t>(repeat);
  for (uint32_t k = 0; k < n; k++) {
    if (scalar) cookie::Md5CompressLanesScalar(w, o);
    else cookie::Md5CompressLanes(w, o);
    // Keep repeated runs from being folded into one.
    __asm__ volatile("" : : "r"(o) : "memory");
  }
  return env.Undefined();
}

Napi::Value ProcessCookies(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PacketBatch* batch = BatchFromValue(env, info[0], "batch");
  if (batch == nullptr) return env.Undefined();
  double count = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!(count >= 0 && count <= kBatchCapacity) || count != static_cast<double>(static_cast<uint32_t>(count))) {
    ThrowRangeError(env, "count must be an integer from 0 to " + std::to_string(kBatchCapacity));
    return env.Undefined();
  }
  uint8_t* secretBytes = BytesFromValue(env, info[2], "secrets", sizeof(CookieSecrets));
  if (secretBytes == nullptr) return env.Undefined();
  if (reinterpret_cast<uintptr_t>(secretBytes) % alignof(CookieSecrets) != 0) {
    ThrowRangeError(env, "secrets must start at a 4-byte aligned offset");
    return env.Undefined();
  }
  std::string modeText = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  CookieMode mode;
  if (modeText == "off") mode = CookieMode::kOff;
  else if (modeText == "on") mode = CookieMode::kOn;
  else if (modeText == "only") mode = CookieMode::kOnly;
  else {
    ThrowTypeError(env, "mode must be 'off', 'on' or 'only'");
    return env.Undefined();
  }
  Counters scratch{};
  Counters* counters = &scratch;
  if (info.Length() > 4 && !info[4].IsUndefined()) {
    if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
      ThrowTypeError(env, "counters must be a BigUint64Array");
      return env.Undefined();
    }
    Napi::TypedArray c = info[4].As<Napi::TypedArray>();
    if (c.ElementLength() < kCounterCount) {
      ThrowRangeError(env, "counters must have at least " + std::to_string(kCounterCount) + " elements");
      return env.Undefined();
    }
    void* raw = nullptr;
    napi_typedarray_type type;
    size_t elements = 0;
    napi_get_typedarray_info(env, c, &type, &elements, &raw, nullptr, nullptr);
    counters = static_cast<Counters*>(raw);
  }
  cookie::ProcessBatch(batch, static_cast<uint32_t>(count),
                       reinterpret_cast<const CookieSecrets*>(secretBytes), mode, counters);
  return env.Undefined();
}

Napi::Object CookieTables(Napi::Env env) {
  Napi::Array mss = Napi::Array::New(env, cookie::kMssTableSize);
  for (uint32_t i = 0; i < cookie::kMssTableSize; i++) mss.Set(i, Napi::Number::New(env, cookie::kMssTable[i]));
  Napi::Array wscale = Napi::Array::New(env, cookie::kWscaleTableSize);
  for (uint32_t i = 0; i < cookie::kWscaleTableSize; i++) {
    uint8_t v = cookie::kWscaleTable[i];
    wscale.Set(i, Napi::Number::New(env, v == cookie::kNoWscale ? -1 : v));
  }
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("macShift", Napi::Number::New(env, cookie::kCookieMacShift));
  layout.Set("selectorShift", Napi::Number::New(env, cookie::kCookieSelectorShift));
  layout.Set("sackShift", Napi::Number::New(env, cookie::kCookieSackShift));
  layout.Set("wscaleShift", Napi::Number::New(env, cookie::kCookieWscaleShift));
  layout.Set("mssShift", Napi::Number::New(env, cookie::kCookieMssShift));
  layout.Set("indexMask", Napi::Number::New(env, cookie::kCookieIndexMask));
  Napi::Object tables = Napi::Object::New(env);
  tables.Set("mssTable", mss);
  tables.Set("wscaleTable", wscale);
  tables.Set("layout", layout);
  tables.Set("defaultMss", Napi::Number::New(env, cookie::kDefaultMssV4));
  tables.Set("defaultMss6", Napi::Number::New(env, cookie::kDefaultMssV6));
  tables.Set("md5Lanes", Napi::Number::New(env, cookie::kMd5Lanes));
  tables.Set("md5Avx2", Napi::Boolean::New(env, cookie::Md5LanesUseAvx2()));
  return tables;
}

}  // namespace

void InitCookieBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("md5", Napi::Function::New<Md5>(env, "md5"));
  exports.Set("md5Lanes", Napi::Function::New<Md5Lanes>(env, "md5Lanes"));
  exports.Set("processCookies", Napi::Function::New<ProcessCookies>(env, "processCookies"));
  exports.Set("cookie", CookieTables(env));
}

}  // namespace syncache
