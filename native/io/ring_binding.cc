// JS class Ring: a packet backend's RX and TX sides on one interface
// (io/io_backend.h: AF_PACKET's, io/af_packet.h, or AF_XDP's, io/af_xdp.h,
// opened by io/backend_factory.h) plus the Pipeline that turns its frames
// into batch rows and send rows into frames. Glue: the protocol work is in
// Node-free code (pipeline/, route/).
//
//   new Ring({ iface, netns?, addrs, ports, cookies, secrets, rxBatch, txBatch,
//              nextHop?, lowLatency?, txFrames?,
//              io?: 'packet', fanoutGroup?, qdiscBypass?, blockSize?, blockCount?, retireMs?,
//              io: 'xdp', xskMap, queue? | queues?, frameSize?, rxFrames?, zeroCopy? })
//   .counters .mac .ifindex .zeroCopy
//   .receive(maxRows?) -> rows       .send(count) -> frames queued
//   .start(onReadable, onError?, onLinkUp?) .stop() .ready() .updateKernelStats() .close()
//   .gatewayMacs() -> Uint8Array, 6 bytes a MAC (route/route_mirror.h)
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
// onError (uncaught without one), as does a poll that cannot be re-armed.
// An AF_XDP socket polls no errors (the interface going down only stops its
// frames): the timer looks from start() on, for the interface going away
// only. close() is idempotent, and an
// environment cleanup hook closes a ring still open when its environment
// (process or worker) goes away. After close every method throws.
//
// nextHop 'route' (the default): replies go to their next hop
// (pipeline/reply_writer.h); 'source': the row's mac as TS wrote it (the
// SYN's source MAC), for benchmarks and labs without neighbours.
#include <napi.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "boundary/errors.h"
#include "boundary/flow_words.h"
#include "io/backend_args.h"
#include "io/backend_factory.h"
#include "io/io_backend.h"
#include "pipeline/handoff_frames.h"
#include "pipeline/pipeline_binding.h"
#include "pipeline/reply_writer.h"
#include "route/route_mirror.h"

