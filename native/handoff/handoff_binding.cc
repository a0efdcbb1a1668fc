// JS face of the handoff (repair.h):
//
//   repairSocket(params): number            on the JS thread
//   repairSocketAsync(params): Promise<number>  on the libuv thread pool, so
//                                           the event loop never waits on the
//                                           ~15 syscalls (or on setns)
//   tcpSocketInfo(fd): { maxseg, state, options, sndWscale, ... }
//
// Params are checked here (TypeError / RangeError naming the field) before
// anything touches the kernel; lib/handoff/repair.ts checks them too, with
// the same words. The async variant copies the payload, so the caller may
// reuse its buffer at once.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "boundary/errors.h"
#include "boundary/ip_text.h"
#include "boundary/js_args.h"
#include "handoff/repair.h"

namespace syncache {

namespace {

bool ReadUint(Napi::Env env, Napi::Object o, const char* name, double min, double max,
              bool optional, uint32_t* out) {
  return ReadInteger(env, o, "params.", name, min, max, optional, out);
}

bool ReadShift(Napi::Env env, Napi::Object o, const char* name, int* out) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) {
    ThrowTypeError(env, std::string("params.") + name + " must be a window-scale shift from 0 to 14, or -1 for none");
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -1 && d <= 14) || d != std::floor(d)) {
    ThrowRangeError(env, std::string("params.") + name + " must be a window-scale shift from 0 to 14, or -1 for none, got " +
                             v.ToString().Utf8Value());
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

bool ReadAddress(Napi::Env env, Napi::Object o, const char* name, int family, in6_addr* out) {
  Napi::Value v = o.Get(name);
  const char* kind = family == 4 ? "IPv4" : "IPv6";
  if (!v.IsString()) {
    ThrowTypeError(env, std::string("params.") + name + " must be an " + kind + " address (string)");
    return false;
  }
  std::string text = v.As<Napi::String>().Utf8Value();
  if (ParseIp(text, family, out) != family) {
    ThrowTypeError(env, std::string("params.") + name + " must be an " + kind + " address (family " +
                            std::to_string(family) + "), got '" + text + "'");
    return false;
  }
  return true;
}

bool ReadBool(Napi::Env env, Napi::Object o, const char* name, bool optional, bool* out) {
  return ReadBoolean(env, o, "params.", name, optional, out);
}

// Fills *p; the payload pointer refers to the caller's Uint8Array.
bool ReadParams(Napi::Env env, Napi::Value value, RepairParams* p) {
  if (!value.IsObject()) {
    ThrowTypeError(env, "params must be an object");
    return false;
  }
  Napi::Object o = value.As<Napi::Object>();
  Napi::Value family = o.Get("family");
  if (!family.IsNumber()) {
    ThrowTypeError(env, "params.family must be 4 or 6");
    return false;
  }
  double f = family.As<Napi::Number>().DoubleValue();
  if (f != 4 && f != 6) {
    ThrowRangeError(env, "params.family must be 4 or 6, got " + family.ToString().Utf8Value());
    return false;
  }
  p->family = static_cast<int>(f);
  uint32_t u = 0;
  if (!ReadAddress(env, o, "localAddress", p->family, &p->localAddress)) return false;
  if (!ReadAddress(env, o, "remoteAddress", p->family, &p->remoteAddress)) return false;
  if (!ReadUint(env, o, "localPort", 1, 65535, false, &u)) return false;
  p->localPort = static_cast<uint16_t>(u);
  if (!ReadUint(env, o, "remotePort", 1, 65535, false, &u)) return false;
  p->remotePort = static_cast<uint16_t>(u);
  if (!ReadUint(env, o, "iss", 0, 4294967295.0, false, &p->iss)) return false;
  if (!ReadUint(env, o, "irs", 0, 4294967295.0, false, &p->irs)) return false;
  if (!ReadUint(env, o, "mss", 1, 65535, false, &p->mss)) return false;
  if (!ReadShift(env, o, "wscale", &p->wscale)) return false;
  if (!ReadShift(env, o, "ourWscale", &p->ourWscale)) return false;
  if (!ReadBool(env, o, "sackPermitted", false, &p->sackPermitted)) return false;
  Napi::Value ts = o.Get("timestamps");
  if (ts.IsNull() || ts.IsUndefined()) {
    p->timestamps = false;
  } else if (ts.IsObject()) {
    Napi::Object t = ts.As<Napi::Object>();
    uint32_t ignored = 0;
    // The kernel cannot be told the peer's TSval (ts_recent starts at 0 and
    // is learnt from its next segment); both are checked so a mix-up shows.
    Napi::Value peer = t.Get("peerTsval");
    Napi::Value ours = t.Get("ourTsval");
    if (!peer.IsNumber() || !ours.IsNumber()) {
      ThrowTypeError(env, "params.timestamps must be null or { peerTsval, ourTsval } (uint32 numbers)");
      return false;
    }
    if (!ReadUint(env, t, "peerTsval", 0, 4294967295.0, false, &ignored)) return false;
    if (!ReadUint(env, t, "ourTsval", 0, 4294967295.0, false, &ignored)) return false;
    p->timestamps = true;
  } else {
    ThrowTypeError(env, "params.timestamps must be null or { peerTsval, ourTsval }");
    return false;
  }
  if (!ReadUint(env, o, "tsNow", 0, 4294967295.0, !p->timestamps, &p->tsNow)) return false;
  if (p->timestamps && (p->tsNow & 1) != 0) {
    ThrowRangeError(env, "params.tsNow must be even (bit 0 of TCP_TIMESTAMP selects a microsecond clock), got " +
                             std::to_string(p->tsNow));
    return false;
  }
  if (!ReadUint(env, o, "window", 0, 65535, false, &p->window)) return false;
  if (!ReadUint(env, o, "ourWindow", 1, 65535, true, &p->ourWindow)) return false;
  if (!ReadUint(env, o, "mark", 0, 4294967295.0, true, &p->mark)) return false;
  if (!ReadBool(env, o, "windowProbe", true, &p->windowProbe)) return false;
  if (!ReadBool(env, o, "stayInRepair", true, &p->stayInRepair)) return false;
  Napi::Value payload = o.Get("payload");
  if (!payload.IsUndefined()) {
    if (!payload.IsTypedArray() || payload.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowTypeError(env, "params.payload must be a Uint8Array (or Buffer)");
      return false;
    }
    Napi::Uint8Array bytes = payload.As<Napi::Uint8Array>();
    p->payload = bytes.Data();
    p->payloadLength = bytes.ByteLength();
  }
  Napi::Value netns = o.Get("netns");
  if (!netns.IsUndefined()) {
    if (!netns.IsString() || netns.As<Napi::String>().Utf8Value().empty()) {
      ThrowTypeError(env, "params.netns must be the path of a network namespace (string, e.g. /run/netns/NAME)");
      return false;
    }
    p->netns = netns.As<Napi::String>().Utf8Value();
  }
  return true;
}

// The same from RepairWord words (no payload: the caller passes stayInRepair
// and hands the data to finishRepair). Checked as ReadParams checks fields.
bool ReadParamWords(Napi::Env env, const Napi::CallbackInfo& info, RepairParams* p) {
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      info[0].As<Napi::Uint32Array>().ElementLength() < kRepairWords) {
    ThrowTypeError(env, "repairSocketWords(words, netns?): words must be a Uint32Array of " +
                            std::to_string(kRepairWords) + " (lib/native/repair-words.ts packRepairParams)");
    return false;
  }
  const uint32_t* w = info[0].As<Napi::Uint32Array>().Data();
  auto bad = [&](const char* field, uint32_t value, const char* range) {
    ThrowRangeError(env, std::string("repairSocketWords: ") + field + " must be " + range + ", got " +
                             std::to_string(value));
    return false;
  };
  if (w[kFlowWordFamily] != 4 && w[kFlowWordFamily] != 6) return bad("family", w[kFlowWordFamily], "4 or 6");
  if (w[kFlowWordLocalPort] < 1 || w[kFlowWordLocalPort] > 65535) return bad("localPort", w[kFlowWordLocalPort], "1-65535");
  if (w[kFlowWordPeerPort] < 1 || w[kFlowWordPeerPort] > 65535) return bad("remotePort", w[kFlowWordPeerPort], "1-65535");
  if (w[kWordMss] < 1 || w[kWordMss] > 65535) return bad("mss", w[kWordMss], "1-65535");
  if (w[kWordWscale] > 15) return bad("wscale + 1", w[kWordWscale], "0 (none) to 15");
  if (w[kWordOurWscale] > 15) return bad("ourWscale + 1", w[kWordOurWscale], "0 (none) to 15");
  if (w[kWordWindow] > 65535) return bad("window", w[kWordWindow], "0-65535");
  if (w[kWordOurWindow] < 1 || w[kWordOurWindow] > 65535) return bad("ourWindow", w[kWordOurWindow], "1-65535");
  const uint32_t flags = w[kWordFlags];
  if ((flags & kFlagTimestamps) != 0 && (w[kWordTsNow] & 1) != 0) {
    return bad("tsNow", w[kWordTsNow], "even (bit 0 of TCP_TIMESTAMP selects a microsecond clock)");
  }
  p->family = static_cast<int>(w[kFlowWordFamily]);
  std::memcpy(&p->remoteAddress, &w[kFlowWordPeerAddress], sizeof(in6_addr));
  std::memcpy(&p->localAddress, &w[kFlowWordLocalAddress], sizeof(in6_addr));
  p->remotePort = static_cast<uint16_t>(w[kFlowWordPeerPort]);
  p->localPort = static_cast<uint16_t>(w[kFlowWordLocalPort]);
  p->iss = w[kWordIss];
  p->irs = w[kWordIrs];
  p->mss = w[kWordMss];
  p->wscale = static_cast<int>(w[kWordWscale]) - 1;
  p->ourWscale = static_cast<int>(w[kWordOurWscale]) - 1;
  p->sackPermitted = (flags & kFlagSackPermitted) != 0;
  p->timestamps = (flags & kFlagTimestamps) != 0;
  p->windowProbe = (flags & kFlagWindowProbe) != 0;
  p->stayInRepair = (flags & kFlagStayInRepair) != 0;
  p->tsNow = w[kWordTsNow];
  p->window = w[kWordWindow];
  p->ourWindow = w[kWordOurWindow];
  p->mark = w[kWordMark];
  if (!info[1].IsUndefined()) {
    if (!info[1].IsString()) {
      ThrowTypeError(env, "repairSocketWords: netns must be the path of a network namespace (string) or undefined");
      return false;
    }
    p->netns = info[1].As<Napi::String>().Utf8Value();
  }
  return true;
}

