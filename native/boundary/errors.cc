#include "boundary/errors.h"

#include <cerrno>
#include <cstring>

namespace syncache {

namespace {

const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EBUSY: return "EBUSY";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAGAIN: return "EAGAIN";
    case ENETDOWN: return "ENETDOWN";
    case EMSGSIZE: return "EMSGSIZE";
    case EBADF: return "EBADF";
    case EEXIST: return "EEXIST";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return "EUNKNOWN";
  }
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

void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
}

}  // namespace syncache
