// JS class Ring: a PacketRing on one interface plus the Pipeline that turns
// its frames into batch rows and send rows into frames.
//
//   new Ring({ iface, netns?, addrs, ports, cookies, secrets, rxBatch, txBatch,
//              fanoutGroup?, qdiscBypass?, blockSize?, blockCount?, retireMs?,
//              txFrames?, nextHop? })
//   .counters .mac .ifindex
//   .receive(maxRows?) -> rows       .send(count) -> frames queued
//   .start(onReadable, onError?, onLinkUp?) .stop() .ready() .updateKernelStats() .close()
//
// start() watches the RX socket with a uv_poll_t on the calling thread's
// event loop (the main thread's or a worker's) and calls onReadable from it,
// and from a uv_check_t after every poll phase if frames are waiting;
// the JS object is kept alive while polling.
//
// The interface going down raises an error on the RX socket; libuv reports
// it to the poll callback and stops the poll handle, which would leave the
// ring deaf (and, with nothing else keeping the loop alive, the process
// would exit 0). So the error is taken (SO_ERROR), counted (linkErrors) and
// the poll re-armed: the kernel feeds the same socket again once the
// interface is up. While it is down, a coarse timer looks whether it still
// exists, and says when it is up again (onLinkUp: a fanout group's members
// are re-linked then, in an order of the kernel's); an interface that is gone (ENODEV) stops the ring and goes to
// onError (uncaught without one), as does a poll that cannot be re-armed. close() is idempotent, and an
// environment cleanup hook closes a ring still open when its environment
// (process or worker) goes away. After close every method throws.
//
// nextHop 'route' (the default): every untagged reply goes to the next hop
// the namespace's routing and neighbour tables give for its destination
// (native/route/route_mirror.h), whatever MAC the send row holds; the row's
// mac is overwritten with it. 'source': the row's mac as TS wrote it (the
// SYN's source MAC), for benchmarks and labs without neighbours. Rows with
// an 802.1Q tag keep the row's mac: the mirror knows only the untagged
// interface.
#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "boundary/errors.h"
#include "boundary/flow_words.h"
#include "boundary/js_args.h"
#include "pipeline/pipeline_binding.h"
#include "ring/bpf_filter.h"
#include "ring/packet_ring.h"
#include "route/route_mirror.h"
#include "wire/build.h"
#include "wire/parse.h"

