// JS class Door over the loader (door/door_loader.h): glue only, every
// decision (what to write, when) is lib/door/'s.
//
//   addon.door = { available: true, counterNames, verdicts, flags, xsksMax,
//                  replyMacsMax, calmWindowMs, Door, openUnboundXdpSocket }
//   new Door(objectPath)                       open + load (verifier runs)
//   .attach({ iface, netns? }) .detach() .attached .ifindex
//   .configure({ flags, activeSlot, wscale, window, mss4, mss6, tsOffset, socketMark?, calmSyns? })
//   .setSecret(slot, key: Uint8Array(16) | null)
//   .setPorts(ports: Uint16Array) .setAddresses(words: Uint32Array, 5 a address)
//   .setReplyMacs(macs: Uint8Array, 6 bytes a MAC, at most replyMacsMax)
//   .handOver(flow: Uint32Array(11), peerIsn) .takeBack(flow) -> found
//   .setSocket(queue, fd) .clearSocket(queue)
//   .flowMaps -> { handed, admitted, hint }: the flow maps' fds, for a DoorFlows
//   .readCounters(out: BigUint64Array) .info() .testRun(frame, out, repeat?) .close()
//
//   new DoorFlows({ handed, admitted, hint }) the flow maps alone (door_flows.h),
//   .handOver(flow, peerIsn) .flowClosed(flow, seen) .takeBack(flow) .close()
//                                             for a shard on another thread
//
// openUnboundXdpSocket() makes an AF_XDP socket bound to nothing, for tests
// that need a socket in `xsks` to see the XDP_REDIRECT verdict (the kernel
// takes any AF_XDP socket into an XSKMAP; frames redirected to an unbound
// one are dropped). The product's sockets come from native/io.
#include <napi.h>
#include <linux/bpf.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "boundary/errors.h"
#include "boundary/flow_words.h"
#include "boundary/js_args.h"
#include "door/door_loader.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

