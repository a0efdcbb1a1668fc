// An nftables session that lives as long as its owner: libnftables (loaded
// with dlopen, so the addon needs neither its headers nor the library to
// build or load) with a context whose netlink socket is opened inside the
// target network namespace and kept open. A table created through it with
// `flags owner` (Linux >= 5.12) belongs to that socket: only it may change
// the table, and the kernel deletes the table when the socket closes - at
// close(), at garbage collection, or when the process dies, however it dies.
//
//   new NftSession(netnsPath?)   throws (code ENOSYS) if libnftables is missing
//   session.run(commands)        one transaction; throws with nft's own message
//   session.close()              frees the context: owned tables go with it
//
// Policy (what the script says, when to fall back to the nft command) is in
// lib/gate/.
#include <dlfcn.h>
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "boundary/errors.h"
#include "io/netns.h"

namespace syncache {

namespace {

struct nft_ctx;

// The few entry points of libnftables' stable ABI (LIBNFTABLES_1) we use.
struct Libnftables {
  nft_ctx* (*ctxNew)(uint32_t flags) = nullptr;
  void (*ctxFree)(nft_ctx* ctx) = nullptr;
  int (*runCmdFromBuffer)(nft_ctx* ctx, const char* buffer) = nullptr;
  int (*bufferOutput)(nft_ctx* ctx) = nullptr;
  int (*bufferError)(nft_ctx* ctx) = nullptr;
  const char* (*getOutputBuffer)(nft_ctx* ctx) = nullptr;
  const char* (*getErrorBuffer)(nft_ctx* ctx) = nullptr;
  std::string loadError;
};

// Loaded once per process (dlopen is reference-counted and thread-safe).
const Libnftables& Library() {
  static const Libnftables lib = [] {
    Libnftables l;
    void* handle = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      l.loadError = why != nullptr ? why : "dlopen failed";
      return l;
    }
    bool ok = true;
    auto sym = [&](auto* fn, const char* name) {
      *fn = reinterpret_cast<std::remove_pointer_t<decltype(fn)>>(dlsym(handle, name));
      if (*fn == nullptr) ok = false;
    };
    sym(&l.ctxNew, "nft_ctx_new");
    sym(&l.ctxFree, "nft_ctx_free");
    sym(&l.runCmdFromBuffer, "nft_run_cmd_from_buffer");
    sym(&l.bufferOutput, "nft_ctx_buffer_output");
    sym(&l.bufferError, "nft_ctx_buffer_error");
    sym(&l.getOutputBuffer, "nft_ctx_get_output_buffer");
    sym(&l.getErrorBuffer, "nft_ctx_get_error_buffer");
    if (!ok) {
      l = Libnftables();
      l.loadError = "libnftables.so.1 lacks an expected symbol";
    }
    return l;
  }();
  return lib;
}

class NftSession : public Napi::ObjectWrap<NftSession> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NftSession",
                       {InstanceMethod<&NftSession::Run>("run"), InstanceMethod<&NftSession::Close>("close")});
  }

  explicit NftSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NftSession>(info) {
    Napi::Env env = info.Env();
    const Libnftables& lib = Library();
    if (lib.ctxNew == nullptr) {
      Napi::Error e = Napi::Error::New(env, "libnftables is not available (" + lib.loadError + "): apt-get install libnftables1");
      e.Set("code", Napi::String::New(env, "ENOSYS"));
      e.ThrowAsJavaScriptException();
      return;
    }
    std::string netns;
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsString()) {
        ThrowTypeError(env, "NftSession(netns): netns must be a namespace path");
        return;
      }
      netns = info[0].As<Napi::String>().Utf8Value();
    }
    // nft_ctx_new(0) opens the context's netlink socket right away, so it is
    // bound to the namespace we are in for this scope.
    NetnsScope scope;
    const char* syscall = "setns";
    int err = scope.Enter(netns, &syscall);
    if (err != 0) {
      ThrowErrno(env, err, syscall, "cannot enter network namespace " + netns, "");
      return;
    }
    ctx_ = lib.ctxNew(0);
    err = scope.Leave();
    if (err != 0) {
      // This thread is still in the target namespace: nothing else is safe.
      if (ctx_ != nullptr) lib.ctxFree(ctx_);
      ctx_ = nullptr;
      ThrowErrno(env, err, "setns", "cannot return to the original network namespace", "");
      return;
    }
    if (ctx_ == nullptr) {
      ThrowErrno(env, ENOMEM, "nft_ctx_new", "cannot make an nftables context", "");
      return;
    }
    lib.bufferOutput(ctx_);
    lib.bufferError(ctx_);
  }

  ~NftSession() override { Free(); }

 private:
  // run(commands) -> output text. Throws an Error (code ENFT) with nft's message.
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ctx_ == nullptr) {
      ThrowTypeError(env, "NftSession.run(): the session is closed");
      return env.Undefined();
    }
    if (info.Length() < 1 || !info[0].IsString()) {
      ThrowTypeError(env, "NftSession.run(commands): commands must be a string");
      return env.Undefined();
    }
    const std::string commands = info[0].As<Napi::String>().Utf8Value();
    const Libnftables& lib = Library();
    const int rc = lib.runCmdFromBuffer(ctx_, commands.c_str());
    const char* out = lib.getOutputBuffer(ctx_);
    const char* err = lib.getErrorBuffer(ctx_);
    if (rc != 0) {
      std::string message = err != nullptr && *err != '\0' ? err : "nft command failed";
      while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
      Napi::Error e = Napi::Error::New(env, message);
      e.Set("code", Napi::String::New(env, "ENFT"));
      e.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::String::New(env, out != nullptr ? out : "");
  }

  // close(): frees the context and its socket; tables it owns are deleted by
  // the kernel. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Free();
    return info.Env().Undefined();
  }

  void Free() {
    if (ctx_ == nullptr) return;
    Library().ctxFree(ctx_);
    ctx_ = nullptr;
  }

  nft_ctx* ctx_ = nullptr;
};

}  // namespace

void InitNftSessionBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("NftSession", NftSession::Define(env));
}

}  // namespace syncache
