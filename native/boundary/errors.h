// One helper turns an errno into a JS Error with `code` (EPERM, ENODEV, ...),
// `errno`, `syscall`, and a message that says what to do about it.
#pragma once

#include <napi.h>

#include <string>

#include "boundary/sys_error.h"

namespace syncache {

// Builds (does not throw) the error. `what` names the operation in words,
// `hint` says what the user can do; both may be empty.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                       const std::string& what, const std::string& hint);

// Throws it as a JS exception; callers return right after.
void ThrowErrno(Napi::Env env, int err, const char* syscall,
                const std::string& what, const std::string& hint);

// Throws what a system call reported (see boundary/sys_error.h): an errno
// error, or for err 0 a RangeError about `prefix` + what (e.g. "options.").
void ThrowSysError(Napi::Env env, const SysError& error, const char* prefix = "options.");

void ThrowTypeError(Napi::Env env, const std::string& message);
void ThrowRangeError(Napi::Env env, const std::string& message);

}  // namespace syncache
