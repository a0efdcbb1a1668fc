// JS class XdpRedirect (lab addon): owns the lab's XDP program, its link and
// its XSKMAP (lab/xdp_redirect.h). close() is idempotent; an environment
// cleanup hook closes one still open when its environment goes away, and
// the kernel detaches the program when the process dies.
#include "lab/xdp_redirect_binding.h"

#include "boundary/errors.h"
#include "boundary/js_args.h"
#include "io/af_packet_args.h"
#include "lab/xdp_redirect.h"

namespace syncache {

namespace {

class XdpRedirectBinding : public Napi::ObjectWrap<XdpRedirectBinding> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "XdpRedirect", {
        InstanceMethod<&XdpRedirectBinding::Close>("close"),
        InstanceAccessor<&XdpRedirectBinding::GetXskMap>("xskMap"),
        InstanceAccessor<&XdpRedirectBinding::GetIfindex>("ifindex"),
    });
    exports.Set("XdpRedirect", ctor);
  }

  explicit XdpRedirectBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<XdpRedirectBinding>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (!info[0].IsObject()) {
      ThrowTypeError(env, "new XdpRedirect(options): options must be an object");
      return;
    }
    Napi::Object options = info[0].As<Napi::Object>();
    AfPacketConfig names;
    if (!ReadNetnsAndIface(env, options, &names)) return;
    XdpRedirectConfig config;
    config.iface = names.iface;
    config.netns = names.netns;
    if (!ReadInteger(env, options, "options.", "queues", 1, 1024, true, &config.queues) ||
        !ReadBoolean(env, options, "options.", "generic", true, &config.generic))
      return;
    SysError error;
    if (!program_.Open(config, &error)) {
      ThrowSysError(env, error);
      return;
    }
    napi_add_env_cleanup_hook(env, &XdpRedirectBinding::CleanupHook, this);
    hookInstalled_ = true;
  }

  ~XdpRedirectBinding() override { Unhook(); }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<XdpRedirectBinding*>(arg);
    self->hookInstalled_ = false;
    self->program_.Close();
  }

  void Unhook() {
    if (hookInstalled_) napi_remove_env_cleanup_hook(env_, &XdpRedirectBinding::CleanupHook, this);
    hookInstalled_ = false;
  }

  Napi::Value GetXskMap(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), program_.mapFd()); }
  Napi::Value GetIfindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), program_.ifindex()); }

  void Close(const Napi::CallbackInfo&) {
    program_.Close();
    Unhook();
  }

  napi_env env_ = nullptr;
  XdpRedirect program_;
  bool hookInstalled_ = false;
};

}  // namespace

void InitXdpRedirectBinding(Napi::Env env, Napi::Object exports) { XdpRedirectBinding::Init(env, exports); }

}  // namespace syncache
