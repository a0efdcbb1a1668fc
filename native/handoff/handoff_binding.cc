// JS face of the handoff (repair.h), all on the JS thread:
//
//   repairSocketWords(words, netns?): number   the socket, from RepairWord words
//   repairLayout                               where each word sits
//   finishRepair(fd, payload, mark, windowProbe?)
//   reopenRepair(fd): rcv_nxt
//   tcpSocketInfo(fd): { maxseg, state, options, sndWscale, ... }
//   markedListener(address, port, mark, backlog, netns?): number   listener.h
//
// The words are checked here (RangeError naming the field) before anything
// touches the kernel.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <string>

#include "boundary/errors.h"
#include "boundary/js_args.h"
#include "boundary/ip_text.h"
#include "handoff/listener.h"
#include "handoff/repair.h"

namespace syncache {

namespace {

// RepairParams from RepairWord words (no payload: the caller passes
// stayInRepair and hands the data to finishRepair), each field checked.
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
Napi::Value RepairSocketWordsSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RepairParams params;
  if (!ReadParamWords(env, info, &params)) return env.Undefined();
  SysError error;
  int fd = RepairSocket(params, &error);
  if (fd < 0) {
    ThrowSysError(env, error);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
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

// markedListener(address, port, mark, backlog, netns?) -> the listening fd
Napi::Value MarkedListenerSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ListenerParams p;
  p.family = info[0].IsString() ? ParseIp(info[0].As<Napi::String>().Utf8Value(), 0, &p.address) : 0;
  if (p.family == 0) {
    ThrowTypeError(env, "markedListener(address, port, mark, backlog, netns?): address must be an IPv4 or IPv6 address");
    return env.Undefined();
  }
  auto integer = [&](int i, double max, const char* name, uint32_t* out) {
    double v = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0 && v <= max) || v != std::floor(v)) {
      ThrowRangeError(env, std::string("markedListener: ") + name + " must be an integer from 0 to " + std::to_string(static_cast<uint64_t>(max)));
      return false;
    }
    *out = static_cast<uint32_t>(v);
    return true;
  };
  uint32_t port, mark, backlog;
  if (!integer(1, 65535, "port", &port) || !integer(2, 4294967295.0, "mark", &mark) || !integer(3, 65535, "backlog", &backlog)) {
    return env.Undefined();
  }
  if (port == 0) {
    ThrowRangeError(env, "markedListener: port must be from 1 to 65535");
    return env.Undefined();
  }
  p.port = static_cast<uint16_t>(port);
  p.mark = mark;
  p.backlog = static_cast<int>(backlog);
  if (!info[4].IsUndefined()) {
    if (!info[4].IsString()) {
      ThrowTypeError(env, "markedListener: netns must be the path of a network namespace (string) or undefined");
      return env.Undefined();
    }
    p.netns = info[4].As<Napi::String>().Utf8Value();
  }
  SysError error;
  int fd = MarkedListener(p, &error);
  if (fd < 0) {
    ThrowSysError(env, error);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

}  // namespace

void InitHandoffBinding(Napi::Env env, Napi::Object exports) {
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
  exports.Set("tcpSocketInfo", Napi::Function::New<TcpSocketInfoOf>(env, "tcpSocketInfo"));
  exports.Set("markedListener", Napi::Function::New<MarkedListenerSync>(env, "markedListener"));
}

}  // namespace syncache
