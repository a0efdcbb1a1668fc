// What stopped a system call, as the code that made it (on any thread, no
// Node-API) reports it to its binding, which throws it (ThrowSysError in
// boundary/errors.h): the errno, the call, what we were doing and what the
// user can do about it. err 0 with `what` set: no call failed, the request
// itself was wrong (a ring layout, say).
#pragma once

#include <string>

namespace syncache {

struct SysError {
  int err = 0;
  const char* syscall = "";
  std::string what;
  std::string hint;
};

}  // namespace syncache
