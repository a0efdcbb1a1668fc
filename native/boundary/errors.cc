#include "boundary/errors.h"

#include <cerrno>
#include <cstring>
#include <string>

#include <uv.h>

namespace syncache {

namespace {

// The code Node itself gives the same errno (libuv's table: ENETUNREACH,
// ECONNREFUSED, ...), so `error.code` compares with Node's own errors.
std::string ErrnoName(int err) {
  char name[64];
  uv_err_name_r(-err, name, sizeof(name));
  return std::strncmp(name, "Unknown system error", 20) == 0 ? std::string("EUNKNOWN") : std::string(name);
}

}  // namespace

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                       const std::string& what, const std::string& hint) {
  std::string message = what.empty() ? std::string(syscall) : what;
  message += ": ";
  message += std::strerror(err);
  message += " (";
  message += ErrnoName(err);
  message += ")";
  if (!hint.empty()) {
    message += ". ";
    message += hint;
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

void ThrowErrno(Napi::Env env, int err, const char* syscall,
                const std::string& what, const std::string& hint) {
  ErrnoError(env, err, syscall, what, hint).ThrowAsJavaScriptException();
}

void ThrowSysError(Napi::Env env, const SysError& error, const char* prefix) {
  if (error.err == 0) ThrowRangeError(env, prefix + error.what);
  else ThrowErrno(env, error.err, error.syscall, error.what, error.hint);
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
}

}  // namespace syncache
