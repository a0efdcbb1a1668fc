#include "pipeline/pipeline.h"

#include <arpa/inet.h>

#include <string>

#include "boundary/errors.h"
#include "cookie/syncookie.h"
#include "wire/build.h"
#include "wire/parse.h"

namespace syncache {

bool Pipeline::Accept(const uint8_t* frame, uint32_t length, uint16_t ringVlan,
                      double timeMs, PacketBatch* batch, uint32_t row) {
  if (row == 0) batch->payloadUsed = 0;  // a new batch: the arena starts empty
  if (!wire::ParseFrame(frame, length, ringVlan, timeMs, config, batch, row, counters)) return false;
  if (!handedOver.empty()) {
    const FlowKey key = FlowKey::FromRow(*batch, row);
    const FlowFate fate = handedOver.Find(key);
    if (batch->kind[row] == kKindSyn) {
      // A new connection on the 4-tuple of one that is no longer ours. If a
      // kernel socket had it, that socket may sit in TIME_WAIT: with
      // timestamps the kernel lets the new socket take it over, so answer;
      // without, it would refuse the socket, so leave the SYN unanswered
      // until the TIME_WAIT is gone (the peer resends it).
      if (fate == kFlowKernelSocket && (batch->optFlags[row] & kOptTimestamps) == 0) {
        counters->Bump(kCounter_synOnTimeWait);
        return false;
      }
      if (fate != kFlowAbsent) {
        handedOver.Remove(key);
        counters->Bump(kCounter_handedOverReopened);
      }
    } else if (fate != kFlowAbsent) {
      // The kernel socket has it. The arena space is not given back: rare.
      counters->Bump(kCounter_skippedHandedOver);
      return false;
    }
  }
  return true;
}

void Pipeline::Finish(PacketBatch* batch, uint32_t count) {
  cookie::ProcessBatch(batch, count, secrets, config.mode, counters);
}

uint32_t Pipeline::Build(const PacketBatch& batch, uint32_t row, const uint8_t srcMac[6],
                         uint8_t* out, uint32_t capacity) {
  return wire::BuildFrame(batch, row, srcMac, out, capacity, counters);
}

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
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, text.c_str(), &a4) == 1) {
      config.v4.push_back(a4.s_addr);
    } else if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
      std::array<uint32_t, 4> words{};
      std::memcpy(words.data(), &a6, 16);
      config.v6.push_back(words);
    } else {
      ThrowTypeError(env, "options.addrs[" + std::to_string(i) + "] is not an IPv4 or IPv6 address: " + text);
      return false;
    }
  }
  Napi::Value ports = options.Get("ports");
  if (!ports.IsArray() || ports.As<Napi::Array>().Length() == 0) {
    ThrowTypeError(env, "options.ports must be a non-empty array of port numbers");
    return false;
  }
  Napi::Array portList = ports.As<Napi::Array>();
  for (uint32_t i = 0; i < portList.Length(); i++) {
    Napi::Value v = portList.Get(i);
    double p = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(p >= 1 && p <= 65535) || p != static_cast<double>(static_cast<uint32_t>(p))) {
      ThrowRangeError(env, "options.ports[" + std::to_string(i) + "] must be an integer from 1 to 65535");
      return false;
    }
    config.ports.push_back(static_cast<uint16_t>(p));
  }
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

}  // namespace syncache