namespace syncache {

namespace {

constexpr uint32_t kAddressWords = 5;  // family, address x4

bool IsTyped(const Napi::Value& v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

bool ReadFlow(Napi::Env env, const Napi::Value& v, door_flow* flow) {
  if (!IsTyped(v, napi_uint32_array) || v.As<Napi::Uint32Array>().ElementLength() != kFlowWords) {
    ThrowTypeError(env, "flow must be a Uint32Array of 11: family, peer address x4, local address x4, peer port, local port");
    return false;
  }
  Napi::Uint32Array f = v.As<Napi::Uint32Array>();
  *flow = door_flow{};
  flow->family = static_cast<uint8_t>(f[kFlowWordFamily]);
  flow->peer_port = static_cast<uint16_t>(f[kFlowWordPeerPort]);
  flow->local_port = static_cast<uint16_t>(f[kFlowWordLocalPort]);
  for (uint32_t k = 0; k < 4; k++) {
    flow->peer[k] = f[kFlowWordPeerAddress + k];
    flow->local[k] = f[kFlowWordLocalAddress + k];
  }
  return true;
}

// flowClosed(flow, seen)'s `seen`: a Uint32Array of 3 (else a pending TypeError).
bool CheckSeen(Napi::Env env, const Napi::Value& v) {
  if (IsTyped(v, napi_uint32_array) && v.As<Napi::Uint32Array>().ElementLength() == 3) return true;
  ThrowTypeError(env, "flowClosed(flow, seen): seen must be a Uint32Array of 3");
  return false;
}

// What a closed flow's entry says the peer sent: sequence end, newest TSval,
// 1 if it sent timestamps (the ring's flowClosed takes these three).
void WriteSeen(const Napi::Value& v, const door_handed& entry) {
  Napi::Uint32Array seen = v.As<Napi::Uint32Array>();
  seen[0] = entry.seq_end;
  seen[1] = entry.ts_recent;
  seen[2] = entry.timestamps;
}

// The handed-over flow calls that Door and DoorFlows both offer, over one
// DoorFlows (a Door's own, or a worker's duplicate): handOver(flow,
// peerIsn); flowClosed(flow, seen: Uint32Array(3)) -> found, seen getting
// what the peer has sent (highest sequence end, newest TSval, 1 if it sent
// timestamps); takeBack(flow) -> found. The caller checked it is open.
Napi::Value FlowsHandOver(const Napi::CallbackInfo& info, door::DoorFlows& flows) {
  Napi::Env env = info.Env();
  door_flow flow;
  if (!ReadFlow(env, info[0], &flow)) return env.Undefined();
  if (!info[1].IsNumber()) {
    ThrowTypeError(env, "handOver(flow, peerIsn): peerIsn must be a number");
    return env.Undefined();
  }
  SysError error;
  if (!flows.HandOver(flow, info[1].As<Napi::Number>().Uint32Value(), &error)) ThrowSysError(env, error);
  return env.Undefined();
}

Napi::Value FlowsFlowClosed(const Napi::CallbackInfo& info, door::DoorFlows& flows) {
  Napi::Env env = info.Env();
  door_flow flow;
  if (!ReadFlow(env, info[0], &flow) || !CheckSeen(env, info[1])) return env.Undefined();
  SysError error;
  bool found = false;
  door_handed entry{};
  if (!flows.FlowClosed(flow, &found, &entry, &error)) {
    ThrowSysError(env, error);
    return env.Undefined();
  }
  if (found) WriteSeen(info[1], entry);
  return Napi::Boolean::New(env, found);
}

Napi::Value FlowsTakeBack(const Napi::CallbackInfo& info, door::DoorFlows& flows) {
  Napi::Env env = info.Env();
  door_flow flow;
  if (!ReadFlow(env, info[0], &flow)) return env.Undefined();
  SysError error;
  bool found = false;
  if (!flows.TakeBack(flow, &found, &error)) {
    ThrowSysError(env, error);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, found);
}

class DoorBinding : public Napi::ObjectWrap<DoorBinding> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Door", {
        InstanceMethod<&DoorBinding::Attach>("attach"),
        InstanceMethod<&DoorBinding::Detach>("detach"),
        InstanceMethod<&DoorBinding::Configure>("configure"),
        InstanceMethod<&DoorBinding::SetSecret>("setSecret"),
        InstanceMethod<&DoorBinding::SetPorts>("setPorts"),
        InstanceMethod<&DoorBinding::SetAddresses>("setAddresses"),
        InstanceMethod<&DoorBinding::SetReplyMacs>("setReplyMacs"),
        InstanceMethod<&DoorBinding::HandOver>("handOver"),
        InstanceMethod<&DoorBinding::TakeBack>("takeBack"),
        InstanceMethod<&DoorBinding::FlowClosed>("flowClosed"),
        InstanceMethod<&DoorBinding::SetSocket>("setSocket"),
        InstanceMethod<&DoorBinding::ClearSocket>("clearSocket"),
        InstanceMethod<&DoorBinding::ReadCounters>("readCounters"),
        InstanceMethod<&DoorBinding::Info>("info"),
        InstanceMethod<&DoorBinding::TestRun>("testRun"),
        InstanceMethod<&DoorBinding::Close>("close"),
        InstanceAccessor<&DoorBinding::GetAttached>("attached"),
        InstanceAccessor<&DoorBinding::GetIfindex>("ifindex"),
        InstanceAccessor<&DoorBinding::GetXskMap>("xskMap"),
        InstanceAccessor<&DoorBinding::GetFlowMaps>("flowMaps"),
    });
  }

  explicit DoorBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DoorBinding>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) {
      ThrowTypeError(env, "new Door(objectPath): objectPath must be a string");
      return;
    }
    SysError error;
    if (!loader_.Load(info[0].As<Napi::String>().Utf8Value(), &error)) {
      ThrowSysError(env, error);
      return;
    }
    open_ = true;
  }

 private:
  bool CheckOpen(Napi::Env env, const char* method) {
    if (open_) return true;
    ThrowErrno(env, EBADF, method, std::string("door.") + method + "()", "the door is closed");
    return false;
  }

  // Returns undefined, or throws what failed.
  static Napi::Value Done(Napi::Env env, bool ok, const SysError& error) {
    if (!ok) ThrowSysError(env, error);
    return env.Undefined();
  }

  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "attach")) return env.Undefined();
    if (!info[0].IsObject()) {
      ThrowTypeError(env, "attach(options): options must be an object");
      return env.Undefined();
    }
    Napi::Object options = info[0].As<Napi::Object>();
    Napi::Value iface = options.Get("iface");
    const std::string name = iface.IsString() ? iface.As<Napi::String>().Utf8Value() : "";
    if (name.empty() || name.size() >= 16 || name.find('/') != std::string::npos) {
      ThrowTypeError(env, "options.iface must be an interface name of 1 to 15 characters without '/'");
      return env.Undefined();
    }
    Napi::Value netns = options.Get("netns");
    if (!netns.IsUndefined() && (!netns.IsString() || netns.As<Napi::String>().Utf8Value().empty())) {
      ThrowTypeError(env, "options.netns must be the path of a network namespace (string)");
      return env.Undefined();
    }
    SysError error;
    const bool ok = loader_.Attach(netns.IsUndefined() ? "" : netns.As<Napi::String>().Utf8Value(), name, &error);
    return Done(env, ok, error);
  }

  Napi::Value Detach(const Napi::CallbackInfo& info) {
    loader_.Detach();
    return info.Env().Undefined();
  }

  Napi::Value Configure(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "configure")) return env.Undefined();
    if (!info[0].IsObject()) {
      ThrowTypeError(env, "configure(config): config must be an object");
      return env.Undefined();
    }
    Napi::Object o = info[0].As<Napi::Object>();
    uint32_t flags, slot, wscale, window, mss4, mss6, tsOffset, socketMark = 0, calmSyns = 0;
    if (!ReadInteger(env, o, "config.", "flags", 0, DOOR_ANSWER_SYNS | DOOR_CHECK_ACKS, false, &flags) ||
        !ReadInteger(env, o, "config.", "activeSlot", 0, 1, false, &slot) ||
        !ReadInteger(env, o, "config.", "wscale", 0, 14, false, &wscale) ||
        !ReadInteger(env, o, "config.", "window", 0, 65535, false, &window) ||
        !ReadInteger(env, o, "config.", "mss4", 0, 65535, false, &mss4) ||
        !ReadInteger(env, o, "config.", "mss6", 0, 65535, false, &mss6) ||
        !ReadInteger(env, o, "config.", "tsOffset", 0, 4294967295.0, false, &tsOffset) ||
        !ReadInteger(env, o, "config.", "socketMark", 0, 4294967295.0, true, &socketMark) ||
        !ReadInteger(env, o, "config.", "calmSyns", 0, 4294967295.0, true, &calmSyns))
      return env.Undefined();
    door_config config{};
    config.flags = static_cast<uint8_t>(flags);
    config.active_slot = static_cast<uint8_t>(slot);
    config.wscale = static_cast<uint8_t>(wscale);
    config.window = static_cast<uint16_t>(window);
    config.mss4 = static_cast<uint16_t>(mss4);
    config.mss6 = static_cast<uint16_t>(mss6);
    config.ts_offset = tsOffset;
    config.socket_mark = socketMark;
    config.calm_syns = calmSyns;
    SysError error;
    return Done(env, loader_.SetConfig(config, &error), error);
  }

  Napi::Value SetSecret(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "setSecret")) return env.Undefined();
    const bool isNull = info[1].IsNull();
    if (!info[0].IsNumber() || (info[0].As<Napi::Number>().Uint32Value() > 1) ||
        (!isNull && (!IsTyped(info[1], napi_uint8_array) || info[1].As<Napi::Uint8Array>().ByteLength() != 16))) {
      ThrowTypeError(env, "setSecret(slot, key): slot must be 0 or 1, key a Uint8Array of 16 bytes or null");
      return env.Undefined();
    }
    SysError error;
    const uint8_t* key = isNull ? nullptr : info[1].As<Napi::Uint8Array>().Data();
    return Done(env, loader_.SetSecret(info[0].As<Napi::Number>().Uint32Value(), key, &error), error);
  }

  Napi::Value SetPorts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "setPorts")) return env.Undefined();
    if (!IsTyped(info[0], napi_uint16_array)) {
      ThrowTypeError(env, "setPorts(ports): ports must be a Uint16Array");
      return env.Undefined();
    }
    Napi::Uint16Array list = info[0].As<Napi::Uint16Array>();
    door_ports ports{};
    for (size_t i = 0; i < list.ElementLength(); i++) ports.bits[list[i] >> 6] |= 1ull << (list[i] & 63);
    SysError error;
    return Done(env, loader_.SetPorts(ports, &error), error);
  }

  Napi::Value SetAddresses(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "setAddresses")) return env.Undefined();
    if (!IsTyped(info[0], napi_uint32_array) || info[0].As<Napi::Uint32Array>().ElementLength() % kAddressWords != 0 ||
        info[0].As<Napi::Uint32Array>().ElementLength() / kAddressWords > DOOR_ADDRS_MAX) {
      ThrowTypeError(env, "setAddresses(words): words must be a Uint32Array of 5 words an address (family, address x4), at most 1024");
      return env.Undefined();
    }
    Napi::Uint32Array words = info[0].As<Napi::Uint32Array>();
    std::vector<door_addr> addrs(words.ElementLength() / kAddressWords);
    for (size_t i = 0; i < addrs.size(); i++) {
      addrs[i].family = words[i * kAddressWords];
      for (uint32_t k = 0; k < 4; k++) addrs[i].addr[k] = words[i * kAddressWords + 1 + k];
    }
    SysError error;
    return Done(env, loader_.SetAddresses(addrs.data(), static_cast<uint32_t>(addrs.size()), &error), error);
  }

  Napi::Value SetReplyMacs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "setReplyMacs")) return env.Undefined();
    constexpr size_t kMacBytes = sizeof(door_mac);
    if (!IsTyped(info[0], napi_uint8_array) || info[0].As<Napi::Uint8Array>().ByteLength() % kMacBytes != 0 ||
        info[0].As<Napi::Uint8Array>().ByteLength() / kMacBytes > DOOR_REPLY_MACS_MAX) {
      ThrowTypeError(env, "setReplyMacs(macs): macs must be a Uint8Array of 6 bytes a MAC, at most " +
                              std::to_string(DOOR_REPLY_MACS_MAX));
      return env.Undefined();
    }
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    std::vector<door_mac> macs(bytes.ByteLength() / kMacBytes);
    for (size_t i = 0; i < macs.size(); i++) std::memcpy(macs[i].addr, bytes.Data() + i * kMacBytes, kMacBytes);
    SysError error;
    return Done(env, loader_.SetReplyMacs(macs.data(), static_cast<uint32_t>(macs.size()), &error), error);
  }

  // The handed-over flows (FlowsHandOver and the rest, above).
  Napi::Value HandOver(const Napi::CallbackInfo& info) {
    return CheckOpen(info.Env(), "handOver") ? FlowsHandOver(info, loader_.flows()) : info.Env().Undefined();
  }
  Napi::Value FlowClosed(const Napi::CallbackInfo& info) {
    return CheckOpen(info.Env(), "flowClosed") ? FlowsFlowClosed(info, loader_.flows()) : info.Env().Undefined();
  }
  Napi::Value TakeBack(const Napi::CallbackInfo& info) {
    return CheckOpen(info.Env(), "takeBack") ? FlowsTakeBack(info, loader_.flows()) : info.Env().Undefined();
  }

  Napi::Value SetSocket(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "setSocket")) return env.Undefined();
    if (!info[0].IsNumber() || !info[1].IsNumber() || info[0].As<Napi::Number>().Uint32Value() >= DOOR_XSKS_MAX) {
      ThrowTypeError(env, "setSocket(queue, fd): queue must be 0 to 63, fd an AF_XDP socket's descriptor");
      return env.Undefined();
    }
    SysError error;
    return Done(env, loader_.SetSocket(info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Int32Value(), &error), error);
  }

  Napi::Value ClearSocket(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "clearSocket")) return env.Undefined();
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().Uint32Value() >= DOOR_XSKS_MAX) {
      ThrowTypeError(env, "clearSocket(queue): queue must be 0 to 63");
      return env.Undefined();
    }
    SysError error;
    return Done(env, loader_.ClearSocket(info[0].As<Napi::Number>().Uint32Value(), &error), error);
  }

  Napi::Value ReadCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "readCounters")) return env.Undefined();
    if (!IsTyped(info[0], napi_biguint64_array) || info[0].As<Napi::BigUint64Array>().ElementLength() < DOOR_COUNTER_COUNT) {
      ThrowTypeError(env, "readCounters(out): out must be a BigUint64Array of counterNames.length");
      return env.Undefined();
    }
    SysError error;
    return Done(env, loader_.ReadCounters(info[0].As<Napi::BigUint64Array>().Data(), &error), error);
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "info")) return env.Undefined();
    door::ProgramInfo p;
    SysError error;
    if (!loader_.Info(&p, &error)) return Done(env, false, error);
    return NumberTable(env, {{"id", p.id}, {"xlatedInsns", p.xlatedInsns}, {"jitedBytes", p.jitedBytes},
                             {"verifiedInsns", p.verifiedInsns}});
  }

  Napi::Value TestRun(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "testRun")) return env.Undefined();
    if (!IsTyped(info[0], napi_uint8_array) || !IsTyped(info[1], napi_uint8_array)) {
      ThrowTypeError(env, "testRun(frame, out): frame and out must be Uint8Arrays");
      return env.Undefined();
    }
    uint32_t repeat = 1;
    if (!info[2].IsUndefined()) {
      const double r = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0;
      if (!(r >= 1 && r <= 100000000) || r != static_cast<uint32_t>(r)) {
        ThrowRangeError(env, "testRun(frame, out, repeat): repeat must be an integer from 1 to 100000000");
        return env.Undefined();
      }
      repeat = static_cast<uint32_t>(r);
    }
    Napi::Uint8Array frame = info[0].As<Napi::Uint8Array>();
    Napi::Uint8Array out = info[1].As<Napi::Uint8Array>();
    door::TestRunResult result;
    SysError error;
    if (!loader_.TestRun(frame.Data(), static_cast<uint32_t>(frame.ByteLength()), out.Data(),
                         static_cast<uint32_t>(out.ByteLength()), repeat, &result, &error))
      return Done(env, false, error);
    return NumberTable(env, {{"verdict", result.verdict}, {"length", result.length}, {"durationNs", result.durationNs}});
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    loader_.Close();
    open_ = false;
    return info.Env().Undefined();
  }

  Napi::Value GetAttached(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), loader_.attached()); }
  Napi::Value GetIfindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), loader_.ifindex()); }
  Napi::Value GetXskMap(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), loader_.xskMapFd()); }
  Napi::Value GetFlowMaps(const Napi::CallbackInfo& info) {
    return NumberTable(info.Env(), {{"handed", loader_.handedFd()}, {"admitted", loader_.admittedFd()}, {"hint", loader_.handedHintFd()}});
  }

  door::DoorLoader loader_;
  bool open_ = false;
};