// finishRepair(fd, payload: Uint8Array | undefined, mark: number, windowProbe?: boolean)
Napi::Value FinishRepairSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 0) {
    ThrowTypeError(env, "finishRepair(fd, payload, mark[, windowProbe]): fd must be a socket made with stayInRepair");
    return env.Undefined();
  }
  const uint8_t* payload = nullptr;
  size_t length = 0;
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowTypeError(env, "finishRepair: payload must be a Uint8Array (or Buffer) or undefined");
      return env.Undefined();
    }
    payload = info[1].As<Napi::Uint8Array>().Data();
    length = info[1].As<Napi::Uint8Array>().ByteLength();
  }
  double mark = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
  if (!(mark >= 0 && mark <= 4294967295.0) || mark != static_cast<double>(static_cast<uint32_t>(mark))) {
    ThrowRangeError(env, "finishRepair: mark must be an integer from 0 to 2^32-1");
    return env.Undefined();
  }
  SysError error;
  if (!FinishRepair(info[0].As<Napi::Number>().Int32Value(), payload, length, static_cast<uint32_t>(mark),
                    info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value(), &error)) {
    ThrowSysError(env, error);
  }
  return env.Undefined();
}

// reopenRepair(fd) -> the socket's rcv_nxt (uint32), gate closed to it, in repair
Napi::Value ReopenRepairSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 0) {
    ThrowTypeError(env, "reopenRepair(fd): fd must be a socket finishRepair() has finished");
    return env.Undefined();
  }
  SysError error;
  uint32_t rcvNxt = 0;
  if (!ReopenRepair(info[0].As<Napi::Number>().Int32Value(), &rcvNxt, &error)) {
    ThrowSysError(env, error);
    return env.Undefined();
  }
  return Napi::Number::New(env, rcvNxt);
}

