// What stopped a system call, as the code that made it (on any thread, no
// Node-API) reports it to its binding, which throws it (ThrowSysError in
// boundary/errors.h): the errno, the call, what we were doing and what the
// user can do about it. err 0 with `what` set: no call failed, the request
// itself was wrong (a ring layout, say).
#pragma once

#include <cerrno>
#include <string>
#include <utility>

namespace syncache {

struct SysError {
  int err = 0;
  const char* syscall = "";
  std::string what;
  std::string hint;
};

// Fills *error; returns false, for `return ReportSysError(...)`.
inline bool ReportSysError(SysError* error, int err, const char* syscall, std::string what, std::string hint = "") {
  error->err = err;
  error->syscall = syscall;
  error->what = std::move(what);
  error->hint = std::move(hint);
  return false;
}

// What to do about EPERM/EACCES for `capability`; "" for other errors.
inline std::string PermissionHint(int err, const char* capability) {
  if (err != EPERM && err != EACCES) return "";
  return std::string(capability) + " is missing: run as root or grant it (e.g. setcap " + capability +
         "+ep on the node binary)";
}

}  // namespace syncache
