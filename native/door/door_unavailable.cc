// addon.door when the addon was built without the door (no clang able to
// target BPF, or no libbpf): it says what was missing, and the packet
// backends work as ever. binding.gyp picks this file or door_binding.cc.
#include <napi.h>

#ifndef SYNCACHE_DOOR_MISSING
#define SYNCACHE_DOOR_MISSING "clang or libbpf"
#endif

namespace syncache {

void InitDoorBinding(Napi::Env env, Napi::Object exports) {
  Napi::Object door = Napi::Object::New(env);
  door.Set("available", Napi::Boolean::New(env, false));
  door.Set("missing", Napi::String::New(env, SYNCACHE_DOOR_MISSING));
  exports.Set("door", door);
}

}  // namespace syncache
