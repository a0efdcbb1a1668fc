// STUB: md5() and the cookie tables for JS.
#include <napi.h>

namespace syncache {

void InitCookieBinding(Napi::Env env, Napi::Object exports) {}

}  // namespace syncache