namespace syncache {

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
        InstanceMethod<&RingBinding::Ready>("ready"),
        InstanceMethod<&RingBinding::TakeBack>("takeBack"),
        InstanceMethod<&RingBinding::FlowClosed>("flowClosed"),
        InstanceMethod<&RingBinding::TakeRefused>("takeRefused"),
        InstanceMethod<&RingBinding::Peek>("peek"),
        InstanceMethod<&RingBinding::ReceiveUrgent>("receiveUrgent"),
        InstanceMethod<&RingBinding::GatewayMacs>("gatewayMacs"),
        InstanceAccessor<&RingBinding::GetCounters>("counters"),
        InstanceAccessor<&RingBinding::GetMac>("mac"),
        InstanceAccessor<&RingBinding::GetIfindex>("ifindex"),
        InstanceAccessor<&RingBinding::GetZeroCopy>("zeroCopy"),
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
    BackendConfig config;
    if (!ReadBackendOptions(env, options, &config)) return;
    iface_ = config.iface;
    if (!ConfigurePipeline(env, options, &pipeline_, &secretsRef_)) return;
    rxBatch_ = BatchFromValue(env, options.Get("rxBatch"), "options.rxBatch");
    if (rxBatch_ == nullptr) return;
    txBatch_ = BatchFromValue(env, options.Get("txBatch"), "options.txBatch");
    if (txBatch_ == nullptr) return;
    rxBatchRef_ = Napi::Persistent(options.Get("rxBatch").As<Napi::Object>());
    txBatchRef_ = Napi::Persistent(options.Get("txBatch").As<Napi::Object>());
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
    Backend backend;
    SysError error;
    if (!OpenBackend(config, pipeline_.config, &backend, &error)) {
      ThrowSysError(env, error);
      return;
    }
    if (routeReplies_ && !nextHops_.Open(config.netns, backend.ifindex, pipeline_.counters, &error)) {
      ThrowSysError(env, error);
      return;
    }
    rx_ = std::move(backend.rx);
    tx_ = std::move(backend.tx);
    ifindex_ = backend.ifindex;
    std::memcpy(mac_, backend.mac, 6);
    zeroCopy_ = backend.zeroCopy;
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
    rx_.reset();
    tx_.reset();
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
    if (rx_ != nullptr) return true;
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
    std::memcpy(mac.Data(), mac_, 6);
    return mac;
  }

  Napi::Value GetIfindex(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), ifindex_);
  }

  Napi::Value GetZeroCopy(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), zeroCopy_);
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
    BatchFill fill(&pipeline_, rxBatch_, maxRows);
    rx_->Receive(fill, pipeline_.counters);
    return Finished(env, fill);
  }

  // After one of the RX side's receives: hashes the rows and makes or
  // checks their cookies; returns the row count.
  Napi::Value Finished(Napi::Env env, const BatchFill& fill) {
    pipeline_.Finish(rxBatch_, fill.rows());
    return Napi::Number::New(env, fill.rows());
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
    ReplyWriter writer(&pipeline_, txBatch_, mac_, routeReplies_ ? &nextHops_ : nullptr);
    const uint32_t sent = tx_->Send(writer, static_cast<uint32_t>(requested), pipeline_.counters);
    return Napi::Number::New(env, sent + writer.viaKernel());
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
    *key = FlowKeyFromWords(f.Data());
    return true;
  }

  // receiveUrgent() -> rows: like receive(), but takes only the segments
  // that are not SYNs (final ACKs, data, RSTs) from among all the frames
  // waiting, ahead of the SYNs before them (see RxLookAhead::ReceiveUrgent);
  // 0 on a ring that cannot look ahead (not lowLatency).
  Napi::Value ReceiveUrgent(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "receiveUrgent")) return env.Undefined();
    BatchFill fill(&pipeline_, rxBatch_, kBatchCapacity);
    if (RxLookAhead* ahead = rx_->lookAhead()) ahead->ReceiveUrgent(fill, pipeline_.counters);
    return Finished(env, fill);
  }

  // peek(flows: Uint32Array of 11 x k, start: number, out: Uint8Array) -> next
  // The data segments of these flows among the frames waiting in the ring,
  // without taking any (see RxLookAhead::Peek), serialized into out by
  // PeekSerializer (pipeline/handoff_frames.h). Returns the slot to start
  // the next look from, or -1 if this ring cannot peek (not lowLatency).
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
    for (size_t k = 0; k < flowCount; k++) keys[k] = FlowKeyFromWords(words.Data() + kFlowWords * k);
    const double start = info[1].As<Napi::Number>().DoubleValue();
    Napi::Uint8Array out = info[2].As<Napi::Uint8Array>();
    if (peekBatch_ == nullptr) peekBatch_ = std::make_unique<PacketBatch>();
    PeekSerializer peek(pipeline_.config, keys.data(), flowCount, out.Data(), out.ByteLength(), peekBatch_.get());
    RxLookAhead* ahead = rx_->lookAhead();
    const int64_t next =
        ahead == nullptr ? -1 : ahead->Peek(std::isfinite(start) && start >= 0 ? static_cast<int64_t>(start) : -1, peek);
    return Napi::Number::New(env, static_cast<double>(next));
  }

  // gatewayMacs() -> Uint8Array: the resolved MACs of the gateways of the
  // mirrored routes out of this interface, 6 bytes each, each once; empty
  // without a mirror (nextHop 'source').
  Napi::Value GatewayMacs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "gatewayMacs")) return env.Undefined();
    std::vector<std::array<uint8_t, 6>> macs;
    if (routeReplies_) nextHops_.GatewayMacs(ReplyWriter::MonotonicMs(), &macs);
    Napi::Uint8Array out = Napi::Uint8Array::New(env, macs.size() * 6);
    for (size_t i = 0; i < macs.size(); i++) std::memcpy(out.Data() + i * 6, macs[i].data(), 6);
    return out;
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
      return Napi::Boolean::New(env, pipeline_.handedOver.RemoveIfIsn(key, isn));
    }
    return Napi::Boolean::New(env, pipeline_.handedOver.Remove(key));
  }

  // flowClosed(flow, peerIsn[, seen]) -> boolean: the kernel socket of the
  // flow marked with peerIsn was closed; from now on a SYN with a new ISN
  // may open a new connection on its 4-tuple (see Pipeline::Accept). seen,
  // a Uint32Array of 3 (sequence end, TSval, 1 if timestamps): what the
  // peer sent past this ring (the XDP door's count), for RFC 6191.
  Napi::Value FlowClosed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    FlowKey key;
    uint32_t isn = 0;
    if (!CheckOpen(env, "flowClosed") || !ReadFlow(info, &key) || !ReadPeerIsn(info, "flowClosed", &isn))
      return env.Undefined();
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
          info[2].As<Napi::Uint32Array>().ElementLength() != 3) {
        ThrowTypeError(env, "flowClosed(flow, peerIsn, seen): seen must be a Uint32Array of 3");
        return env.Undefined();
      }
      Napi::Uint32Array words = info[2].As<Napi::Uint32Array>();
      PeerProgress seen;
      seen.seqEnd = words[0];
      seen.tsRecent = words[1];
      seen.timestamps = words[2] != 0;
      return Napi::Boolean::New(env, pipeline_.handedOver.MarkClosed(key, isn, &seen));
    }
    return Napi::Boolean::New(env, pipeline_.handedOver.MarkClosed(key, isn));
  }

  // takeRefused(out: Uint32Array) -> count: the closed flows on which a SYN
  // was refused (synOnTimeWait) since the last call, 12 words each into out
  // (the flow as handOver takes it, then its peer's ISN; at most as many as
  // fit, the rest forgotten). The ring keeps them only from the first call on.
  Napi::Value TakeRefused(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "takeRefused")) return env.Undefined();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      ThrowTypeError(env, "takeRefused(out): out must be a Uint32Array");
      return env.Undefined();
    }
    Napi::Uint32Array out = info[0].As<Napi::Uint32Array>();
    pipeline_.recordRefused = true;
    const size_t count = std::min(pipeline_.refused.size(), out.ElementLength() / (kFlowWords + 1));
    for (size_t i = 0; i < count; i++) {
      uint32_t* words = out.Data() + (kFlowWords + 1) * i;
      FlowKeyToWords(pipeline_.refused[i].key, words);
      words[kFlowWords] = pipeline_.refused[i].peerIsn;
    }
    pipeline_.refused.clear();
    return Napi::Number::New(env, static_cast<double>(count));
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
    int err = uv_poll_init(loop, poll, rx_->pollFd());
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
    if (!rx_->PollsLinkErrors()) StartLinkWatch(false);
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
    if (tx_->Backlogged()) tx_->Flush(pipeline_.counters);
    return rx_->Waiting() && SkipHandedOver();
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
    rx_->TakeError();
    pipeline_.counters->Bump(kCounter_linkErrors);
    if (rx_->Link() == LinkState::kGone) {
      Fail(ENODEV, "getsockname");
      return;
    }
    const int err = uv_poll_start(poll_, UV_READABLE, &RingBinding::OnPoll);
    if (err != 0) {
      Fail(-err, "uv_poll_start");
      return;
    }
    StartLinkWatch(true);
  }

  // While the interface is down: a look every kLinkWatchMs whether it is
  // gone (-> onError) or up again (-> the watch ends, onLinkUp). For an RX
  // side whose poll reports no link errors, from start() on and only for
  // the interface going away (untilUp false).
  void StartLinkWatch(bool untilUp) {
    if (linkWatch_ != nullptr) return;
    linkWatchUntilUp_ = untilUp;
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
    if (self->linkWatch_ != handle || self->rx_ == nullptr) return;
    const LinkState link = self->rx_->Link();
    if (link == LinkState::kGone) {
      self->Fail(ENODEV, "getsockname");
    } else if (link == LinkState::kUp && self->linkWatchUntilUp_) {
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
  // so), are taken here by HandedOverSkip (pipeline/handoff_frames.h), with
  // the counts receive() would give them. They are parsed into row 0 of the
  // RX batch, which JS is not reading between callbacks. True if anything
  // is left for JS. (Rings that can look ahead; others are left alone.)
  bool SkipHandedOver() {
    if (pipeline_.handedOver.empty()) return true;
    RxLookAhead* ahead = rx_->lookAhead();
    if (ahead == nullptr) return rx_->Waiting();
    HandedOverSkip skip(&pipeline_, rxBatch_);
    ahead->SkipLeading(skip, pipeline_.counters);
    return rx_->Waiting();
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
    int err = rx_->UpdateKernelStats(pipeline_.counters);
    if (err != 0) ThrowErrno(env, err, "getsockopt", "cannot read the kernel's ring statistics", "");
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
  // The backend: null once closed.
  std::unique_ptr<RxSource> rx_;
  std::unique_ptr<TxSink> tx_;
  int ifindex_ = 0;
  uint8_t mac_[6] = {};
  bool zeroCopy_ = false;
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
  bool linkWatchUntilUp_ = true;
  static constexpr uint64_t kLinkWatchMs = 250;
  Napi::AsyncContext* asyncContext_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  uv_check_t* check_ = nullptr;
  bool hookInstalled_ = false;
  bool referenced_ = false;
};

}  // namespace

void InitRingBinding(Napi::Env env, Napi::Object exports) {
  RingBinding::Init(env, exports);
}

}  // namespace syncache
