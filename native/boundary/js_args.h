// Reading the fields of an options object passed from JS, each with an error
// that names the field as the caller wrote it (`prefix` is "options." or
// "params.") and says what it must be. Callers return right after false:
// the exception is pending.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "boundary/errors.h"

namespace syncache {

// o[name] as an integer from min to max into *out; absent (undefined) is
// fine when `optional`, and leaves *out alone.
inline bool ReadInteger(Napi::Env env, Napi::Object o, const char* prefix, const char* name, double min,
                        double max, bool optional, uint32_t* out) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() && optional) return true;
  // The message is made only when it is thrown: options are read on hot paths
  // (a handoff reads a dozen per connection).
  auto must = [&]() {
    return std::string(prefix) + name + " must be an integer from " + std::to_string(static_cast<int64_t>(min)) +
           " to " + std::to_string(static_cast<int64_t>(max));
  };
  if (!v.IsNumber()) {
    ThrowTypeError(env, must());
    return false;
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != std::floor(d)) {
    ThrowRangeError(env, must() + ", got " + v.ToString().Utf8Value());
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

// o[name] as a non-empty array of integers from min to max, at most
// maxCount of them (0: any number), appended to *out; `what` names the
// items in the TypeError ("port numbers").
inline bool ReadIntegerArray(Napi::Env env, Napi::Object o, const char* prefix, const char* name, double min,
                             double max, uint32_t maxCount, const char* what, std::vector<uint32_t>* out) {
  Napi::Value v = o.Get(name);
  const uint32_t length = v.IsArray() ? v.As<Napi::Array>().Length() : 0;
  if (length == 0 || (maxCount != 0 && length > maxCount)) {
    ThrowTypeError(env, std::string(prefix) + name + " must be " +
                            (maxCount == 0 ? std::string("a non-empty array of ")
                                           : "an array of 1 to " + std::to_string(maxCount) + " ") +
                            what);
    return false;
  }
  Napi::Array list = v.As<Napi::Array>();
  for (uint32_t i = 0; i < length; i++) {
    Napi::Value item = list.Get(i);
    const double d = item.IsNumber() ? item.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= min && d <= max) || d != std::floor(d)) {
      ThrowRangeError(env, std::string(prefix) + name + "[" + std::to_string(i) + "] must be an integer from " +
                               std::to_string(static_cast<int64_t>(min)) + " to " +
                               std::to_string(static_cast<int64_t>(max)));
      return false;
    }
    out->push_back(static_cast<uint32_t>(d));
  }
  return true;
}

// o[name] as a boolean into *out; absent is fine when `optional`.
inline bool ReadBoolean(Napi::Env env, Napi::Object o, const char* prefix, const char* name, bool optional,
                        bool* out) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() && optional) return true;
  if (!v.IsBoolean()) {
    ThrowTypeError(env, std::string(prefix) + name + " must be a boolean");
    return false;
  }
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

// A plain object of named numbers (a layout's indices, a set of constants),
// as the addon publishes them to JavaScript.
inline Napi::Object NumberTable(Napi::Env env, std::initializer_list<std::pair<const char*, double>> fields) {
  Napi::Object table = Napi::Object::New(env);
  for (const auto& [name, value] : fields) table.Set(name, Napi::Number::New(env, value));
  return table;
}

}  // namespace syncache
