#include "io/af_packet_args.h"

#include <string>

#include "boundary/errors.h"

namespace syncache {

bool ReadNetnsAndIface(Napi::Env env, Napi::Object options, AfPacketConfig* config) {
  Napi::Value iface = options.Get("iface");
  if (!iface.IsString()) {
    ThrowTypeError(env, "options.iface must be an interface name (string)");
    return false;
  }
  config->iface = iface.As<Napi::String>().Utf8Value();
  if (config->iface.empty() || config->iface.size() >= 16 ||
      config->iface.find('/') != std::string::npos) {
    ThrowRangeError(env, "options.iface must be 1 to 15 characters without '/', got '" +
                             config->iface + "'");
    return false;
  }
  Napi::Value netns = options.Get("netns");
  if (!netns.IsUndefined()) {
    if (!netns.IsString() || netns.As<Napi::String>().Utf8Value().empty()) {
      ThrowTypeError(env, "options.netns must be the path of a network namespace (string)");
      return false;
    }
    config->netns = netns.As<Napi::String>().Utf8Value();
  }
  return true;
}

}  // namespace syncache