// The socket's fd, or undefined with the kernel's error thrown.
Napi::Value MakeRepairedSocket(Napi::Env env, const RepairParams& params) {
  SysError error;
  int fd = RepairSocket(params, &error);
  if (fd < 0) {
    ThrowSysError(env, error);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value RepairSocketSync(const Napi::CallbackInfo& info) {
  RepairParams params;
  if (!ReadParams(info.Env(), info[0], &params)) return info.Env().Undefined();
  return MakeRepairedSocket(info.Env(), params);
}

Napi::Value RepairSocketWordsSync(const Napi::CallbackInfo& info) {
  RepairParams params;
  if (!ReadParamWords(info.Env(), info, &params)) return info.Env().Undefined();
  return MakeRepairedSocket(info.Env(), params);
}

class RepairWorker : public Napi::AsyncWorker {
 public:
  RepairWorker(Napi::Env env, const RepairParams& params)
      : Napi::AsyncWorker(env, "syncache.repairSocket"),
        params_(params),
        payload_(params.payload, params.payload + params.payloadLength),
        deferred_(Napi::Promise::Deferred::New(env)) {
    params_.payload = payload_.data();
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { fd_ = RepairSocket(params_, &error_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (fd_ < 0) {
      deferred_.Reject(ErrnoError(env, error_.err, error_.syscall, error_.what, error_.hint).Value());
      return;
    }
    deferred_.Resolve(Napi::Number::New(env, fd_));
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  RepairParams params_;
  std::vector<uint8_t> payload_;
  Napi::Promise::Deferred deferred_;
  SysError error_;
  int fd_ = -1;
};

Napi::Value RepairSocketAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RepairParams params;
  if (!ReadParams(env, info[0], &params)) return env.Undefined();
  auto* worker = new RepairWorker(env, params);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value TcpSocketInfoOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) {
    ThrowTypeError(env, "fd must be a file descriptor (integer)");
    return env.Undefined();
  }
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 2147483647.0) || d != std::floor(d)) {
    ThrowRangeError(env, "fd must be a file descriptor (integer >= 0)");
    return env.Undefined();
  }
  TcpSocketInfo ti;
  int err = ReadTcpSocketInfo(static_cast<int>(d), &ti);
  if (err != 0) {
    ThrowErrno(env, err, "getsockopt", "reading TCP_INFO", err == EBADF ? "fd is not open" : "fd is not a TCP socket?");
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("maxseg", Napi::Number::New(env, ti.maxseg));
  out.Set("state", Napi::Number::New(env, ti.state));
  out.Set("options", Napi::Number::New(env, ti.options));
  out.Set("sndWscale", Napi::Number::New(env, ti.sndWscale));
  out.Set("rcvWscale", Napi::Number::New(env, ti.rcvWscale));
  out.Set("sndMss", Napi::Number::New(env, ti.sndMss));
  out.Set("rcvMss", Napi::Number::New(env, ti.rcvMss));
  out.Set("advmss", Napi::Number::New(env, ti.advmss));
  out.Set("totalRetrans", Napi::Number::New(env, ti.totalRetrans));
  out.Set("noDelay", Napi::Boolean::New(env, ti.noDelay));
  out.Set("keepAlive", Napi::Boolean::New(env, ti.keepAlive));
  return out;
}

}  // namespace

void InitHandoffBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("repairSocket", Napi::Function::New<RepairSocketSync>(env, "repairSocket"));
  exports.Set("repairSocketWords", Napi::Function::New<RepairSocketWordsSync>(env, "repairSocketWords"));
  exports.Set("repairLayout",
              NumberTable(env, {{"words", kRepairWords}, {"iss", kWordIss}, {"irs", kWordIrs}, {"mss", kWordMss},
                                {"wscale", kWordWscale}, {"ourWscale", kWordOurWscale}, {"flags", kWordFlags},
                                {"tsNow", kWordTsNow}, {"window", kWordWindow}, {"ourWindow", kWordOurWindow},
                                {"mark", kWordMark}, {"sackPermitted", kFlagSackPermitted},
                                {"timestamps", kFlagTimestamps}, {"windowProbe", kFlagWindowProbe},
                                {"stayInRepair", kFlagStayInRepair}}));
  exports.Set("finishRepair", Napi::Function::New<FinishRepairSync>(env, "finishRepair"));
  exports.Set("reopenRepair", Napi::Function::New<ReopenRepairSync>(env, "reopenRepair"));
  exports.Set("repairSocketAsync", Napi::Function::New<RepairSocketAsync>(env, "repairSocketAsync"));
  exports.Set("tcpSocketInfo", Napi::Function::New<TcpSocketInfoOf>(env, "tcpSocketInfo"));
}

}  // namespace syncache