class DoorFlowsBinding : public Napi::ObjectWrap<DoorFlowsBinding> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DoorFlows", {
        InstanceMethod<&DoorFlowsBinding::HandOver>("handOver"),
        InstanceMethod<&DoorFlowsBinding::FlowClosed>("flowClosed"),
        InstanceMethod<&DoorFlowsBinding::TakeBack>("takeBack"),
        InstanceMethod<&DoorFlowsBinding::Close>("close"),
    });
  }

  explicit DoorFlowsBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DoorFlowsBinding>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() || !info[0].As<Napi::Object>().Get("handed").IsNumber() ||
        !info[0].As<Napi::Object>().Get("admitted").IsNumber() || !info[0].As<Napi::Object>().Get("hint").IsNumber()) {
      ThrowTypeError(env, "new DoorFlows(maps): maps must be { handed, admitted, hint }, a door's flowMaps");
      return;
    }
    Napi::Object maps = info[0].As<Napi::Object>();
    SysError error;
    if (!flows_.Open(maps.Get("handed").As<Napi::Number>().Int32Value(), maps.Get("admitted").As<Napi::Number>().Int32Value(),
                     maps.Get("hint").As<Napi::Number>().Int32Value(), &error))
      ThrowSysError(env, error);
  }

 private:
  bool CheckOpen(Napi::Env env, const char* method) {
    if (flows_.open()) return true;
    ThrowErrno(env, EBADF, method, std::string("doorFlows.") + method + "()", "closed");
    return false;
  }

  Napi::Value HandOver(const Napi::CallbackInfo& info) {
    return CheckOpen(info.Env(), "handOver") ? FlowsHandOver(info, flows_) : info.Env().Undefined();
  }
  Napi::Value FlowClosed(const Napi::CallbackInfo& info) {
    return CheckOpen(info.Env(), "flowClosed") ? FlowsFlowClosed(info, flows_) : info.Env().Undefined();
  }
  Napi::Value TakeBack(const Napi::CallbackInfo& info) {
    return CheckOpen(info.Env(), "takeBack") ? FlowsTakeBack(info, flows_) : info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    flows_.Close();
    return info.Env().Undefined();
  }

  door::DoorFlows flows_;
};