namespace syncache {

// Shared with flood_binding.cc.
bool ReadNetnsAndIface(Napi::Env env, Napi::Object options, RingConfig* config);

bool ReadOptionalUint(Napi::Env env, Napi::Object options, const char* name, uint32_t min,
                      uint32_t max, uint32_t* out) {
  return ReadInteger(env, options, "options.", name, min, max, true, out);
}

bool ReadNetnsAndIface(Napi::Env env, Napi::Object options, RingConfig* config) {
  Napi::Value iface = options.Get("iface");
  if (!iface.IsString()) {
    ThrowTypeError(env, "options.iface must be an interface name (string)");
    return false;
  }
  config->iface = iface.As<Napi::String>().Utf8Value();
  if (config->iface.empty() || config->iface.size() >= 16 ||
      config->iface.find('/') != std::string::npos) {
    ThrowRangeError(env, "options.iface must be 1 to 15 characters without '/', got '" +
                             config->iface + "'");
    return false;
  }
  Napi::Value netns = options.Get("netns");
  if (!netns.IsUndefined()) {
    if (!netns.IsString() || netns.As<Napi::String>().Utf8Value().empty()) {
      ThrowTypeError(env, "options.netns must be the path of a network namespace (string)");
      return false;
    }
    config->netns = netns.As<Napi::String>().Utf8Value();
  }
  return true;
}

namespace {

class RingBinding : public Napi::ObjectWrap<RingBinding> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "Ring", {
        InstanceMethod<&RingBinding::Receive>("receive"),
        InstanceMethod<&RingBinding::Send>("send"),
        InstanceMethod<&RingBinding::Start>("start"),
        InstanceMethod<&RingBinding::Stop>("stop"),
        InstanceMethod<&RingBinding::UpdateKernelStats>("updateKernelStats"),
        InstanceMethod<&RingBinding::Close>("close"),
        InstanceMethod<&RingBinding::HandOver>("handOver"),
        InstanceMethod<&RingBinding::Pending>("pending"),
        InstanceMethod<&RingBinding::Ready>("ready"),
        InstanceMethod<&RingBinding::TakeBack>("takeBack"),
        InstanceMethod<&RingBinding::FlowClosed>("flowClosed"),
        InstanceMethod<&RingBinding::Peek>("peek"),
        InstanceMethod<&RingBinding::ReceiveUrgent>("receiveUrgent"),
        InstanceAccessor<&RingBinding::GetCounters>("counters"),
        InstanceAccessor<&RingBinding::GetMac>("mac"),
        InstanceAccessor<&RingBinding::GetIfindex>("ifindex"),
    });
    exports.Set("Ring", ctor);
  }

  explicit RingBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingBinding>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (!info[0].IsObject()) {
      ThrowTypeError(env, "new Ring(options): options must be an object");
      return;
    }
    Napi::Object options = info[0].As<Napi::Object>();
    RingConfig config;
    if (!ReadNetnsAndIface(env, options, &config)) return;
    iface_ = config.iface;
    if (!ConfigurePipeline(env, options, &pipeline_, &secretsRef_)) return;
    rxBatch_ = BatchFromValue(env, options.Get("rxBatch"), "options.rxBatch");
    if (rxBatch_ == nullptr) return;
    txBatch_ = BatchFromValue(env, options.Get("txBatch"), "options.txBatch");
    if (txBatch_ == nullptr) return;
    rxBatchRef_ = Napi::Persistent(options.Get("rxBatch").As<Napi::Object>());
    txBatchRef_ = Napi::Persistent(options.Get("txBatch").As<Napi::Object>());
    uint32_t fanout = 0;
    if (!ReadOptionalUint(env, options, "fanoutGroup", 1, 65535, &fanout)) return;
    config.fanoutGroup = static_cast<uint16_t>(fanout);
    if (!ReadBoolean(env, options, "options.", "qdiscBypass", true, &config.qdiscBypass) ||
        !ReadBoolean(env, options, "options.", "lowLatency", true, &config.lowLatency))
      return;
    // Answers are small: slots for the largest frame Build writes, and many
    // of them, so a burst (a timer run's retransmits) waits in the ring for
    // the next kicks instead of being dropped. 16384 x 256 B = 4 MiB.
    config.txFrameSize = kTxFrameSize;
    config.txFrames = 16384;
    if (!ReadOptionalUint(env, options, "blockSize", 1, 1u << 30, &config.blockSize) ||
        !ReadOptionalUint(env, options, "blockCount", 1, 1024, &config.blockCount) ||
        !ReadOptionalUint(env, options, "retireMs", 1, 60000, &config.retireMs) ||
        !ReadOptionalUint(env, options, "txFrames", 1, 65536, &config.txFrames))
      return;
    if (!BuildResponderFilter(pipeline_.config, &config.filter)) {
      ThrowRangeError(env, "options.addrs and options.ports: too many for one BPF filter");
      return;
    }
    Napi::Value nextHop = options.Get("nextHop");
    if (!nextHop.IsUndefined()) {
      const std::string v = nextHop.IsString() ? nextHop.As<Napi::String>().Utf8Value() : "";
      if (v != "route" && v != "source") {
        ThrowTypeError(env, "options.nextHop must be 'route' or 'source'");
        return;
      }
      routeReplies_ = v == "route";
    }
    countersRef_ = Napi::Persistent(NewCountersArray(env, &pipeline_.counters));
    SysError error;
    if (!ring_.Open(config, &error)) {
      ThrowSysError(env, error);
      return;
    }
    if (routeReplies_ && !nextHops_.Open(config.netns, ring_.ifindex(), pipeline_.counters, &error)) {
      ring_.Close();
      ThrowSysError(env, error);
      return;
    }
    napi_add_env_cleanup_hook(env, &RingBinding::CleanupHook, this);
    hookInstalled_ = true;
  }

  ~RingBinding() override {
    if (hookInstalled_) napi_remove_env_cleanup_hook(env_, &RingBinding::CleanupHook, this);
    hookInstalled_ = false;
    CloseNative();
    delete asyncContext_;  // collected after stop() without close()
  }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<RingBinding*>(arg);
    self->hookInstalled_ = false;
    self->CloseNative();
  }

  // Without JS: stops polling, unmaps and closes.
  void CloseNative() {
    StopPoll();
    ring_.Close();
    nextHops_.Close();
  }

  void StopPoll() {
    StopLinkWatch();
    if (check_ != nullptr) {
      uv_check_stop(check_);
      uv_close(reinterpret_cast<uv_handle_t*>(check_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
      check_ = nullptr;
    }
    if (poll_ == nullptr) return;
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }

  bool CheckOpen(Napi::Env env, const char* method) {
    if (ring_.IsOpen()) return true;
    Napi::Error::New(env, std::string("Ring.") + method + "(): the ring is closed")
        .ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value GetCounters(const Napi::CallbackInfo& info) {
    if (countersRef_.IsEmpty()) return info.Env().Undefined();
    return countersRef_.Value();
  }

  Napi::Value GetMac(const Napi::CallbackInfo& info) {
    Napi::Uint8Array mac = Napi::Uint8Array::New(info.Env(), 6);
    std::memcpy(mac.Data(), ring_.mac(), 6);
    return mac;
  }

  Napi::Value GetIfindex(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), ring_.ifindex());
  }

  Napi::Value Receive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "receive")) return env.Undefined();
    uint32_t maxRows = kBatchCapacity;
    if (!info[0].IsUndefined()) {
      double requested = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
      if (!(requested >= 1 && requested <= kBatchCapacity) || requested != std::floor(requested)) {
        ThrowRangeError(env, "receive(maxRows): maxRows must be an integer from 1 to " +
                                 std::to_string(kBatchCapacity));
        return env.Undefined();
      }
      maxRows = static_cast<uint32_t>(requested);
    }
    return IntoBatch(env, [&](auto visit) { ring_.Receive(maxRows, pipeline_.counters, visit); });
  }

  // Runs one of the ring's receives (`take` gets the visitor that parses a
  // frame into the next rxBatch row), then hashes the rows and makes or
  // checks their cookies; returns the row count.
  template <typename Take>
  Napi::Value IntoBatch(Napi::Env env, Take take) {
    uint32_t row = 0;
    take([&](const uint8_t* frame, uint32_t length, uint16_t vlan, double timeMs) {
      if (!pipeline_.Accept(frame, length, vlan, timeMs, rxBatch_, row)) return false;
      row++;
      return true;
    });
    pipeline_.Finish(rxBatch_, row);
    return Napi::Number::New(env, row);
  }

  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "send")) return env.Undefined();
    double requested = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(requested >= 0 && requested <= kBatchCapacity) || requested != std::floor(requested)) {
      ThrowRangeError(env, "send(count): count must be an integer from 0 to " +
                               std::to_string(kBatchCapacity));
      return env.Undefined();
    }
    uint32_t count = static_cast<uint32_t>(requested);
    Counters* counters = pipeline_.counters;
    uint32_t sent = 0;
    uint32_t unkicked = 0;
    const double nowMs = routeReplies_ ? MonotonicMs() : 0;
    if (routeReplies_) nextHops_.Poll(nowMs);
    for (uint32_t i = 0; i < count; i++) {
      if (routeReplies_ && !RouteReply(i, nowMs)) continue;
      uint32_t capacity = 0;
      uint8_t* slot = ring_.TxSlot(&capacity);
      if (slot == nullptr) {
        counters->Add(kCounter_txRingFull, count - i);
        break;
      }
      uint32_t length = pipeline_.Build(*txBatch_, i, ring_.mac(), slot, capacity);
      if (length == 0) continue;  // Build counted why
      ring_.TxCommit(length);
      sent++;
      // A kick hands every committed frame to the driver in one go; on veth
      // the peer's per-CPU backlog (netdev_max_backlog, 1000) takes such a
      // burst whole or drops its tail, so a large batch goes in slices.
      if (++unkicked == kFramesPerKick) {
        KickNow(counters);
        unkicked = 0;
      }
    }
    counters->Add(kCounter_txFrames, sent);
    if (unkicked > 0 || kickPending_) KickNow(counters);
    return Napi::Number::New(env, sent);
  }

  static double MonotonicMs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  }

  // Sets send row i's destination MAC to its next hop; false (counted) if
  // the reply is not to be sent. Rows Build will refuse pass through.
  bool RouteReply(uint32_t i, double nowMs) {
    const uint8_t family = txBatch_->family[i];
    if ((family != 4 && family != 6) || txBatch_->vlan[i] != 0) return true;
    switch (nextHops_.Resolve(family, &txBatch_->daddr[i * 4], nowMs, &txBatch_->mac[i * 6])) {
      case route::NextHopVerdict::kResolved: return true;
      case route::NextHopVerdict::kUnresolved: pipeline_.counters->Bump(kCounter_replyUnresolved); return false;
      case route::NextHopVerdict::kNoRoute: pipeline_.counters->Bump(kCounter_replyNoRoute); return false;
    }
    return false;
  }

  // handOver(flow) / takeBack(flow): flow = Uint32Array [family, peer x4,
  // local x4, peerPort, localPort] (addresses as the batch holds them).
  // Segments of a handed-over flow are skipped before they become rows.
  bool ReadFlow(const Napi::CallbackInfo& info, FlowKey* key) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
        info[0].As<Napi::Uint32Array>().ElementLength() != kFlowWords) {
      ThrowTypeError(env, "flow must be a Uint32Array of 11: family, peer address x4, local address x4, peer port, local port");
      return false;
    }
    Napi::Uint32Array f = info[0].As<Napi::Uint32Array>();
    if ((f[kFlowWordFamily] != 4 && f[kFlowWordFamily] != 6) || f[kFlowWordPeerPort] > 65535 || f[kFlowWordLocalPort] > 65535) {
      ThrowRangeError(env, "flow: family must be 4 or 6 and ports from 0 to 65535");
      return false;
    }
    *key = KeyFromWords(f.Data());
    return true;
  }

  // The flow's words (boundary/flow_words.h) as a FlowKey; ports are taken
  // modulo 2^16.
  static FlowKey KeyFromWords(const uint32_t* f) {
    FlowKey key{};
    key.family = f[kFlowWordFamily];
    for (int w = 0; w < 4; w++) {
      key.peer[w] = f[kFlowWordPeerAddress + w];
      key.local[w] = f[kFlowWordLocalAddress + w];
    }
    key.peerPort = static_cast<uint16_t>(f[kFlowWordPeerPort]);
    key.localPort = static_cast<uint16_t>(f[kFlowWordLocalPort]);
    return key;
  }

  // Where a frame's TCP header starts, if wire::LocateTcp places it and its
  // ports and flags are within the frame; else 0.
  static uint32_t TcpOffset(const uint8_t* frame, uint32_t length) {
    wire::TcpPlace t;
    return wire::LocateTcp(frame, length, &t) && length >= t.l4 + 14 ? t.l4 : 0;
  }

  // A quick look before the full parse, so a look past a flood's backlog
  // costs little: false for a TCP segment that is a SYN or comes from none of
  // the flows' peer ports (anything it cannot place goes on to the parser).
  static bool MayCarryDataOf(const uint8_t* frame, uint32_t length, const std::vector<FlowKey>& keys) {
    const uint32_t l4 = TcpOffset(frame, length);
    if (l4 == 0) return true;
    if (frame[l4 + 13] & 0x02) return false;  // SYN: no data of a completed flow
    const uint16_t sport = static_cast<uint16_t>(frame[l4] << 8 | frame[l4 + 1]);
    for (const FlowKey& k : keys) {
      if (k.peerPort == sport) return true;
    }
    return false;
  }

  // receiveUrgent() -> rows: like receive(), but takes only the segments
  // that are not SYNs (final ACKs, data, RSTs) from among all the frames
  // waiting, ahead of the SYNs before them (see PacketRing::ReceiveUrgent);
  // 0 on a ring that is not lowLatency.
  Napi::Value ReceiveUrgent(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "receiveUrgent")) return env.Undefined();
    const auto notSyn = [](const uint8_t* frame, uint32_t length) {
      const uint32_t l4 = TcpOffset(frame, length);
      return l4 != 0 && (frame[l4 + 13] & 0x02) == 0;
    };
    return IntoBatch(env, [&](auto visit) { ring_.ReceiveUrgent(kBatchCapacity, pipeline_.counters, notSyn, visit); });
  }

  // peek(flows: Uint32Array of 11 x k, start: number, out: Uint8Array) -> next
  // The data segments of these flows among the frames waiting in the ring,
  // without taking any (see PacketRing::Peek): into out, as a uint32 record
  // count, then per record uint32 flow index, seq and length and the bytes,
  // padded to 4 (host byte order). A segment that does not fit is left out
  // (its sender resends it). Returns the slot to start the next look from,
  // or -1 if this ring cannot peek (not lowLatency).
  Napi::Value Peek(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "peek")) return env.Undefined();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
        info[0].As<Napi::Uint32Array>().ElementLength() % kFlowWords != 0 || !info[1].IsNumber() ||
        !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        info[2].As<Napi::Uint8Array>().ByteLength() < 4 || info[2].As<Napi::Uint8Array>().ByteOffset() % 4 != 0) {
      ThrowTypeError(env, "peek(flows, start, out): flows must be a Uint32Array of 11 words a flow, start a number, out a 4-aligned Uint8Array of 4 bytes or more");
      return env.Undefined();
    }
    Napi::Uint32Array words = info[0].As<Napi::Uint32Array>();
    const size_t flowCount = words.ElementLength() / kFlowWords;
    std::vector<FlowKey> keys(flowCount);
    for (size_t k = 0; k < flowCount; k++) keys[k] = KeyFromWords(words.Data() + kFlowWords * k);
    const double start = info[1].As<Napi::Number>().DoubleValue();
    Napi::Uint8Array out = info[2].As<Napi::Uint8Array>();
    uint8_t* base = out.Data();
    const size_t capacity = out.ByteLength();
    size_t used = 4;
    uint32_t records = 0;
    if (peekBatch_ == nullptr) peekBatch_ = std::make_unique<PacketBatch>();
    PacketBatch* scratch = peekBatch_.get();
    Counters ignored{};  // a look, not a receive: its parse is not counted
    const int64_t next = ring_.Peek(
        std::isfinite(start) && start >= 0 ? static_cast<int64_t>(start) : -1,
        [&](const uint8_t* frame, uint32_t length, uint16_t vlan, double timeMs) {
          if (!MayCarryDataOf(frame, length, keys)) return false;
          scratch->payloadUsed = 0;
          if (!wire::ParseFrame(frame, length, vlan, timeMs, pipeline_.config, scratch, 0, &ignored)) return false;
          if (scratch->kind[0] != kKindAck || scratch->payloadLength[0] == 0 || scratch->payloadOffset[0] == kNoPayload) return false;
          const FlowKey key = FlowKey::FromRow(*scratch, 0);
          for (size_t k = 0; k < flowCount; k++) {
            if (!(keys[k] == key)) continue;
            const uint32_t n = scratch->payloadLength[0];
            const size_t need = 12 + ((static_cast<size_t>(n) + 3) & ~static_cast<size_t>(3));
            if (used + need > capacity) return false;
            const uint32_t head[3] = {static_cast<uint32_t>(k), scratch->seq[0], n};
            std::memcpy(base + used, head, 12);
            std::memcpy(base + used + 12, scratch->payload + scratch->payloadOffset[0], n);
            used += need;
            records++;
            return true;
          }
          return false;
        });
    std::memcpy(base, &records, 4);
    return Napi::Number::New(env, static_cast<double>(next));
  }

  Napi::Value Pending(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "pending")) return env.Undefined();
    return Napi::Number::New(env, ring_.PendingInOpenBlock());
  }

  Napi::Value HandOver(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    FlowKey key;
    if (!CheckOpen(env, "handOver") || !ReadFlow(info, &key)) return env.Undefined();
    // handOver(flow, peerIsn[, kernelSocket = true]): false: completed and reported only.
    uint32_t isn = 0;
    if (!ReadPeerIsn(info, "handOver", &isn)) return env.Undefined();
    const bool kernelSocket = !(info.Length() > 2 && info[2].IsBoolean() && !info[2].As<Napi::Boolean>().Value());
    return Napi::Boolean::New(env, pipeline_.handedOver.Add(key, kernelSocket ? kFlowKernelSocket : kFlowReported, isn));
  }

  // info[1], the peer's ISN a flow is marked with, as a uint32 (else a
  // pending RangeError naming `method`).
  static bool ReadPeerIsn(const Napi::CallbackInfo& info, const char* method, uint32_t* out) {
    const double isn = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    if (!(isn >= 0 && isn <= 4294967295.0) || isn != std::floor(isn)) {
      ThrowRangeError(info.Env(), std::string(method) + "(flow, peerIsn): peerIsn must be a uint32");
      return false;
    }
    *out = static_cast<uint32_t>(isn);
    return true;
  }

  Napi::Value TakeBack(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    FlowKey key;
    if (!CheckOpen(env, "takeBack") || !ReadFlow(info, &key)) return env.Undefined();
    // takeBack(flow[, peerIsn]): with peerIsn, only the flow marked with it.
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      uint32_t isn = 0;
      if (!ReadPeerIsn(info, "takeBack", &isn)) return env.Undefined();
      uint32_t marked = 0;
      if (pipeline_.handedOver.Find(key, &marked) == kFlowAbsent || marked != isn) return Napi::Boolean::New(env, false);
    }
    return Napi::Boolean::New(env, pipeline_.handedOver.Remove(key));
  }

  // flowClosed(flow, peerIsn) -> boolean: the kernel socket of the flow
  // marked with peerIsn was closed; from now on a SYN with a new ISN may
  // open a new connection on its 4-tuple (see Pipeline::Accept).
  Napi::Value FlowClosed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    FlowKey key;
    uint32_t isn = 0;
    if (!CheckOpen(env, "flowClosed") || !ReadFlow(info, &key) || !ReadPeerIsn(info, "flowClosed", &isn))
      return env.Undefined();
    uint32_t marked = 0;
    if (pipeline_.handedOver.Find(key, &marked) != kFlowKernelSocket || marked != isn) return Napi::Boolean::New(env, false);
    return Napi::Boolean::New(env, pipeline_.handedOver.Add(key, kFlowClosed, isn));
  }

  void KickNow(Counters* counters) {
    counters->Bump(kCounter_txKicks);
    int err = ring_.Kick();
    // EAGAIN/ENOBUFS leave the slots requested; the next kick sends them.
    kickPending_ = err != 0;
    if (err != 0) counters->Bump(kCounter_txErrors);
  }

  void Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "start")) return;
    if (!info[0].IsFunction()) {
      ThrowTypeError(env, "start(onReadable): onReadable must be a function");
      return;
    }
    if ((!info[1].IsUndefined() && !info[1].IsFunction()) || (!info[2].IsUndefined() && !info[2].IsFunction())) {
      ThrowTypeError(env, "start(onReadable, onError, onLinkUp): onError and onLinkUp must be functions");
      return;
    }
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    errorCallback_.Reset();
    if (info[1].IsFunction()) errorCallback_ = Napi::Persistent(info[1].As<Napi::Function>());
    linkUpCallback_.Reset();
    if (info[2].IsFunction()) linkUpCallback_ = Napi::Persistent(info[2].As<Napi::Function>());
    if (poll_ != nullptr) return;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "Ring.start(): no event loop").ThrowAsJavaScriptException();
      return;
    }
    auto* poll = new uv_poll_t;
    int err = uv_poll_init(loop, poll, ring_.rxFd());
    if (err != 0) {
      delete poll;
      ThrowErrno(env, -err, "uv_poll_init", "cannot watch the RX socket", "");
      return;
    }
    poll->data = this;
    err = uv_poll_start(poll, UV_READABLE, &RingBinding::OnPoll);
    if (err != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      ThrowErrno(env, -err, "uv_poll_start", "cannot watch the RX socket", "");
      return;
    }
    poll_ = poll;
    // And a look at the ring after every poll phase (a memory read, no
    // syscall): a frame that arrived while this thread ran the phase's other
    // callbacks is handled in the same turn, not the next. Unreferenced: the
    // poll handle is what keeps the loop alive.
    auto* check = new uv_check_t;
    uv_check_init(loop, check);
    check->data = this;
    uv_check_start(check, &RingBinding::OnCheck);
    uv_unref(reinterpret_cast<uv_handle_t*>(check));
    check_ = check;
    if (asyncContext_ == nullptr) asyncContext_ = new Napi::AsyncContext(env, "syncache.Ring");
    Ref();
    referenced_ = true;
  }

  static void OnCheck(uv_check_t* handle) {
    auto* self = static_cast<RingBinding*>(handle->data);
    if (self->check_ != handle || self->callback_.IsEmpty()) return;
    if (self->FramesForJs()) self->CallOnReadable();
  }

  // Whether receive() would find a frame for JS now: frames a kick left
  // requested (the peer's backlog was full) go first, not only with the next
  // send, and the handed-over flows' frames at the ring's head are skipped
  // (see SkipHandedOver). No syscall unless a kick is pending.
  bool FramesForJs() {
    if (kickPending_) KickNow(pipeline_.counters);
    return ring_.Waiting() && SkipHandedOver();
  }

  // ready() -> boolean: FramesForJs(), for a caller that looks at the ring
  // between its own callbacks (between two HTTP requests, say) instead of
  // waiting for the poll phase to end.
  Napi::Value Ready(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "ready")) return env.Undefined();
    return Napi::Boolean::New(env, FramesForJs());
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<RingBinding*>(handle->data);
    if (self->poll_ != handle || self->callback_.IsEmpty()) return;
    if (status < 0) {
      self->OnRxError();
      return;
    }
    if (self->SkipHandedOver()) self->CallOnReadable();
  }

  // libuv stopped the poll handle on the socket's error (see the header).
  void OnRxError() {
    ring_.TakeRxError();
    pipeline_.counters->Bump(kCounter_linkErrors);
    if (ring_.LinkState() == PacketRing::Link::kGone) {
      Fail(ENODEV, "getsockname");
      return;
    }
    const int err = uv_poll_start(poll_, UV_READABLE, &RingBinding::OnPoll);
    if (err != 0) {
      Fail(-err, "uv_poll_start");
      return;
    }
    StartLinkWatch();
  }

  // While the interface is down: a look every kLinkWatchMs whether it is
  // gone (-> onError) or up again (-> the watch ends, onLinkUp).
  void StartLinkWatch() {
    if (linkWatch_ != nullptr) return;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env_, &loop) != napi_ok || loop == nullptr) return;
    auto* timer = new uv_timer_t;
    uv_timer_init(loop, timer);
    timer->data = this;
    uv_timer_start(timer, &RingBinding::OnLinkWatch, kLinkWatchMs, kLinkWatchMs);
    uv_unref(reinterpret_cast<uv_handle_t*>(timer));  // the poll handle keeps the loop alive
    linkWatch_ = timer;
  }

  void StopLinkWatch() {
    if (linkWatch_ == nullptr) return;
    uv_timer_stop(linkWatch_);
    uv_close(reinterpret_cast<uv_handle_t*>(linkWatch_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    linkWatch_ = nullptr;
  }

  static void OnLinkWatch(uv_timer_t* handle) {
    auto* self = static_cast<RingBinding*>(handle->data);
    if (self->linkWatch_ != handle || !self->ring_.IsOpen()) return;
    const PacketRing::Link link = self->ring_.LinkState();
    if (link == PacketRing::Link::kGone) {
      self->Fail(ENODEV, "getsockname");
    } else if (link == PacketRing::Link::kUp) {
      self->StopLinkWatch();
      self->CallLinkUp();
    }
  }

  void CallLinkUp() {
    if (linkUpCallback_.IsEmpty() || asyncContext_ == nullptr) return;
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    linkUpCallback_.MakeCallback(Value(), {}, *asyncContext_);
    if (env.IsExceptionPending()) napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }

  // The ring cannot answer any more: stops polling and tells onError with
  // an errno error naming the interface (without onError, the error is
  // uncaught: never a silent stop).
  void Fail(int err, const char* syscall) {
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    const std::string what = err == ENODEV
        ? "interface " + iface_ + " is gone: the ring stopped answering on it"
        : "cannot watch the RX socket of " + iface_ + " again after an error";
    Napi::Error error = ErrnoError(env, err, syscall, what,
        err == ENODEV ? "close this instance and open a new one on an interface that exists" : "");
    Napi::Object self = Value();
    Napi::FunctionReference onError = std::move(errorCallback_);
    StopJs();
    if (onError.IsEmpty() || asyncContext_ == nullptr) {
      napi_fatal_exception(env, error.Value());
      return;
    }
    onError.MakeCallback(self, {error.Value()}, *asyncContext_);
    if (env.IsExceptionPending()) napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }

  // Before JS is called for a readable ring: the frames at its head that
  // receive() would only skip, because their flow is a kernel socket's now
  // (the peer's ACKs and FIN after a handoff: a wake-up per connection or
  // so; Pipeline::HandedOverFate decides, as for receive()), are taken here,
  // with the counts receive() would give them. True
  // if anything is left for JS. (TPACKET_V2 rings; a V3 ring is left alone.)
  bool SkipHandedOver() {
    if (pipeline_.handedOver.empty()) return true;
    Counters* counters = pipeline_.counters;
    ring_.SkipLeading(counters, [&](const uint8_t* frame, uint32_t length, uint16_t vlan, double timeMs) {
      // Parsed as receive() would, into row 0 of the RX batch (JS is not
      // reading it between callbacks), counting aside until it is certain
      // the frame goes.
      scratch_ = Counters{};
      rxBatch_->payloadUsed = 0;
      if (!wire::ParseFrame(frame, length, vlan, timeMs, pipeline_.config, rxBatch_, 0, &scratch_)) return false;
      bool own = false;
      const FlowFate fate = pipeline_.HandedOverFate(FlowKey::FromRow(*rxBatch_, 0), *rxBatch_, 0, &own);
      if (!own) return false;
      for (uint32_t c = 0; c < kCounterCount; c++) counters->value[c] += scratch_.value[c];
      counters->Bump(Pipeline::OwnSegmentCounter(fate, rxBatch_->kind[0]));
      return true;
    });
    return ring_.Waiting();
  }

  void CallOnReadable() {
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    callback_.MakeCallback(Value(), {}, *asyncContext_);
    if (env.IsExceptionPending()) {
      Napi::Error error = env.GetAndClearPendingException();
      napi_fatal_exception(env, error.Value());
    }
  }

  void StopJs() {
    StopPoll();
    callback_.Reset();
    errorCallback_.Reset();
    linkUpCallback_.Reset();
    if (referenced_) {
      referenced_ = false;
      Unref();
    }
  }

  void Stop(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env(), "stop")) return;
    StopJs();
  }

  void UpdateKernelStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "updateKernelStats")) return;
    int err = ring_.UpdateKernelStats(pipeline_.counters);
    if (err != 0) ThrowErrno(env, err, "getsockopt", "cannot read PACKET_STATISTICS", "");
  }

  void Close(const Napi::CallbackInfo& info) {
    StopJs();
    CloseNative();
    delete asyncContext_;
    asyncContext_ = nullptr;
    if (hookInstalled_) {
      napi_remove_env_cleanup_hook(env_, &RingBinding::CleanupHook, this);
      hookInstalled_ = false;
    }
  }

  napi_env env_ = nullptr;
  PacketRing ring_;
  Pipeline pipeline_;
  route::RouteMirror nextHops_;
  bool routeReplies_ = true;
  PacketBatch* rxBatch_ = nullptr;
  std::unique_ptr<PacketBatch> peekBatch_;  // peek()'s scratch row, made on first use
  PacketBatch* txBatch_ = nullptr;
  Napi::ObjectReference secretsRef_;
  Napi::ObjectReference rxBatchRef_;
  Napi::ObjectReference txBatchRef_;
  Napi::Reference<Napi::BigUint64Array> countersRef_;
  Napi::FunctionReference callback_;
  Napi::FunctionReference errorCallback_;
  Napi::FunctionReference linkUpCallback_;
  std::string iface_;
  uv_timer_t* linkWatch_ = nullptr;
  static constexpr uint64_t kLinkWatchMs = 250;
  Napi::AsyncContext* asyncContext_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  uv_check_t* check_ = nullptr;
  bool hookInstalled_ = false;
  bool referenced_ = false;
  bool kickPending_ = false;
  Counters scratch_{};  // SkipHandedOver's counts for a frame until it is taken
  static constexpr uint32_t kFramesPerKick = 256;
  // A TX slot: the TPACKET_V2 header (32 B), the virtio_net_hdr (10 B) and
  // the largest frame Build writes, in a power of two that divides the block.
  static constexpr uint32_t kTxFrameSize = 256;
  static_assert(TPACKET_ALIGN(sizeof(tpacket2_hdr)) + 10 + wire::kMaxBuiltFrame <= kTxFrameSize,
                "a built frame must fit a TX slot");
};

}  // namespace

void InitRingBinding(Napi::Env env, Napi::Object exports) {
  RingBinding::Init(env, exports);
}

}  // namespace syncache