Napi::Value OpenUnboundXdpSocket(const Napi::CallbackInfo& info) {
  const int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(info.Env(), errno, "socket", "cannot make an AF_XDP socket", "AF_XDP needs CAP_NET_RAW");
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), fd);
}

}  // namespace

void InitDoorBinding(Napi::Env env, Napi::Object exports) {
  Napi::Object door = Napi::Object::New(env);
  door.Set("available", Napi::Boolean::New(env, true));
  Napi::Array names = Napi::Array::New(env, DOOR_COUNTER_COUNT);
  uint32_t i = 0;
#define DOOR_COUNTER_NAME(name) names.Set(i++, Napi::String::New(env, #name));
  DOOR_COUNTERS(DOOR_COUNTER_NAME)
#undef DOOR_COUNTER_NAME
  door.Set("counterNames", names);
  door.Set("verdicts", NumberTable(env, {{"aborted", XDP_ABORTED}, {"drop", XDP_DROP}, {"pass", XDP_PASS},
                                         {"tx", XDP_TX}, {"redirect", XDP_REDIRECT}}));
  door.Set("flags", NumberTable(env, {{"answerSyns", DOOR_ANSWER_SYNS}, {"checkAcks", DOOR_CHECK_ACKS}}));
  door.Set("xsksMax", Napi::Number::New(env, DOOR_XSKS_MAX));
  door.Set("replyMacsMax", Napi::Number::New(env, DOOR_REPLY_MACS_MAX));
  door.Set("calmWindowMs", Napi::Number::New(env, DOOR_CALM_WINDOW_NS / 1000000));
  door.Set("Door", DoorBinding::Define(env));
  door.Set("DoorFlows", DoorFlowsBinding::Define(env));
  door.Set("openUnboundXdpSocket", Napi::Function::New<OpenUnboundXdpSocket>(env, "openUnboundXdpSocket"));
  exports.Set("door", door);
}

}  // namespace syncache
