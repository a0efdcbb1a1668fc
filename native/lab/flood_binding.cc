// The built-in SYN flood generator, a lab tool (in the lab's addon,
// syncache_lab.node): flood(options) -> Promise<FloodResult>.
//
// On the JS thread it validates the options and opens, inside options.netns,
// the AF_PACKET backend's pieces on the interface (io/af_packet.h): a TX
// ring with PACKET_QDISC_BYPASS, and a TPACKET_V3 RX ring whose BPF filter passes only IPv4 TCP SYN-ACKs from dstAddr:dstPort
// to srcNet (snapped to 128 bytes). Then, on a libuv thread-pool thread, it
// sends SYNs for options.seconds and counts the SYN-ACKs the RX ring sees
// (plus those the kernel dropped because the ring was full).
//
// Frames: one template (Ethernet, IPv4 with DF and TTL 64, TCP SYN with the
// options a Linux client sends: MSS 1460, SACK-permitted, timestamps, NOP,
// window scale 7; 74 bytes) is built once with the per-packet fields zero.
// Per packet the source address (random in srcNet), source port (random,
// 1024..65535), IP id, ISN and TSval are written, and both checksums are
// finished incrementally (RFC 1624) with wire/checksum.h: the
// one's-complement sum of the template with those fields zero is computed
// once, so each checksum is that sum plus the new fields' 16-bit words,
// folded and inverted.
//
// Pacing: a token bucket refilled at options.rate per second, spent in
// batches of up to kBatch frames, each batch sent with one kick (sendto
// MSG_DONTWAIT); rate 0 sends as fast as the ring drains. A full TX ring is
// waited on with poll(POLLOUT) for at most 1 ms at a time.
//
// Safety: dstAddr and the whole srcNet must lie in 198.18.0.0/15 (RFC 2544
// benchmarking); anything else is refused with a RangeError, so the
// generator cannot be pointed at a real network.
#include <napi.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "lab/flood_binding.h"

#include "boundary/counters.h"
#include "boundary/errors.h"
#include "boundary/ip_text.h"
#include "boundary/js_args.h"
#include "io/af_packet.h"
#include "io/af_packet_args.h"
#include "io/af_packet_rx_v3.h"
#include "io/af_packet_tx.h"
#include "lab/reply_filter.h"
#include "wire/checksum.h"
#include "wire/headers.h"
#include "wire/parse.h"

namespace syncache {

namespace {

using wire::ChecksumAdd;
using wire::ChecksumAddBe16;
using wire::ChecksumStore;
using wire::Store16;
using wire::Store32;

constexpr uint32_t kBenchNet = 0xc6120000;   // 198.18.0.0
constexpr uint32_t kBenchMask = 0xfffe0000;  // /15
constexpr uint32_t kBatch = 256;
constexpr uint32_t kFrameLength = 74;
constexpr double kReplyGraceSeconds = 1.0;

bool InBenchNet(uint32_t hostOrder) { return (hostOrder & kBenchMask) == kBenchNet; }

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

// wyrand: fast, good enough to spread addresses, ports and ISNs.
struct Random {
  uint64_t state;
  uint64_t Next() {
    state += 0xa0761d6478bd642full;
    __uint128_t t = static_cast<__uint128_t>(state) * (state ^ 0xe7037ed1a0b428dbull);
    return static_cast<uint64_t>(t >> 64) ^ static_cast<uint64_t>(t);
  }
};

// A 32-bit value's two 16-bit words into a checksum sum, as its network-order bytes.
uint64_t ChecksumAddBe32(uint64_t sum, uint32_t value) {
  return ChecksumAddBe16(ChecksumAddBe16(sum, static_cast<uint16_t>(value >> 16)), static_cast<uint16_t>(value));
}

struct FloodPlan {
  uint8_t dstMac[6];
  uint32_t dstAddr;  // host order
  uint16_t dstPort;
  uint32_t srcNet;   // host order
  uint32_t srcMask;
  double rate;
  double seconds;
  int cpu;        // pin the sending thread to this CPU while it runs; -1: don't
  bool sendmmsg;  // send with sendmmsg instead of the TX ring
};

// ISN of the i-th SYN = i * kIsnStep + base; kIsnStepInverse * kIsnStep = 1 mod 2^32.
constexpr uint32_t kIsnStep = 0x9E3779B1u;
constexpr uint32_t kIsnStepInverse = [] {
  uint32_t x = kIsnStep;  // Newton's iteration for the inverse mod 2^32
  for (int i = 0; i < 5; i++) x *= 2 - kIsnStep * x;
  return x;
}();
static_assert(kIsnStep * kIsnStepInverse == 1u, "kIsnStepInverse");

class FloodWorker : public Napi::AsyncWorker {
 public:
  FloodWorker(Napi::Env env, const FloodPlan& plan)
      : Napi::AsyncWorker(env, "syncache.flood"), plan_(plan), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }
  // Opens the RX and TX pieces (on the JS thread, before Queue).
  bool Open(const AfPacketConfig& config, SysError* error) { return OpenAfPacket(config, &rx_, &tx_, &interface_, error); }

 protected:
  void Execute() override {
    // The thread pool's thread goes back to the pool afterwards: pin it for
    // this run only, and give it back its old CPU set.
    cpu_set_t before;
    const bool pinned = plan_.cpu >= 0 && pthread_getaffinity_np(pthread_self(), sizeof(before), &before) == 0 &&
                        PinTo(plan_.cpu);
    Send();
    if (pinned) pthread_setaffinity_np(pthread_self(), sizeof(before), &before);
  }

  static bool PinTo(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
  }

  void Send() {
    for (uint32_t i = 0; i < kBatch; i++) {
      iov_[i] = iovec{buffer_[i], kFrameLength};
      msgs_[i] = mmsghdr{};
      msgs_[i].msg_hdr.msg_iov = &iov_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
    }
    uint8_t frame[kFrameLength];
    BuildTemplate(frame);
    const uint64_t ipBase = ChecksumAdd(0, frame + 14, 20);
    const uint64_t tcpBase = ChecksumAddBe16(ChecksumAddBe16(ChecksumAddBe32(ChecksumAdd(0, frame + 34, 40), plan_.dstAddr), IPPROTO_TCP), 40);
    Random random{0};
    if (getrandom(&random.state, sizeof(random.state), 0) != sizeof(random.state))
      random.state = static_cast<uint64_t>(Now() * 1e9);
    uint32_t tsBase = static_cast<uint32_t>(random.Next());

    // ISNs walk an odd multiplier from a random base, so a SYN-ACK's ack - 1
    // names the SYN it answers and each SYN counts once in `unique`, however
    // often it is answered (retransmits, duplicates).
    const uint32_t isnBase = static_cast<uint32_t>(random.Next());
    uint32_t nextIndex = 0;
    auto countReplies = [&]() {
      replies_ += rx_.Receive(UINT32_MAX, &counters_,
                                [&](const uint8_t* f, uint32_t len, uint16_t, double) {
                                  CountUnique(f, len, isnBase, nextIndex);
                                  return true;
                                });
    };
    auto fill = [&](uint8_t* slot, uint32_t tsval) {
      uint64_t r1 = random.Next();
      uint32_t saddr = plan_.srcNet | (static_cast<uint32_t>(r1) & ~plan_.srcMask);
      uint16_t sport = static_cast<uint16_t>(1024 + (((r1 >> 32) & 0xffff) * 64512 >> 16));
      uint16_t id = static_cast<uint16_t>(r1 >> 48);
      uint32_t isn = nextIndex++ * kIsnStep + isnBase;
      std::memcpy(slot, frame, kFrameLength);
      uint8_t* ip = slot + 14;
      uint8_t* tcp = slot + 34;
      Store16(ip + 4, id);
      Store32(ip + 12, saddr);
      ChecksumStore(ip + 10, ChecksumAddBe32(ChecksumAddBe16(ipBase, id), saddr));
      Store16(tcp, sport);
      Store32(tcp + 4, isn);
      Store32(tcp + 28, tsval);
      ChecksumStore(tcp + 16, ChecksumAddBe32(ChecksumAddBe32(ChecksumAddBe16(ChecksumAddBe32(tcpBase, saddr), sport), isn), tsval));
    };
    rusage usageStart{};
    getrusage(RUSAGE_THREAD, &usageStart);
    const double start = Now();
    const double end = start + plan_.seconds;
    double last = start;
    double tokens = 0;
    const double burst = plan_.rate > 0 ? std::max<double>(kBatch, plan_.rate / 1000) : 0;
    double now = start;
    while (now < end) {
      uint32_t allowed = kBatch;
      if (plan_.rate > 0) {
        tokens = std::min(burst, tokens + (now - last) * plan_.rate);
        last = now;
        if (tokens < 1) {
          countReplies();
          double wait = std::min((1 - tokens) / plan_.rate, 0.001);
          timespec ts{0, static_cast<long>(wait * 1e9)};
          nanosleep(&ts, nullptr);
          now = Now();
          continue;
        }
        allowed = static_cast<uint32_t>(std::min<double>(kBatch, tokens));
      }
      uint32_t tsval = tsBase + static_cast<uint32_t>((now - start) * 1000);
      uint32_t n = plan_.sendmmsg ? SendBatchSendmmsg(allowed, fill, tsval)
                                  : SendBatchRing(allowed, fill, tsval);
      sent_ += n;
      tokens -= n;
      if (n < allowed) tx_.WaitSlot(1);
      countReplies();
      now = Now();
    }
    seconds_ = Now() - start;
    rusage usageEnd{};
    getrusage(RUSAGE_THREAD, &usageEnd);
    cpuSeconds_ = CpuSeconds(usageEnd) - CpuSeconds(usageStart);
    tx_.Kick();
    const double graceEnd = Now() + kReplyGraceSeconds;
    while (Now() < graceEnd) {
      countReplies();
      timespec ts{0, 1000000};
      nanosleep(&ts, nullptr);
    }
    countReplies();
    rx_.UpdateKernelStats(&counters_);
    replyDrops_ = counters_.value[kCounter_kernelDrops];
    replies_ += replyDrops_;
  }

  // Marks the SYN a SYN-ACK frame answers (IPv4/TCP, untagged or with one
  // 802.1Q tag in the frame; ack = ISN + 1).
  void CountUnique(const uint8_t* f, uint32_t len, uint32_t isnBase, uint32_t sentCount) {
    wire::TcpPlace t;
    if (!wire::LocateTcp(f, len, &t) || t.family != 4 || len < t.l4 + 20) return;
    const uint8_t* tcp = f + t.l4;
    const uint32_t ack = (uint32_t{tcp[8]} << 24) | (uint32_t{tcp[9]} << 16) | (uint32_t{tcp[10]} << 8) | tcp[11];
    const uint32_t index = (ack - 1 - isnBase) * kIsnStepInverse;
    if (index >= sentCount) return;
    const size_t word = index >> 6;
    if (word >= answered_.size()) answered_.resize(std::max<size_t>(word + 1, answered_.size() * 2), 0);
    const uint64_t bit = uint64_t{1} << (index & 63);
    if ((answered_[word] & bit) == 0) {
      answered_[word] |= bit;
      unique_++;
    }
  }

  static double CpuSeconds(const rusage& u) {
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
  }

  // Fills up to `allowed` free TX-ring slots and kicks once.
  template <typename Fill>
  uint32_t SendBatchRing(uint32_t allowed, Fill& fill, uint32_t tsval) {
    uint32_t n = 0;
    for (; n < allowed; n++) {
      uint32_t capacity = 0;
      uint8_t* slot = tx_.Slot(&capacity);
      if (slot == nullptr) break;
      fill(slot, tsval);
      tx_.Commit(kFrameLength);
    }
    if (n < allowed) counters_.Bump(kCounter_txRingFull);
    if (n > 0) {
      counters_.Bump(kCounter_txKicks);
      if (tx_.Kick() != 0) counters_.Bump(kCounter_txErrors);
    }
    return n;
  }

  // Builds `allowed` frames in a local buffer and sends them with one sendmmsg.
  template <typename Fill>
  uint32_t SendBatchSendmmsg(uint32_t allowed, Fill& fill, uint32_t tsval) {
    for (uint32_t i = 0; i < allowed; i++) fill(buffer_[i], tsval);
    counters_.Bump(kCounter_txKicks);
    int sent = sendmmsg(tx_.fd(), msgs_, allowed, MSG_DONTWAIT);
    if (sent < 0) {
      counters_.Bump(kCounter_txErrors);
      return 0;
    }
    return static_cast<uint32_t>(sent);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object result = Napi::Object::New(env);
    result.Set("sent", Napi::Number::New(env, static_cast<double>(sent_)));
    result.Set("replies", Napi::Number::New(env, static_cast<double>(replies_)));
    result.Set("unique", Napi::Number::New(env, static_cast<double>(unique_)));
    result.Set("replyDrops", Napi::Number::New(env, static_cast<double>(replyDrops_)));
    result.Set("seconds", Napi::Number::New(env, seconds_));
    result.Set("cpuSeconds", Napi::Number::New(env, cpuSeconds_));
    result.Set("txErrors", Napi::Number::New(env, static_cast<double>(counters_.value[kCounter_txErrors])));
    result.Set("txRingFull", Napi::Number::New(env, static_cast<double>(counters_.value[kCounter_txRingFull])));
    Close();
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& error) override {
    Close();
    deferred_.Reject(error.Value());
  }

 private:
  void Close() {
    rx_.Close();
    tx_.Close();
  }

  void BuildTemplate(uint8_t* f) {
    std::memset(f, 0, kFrameLength);
    std::memcpy(f, plan_.dstMac, 6);
    std::memcpy(f + 6, interface_.mac, 6);
    Store16(f + 12, 0x0800);
    uint8_t* ip = f + 14;
    ip[0] = 0x45;
    Store16(ip + 2, 60);
    Store16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = IPPROTO_TCP;
    Store32(ip + 16, plan_.dstAddr);
    uint8_t* tcp = f + 34;
    Store16(tcp + 2, plan_.dstPort);
    tcp[12] = 10 << 4;  // 40-byte header
    tcp[13] = 0x02;     // SYN
    Store16(tcp + 14, 64240);
    static const uint8_t kOptions[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7};
    std::memcpy(tcp + 20, kOptions, sizeof(kOptions));
  }

  FloodPlan plan_;
  Napi::Promise::Deferred deferred_;
  AfPacketRxV3 rx_;
  AfPacketTx tx_;
  AfPacketInterface interface_;
  Counters counters_{};
  uint64_t sent_ = 0;
  uint64_t replies_ = 0;
  uint64_t unique_ = 0;
  uint64_t replyDrops_ = 0;
  std::vector<uint64_t> answered_ = std::vector<uint64_t>(1 << 16, 0);
  double seconds_ = 0;
  double cpuSeconds_ = 0;
  uint8_t buffer_[kBatch][kFrameLength];
  iovec iov_[kBatch];
  mmsghdr msgs_[kBatch];
};

bool ParseV4(const std::string& text, uint32_t* hostOrder) {
  in6_addr a{};
  if (ParseIp(text, 4, &a) != 4) return false;
  uint32_t networkOrder = 0;
  std::memcpy(&networkOrder, &a, 4);
  *hostOrder = ntohl(networkOrder);
  return true;
}

Napi::Value Flood(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) {
    ThrowTypeError(env, "flood(options): options must be an object");
    return env.Undefined();
  }
  Napi::Object options = info[0].As<Napi::Object>();
  AfPacketConfig config;
  if (!ReadNetnsAndIface(env, options, &config)) return env.Undefined();
  FloodPlan plan{};

  Napi::Value mac = options.Get("dstMac");
  if (!mac.IsTypedArray() || mac.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      mac.As<Napi::Uint8Array>().ElementLength() != 6) {
    ThrowTypeError(env, "options.dstMac must be a Uint8Array of 6 bytes");
    return env.Undefined();
  }
  std::memcpy(plan.dstMac, mac.As<Napi::Uint8Array>().Data(), 6);

  Napi::Value dst = options.Get("dstAddr");
  if (!dst.IsString() || !ParseV4(dst.As<Napi::String>().Utf8Value(), &plan.dstAddr)) {
    ThrowTypeError(env, "options.dstAddr must be an IPv4 address (string)");
    return env.Undefined();
  }
  if (!InBenchNet(plan.dstAddr)) {
    ThrowRangeError(env, "options.dstAddr must lie in 198.18.0.0/15 (the benchmarking range): the "
                         "generator is never pointed at a real network");
    return env.Undefined();
  }
  Napi::Value port = options.Get("dstPort");
  double p = port.IsNumber() ? port.As<Napi::Number>().DoubleValue() : -1;
  if (!(p >= 1 && p <= 65535) || p != std::floor(p)) {
    ThrowRangeError(env, "options.dstPort must be an integer from 1 to 65535");
    return env.Undefined();
  }
  plan.dstPort = static_cast<uint16_t>(p);

  Napi::Value net = options.Get("srcNet");
  std::string netText = net.IsString() ? net.As<Napi::String>().Utf8Value() : "";
  size_t slash = netText.find('/');
  uint32_t netAddr = 0;
  int prefix = -1;
  if (slash != std::string::npos && ParseV4(netText.substr(0, slash), &netAddr)) {
    std::string len = netText.substr(slash + 1);
    if (!len.empty() && len.size() <= 2 && len.find_first_not_of("0123456789") == std::string::npos)
      prefix = std::stoi(len);
  }
  if (prefix < 0 || prefix > 32) {
    ThrowTypeError(env, "options.srcNet must be an IPv4 CIDR such as 198.19.0.0/16");
    return env.Undefined();
  }
  plan.srcMask = prefix == 0 ? 0 : ~0u << (32 - prefix);
  plan.srcNet = netAddr & plan.srcMask;
  if (prefix < 15 || !InBenchNet(plan.srcNet)) {
    ThrowRangeError(env, "options.srcNet must lie in 198.18.0.0/15 (the benchmarking range): the "
                         "generator is never pointed at a real network");
    return env.Undefined();
  }

  Napi::Value rate = options.Get("rate");
  plan.rate = rate.IsNumber() ? rate.As<Napi::Number>().DoubleValue() : -1;
  if (!(plan.rate >= 0 && plan.rate <= 1e9)) {
    ThrowRangeError(env, "options.rate must be a number of SYN/s from 0 (flat out) to 1e9");
    return env.Undefined();
  }
  Napi::Value seconds = options.Get("seconds");
  plan.seconds = seconds.IsNumber() ? seconds.As<Napi::Number>().DoubleValue() : -1;
  if (!(plan.seconds > 0 && plan.seconds <= 3600)) {
    ThrowRangeError(env, "options.seconds must be a number above 0 and at most 3600");
    return env.Undefined();
  }

  uint32_t cpu = UINT32_MAX;  // absent: not pinned
  if (!ReadInteger(env, options, "options.", "cpu", 0, CPU_SETSIZE - 1, true, &cpu)) return env.Undefined();
  plan.cpu = cpu == UINT32_MAX ? -1 : static_cast<int>(cpu);

  Napi::Value method = options.Get("method");
  std::string methodName = method.IsString() ? method.As<Napi::String>().Utf8Value() : "";
  if (!method.IsUndefined() && methodName != "ring" && methodName != "sendmmsg") {
    ThrowTypeError(env, "options.method must be 'ring' or 'sendmmsg'");
    return env.Undefined();
  }
  plan.sendmmsg = methodName == "sendmmsg";
  config.rx = true;
  config.tx = true;
  config.txRing = !plan.sendmmsg;
  config.qdiscBypass = true;
  config.linearTx = false;
  // Replies are counted between send batches; a block retires 1 ms after it
  // opens however empty, so the ring rides out count/retireMs ms between two
  // reads: enough blocks that a responder answering in bursts loses none of
  // its answers here, in the measuring, rather than on the wire.
  config.blockSize = 256u << 10;
  config.blockCount = 64;
  config.retireMs = 1;
  config.txFrames = 4096;
  if (!BuildSynAckCounterFilter(htonl(plan.dstAddr), plan.dstPort, htonl(plan.srcNet),
                                htonl(plan.srcMask), &config.filter)) {
    ThrowRangeError(env, "flood: cannot build the reply filter");
    return env.Undefined();
  }
  auto* worker = new FloodWorker(env, plan);
  SysError error;
  if (!worker->Open(config, &error)) {
    delete worker;
    ThrowSysError(env, error);
    return env.Undefined();
  }
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitFloodBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("flood", Napi::Function::New<Flood>(env, "flood"));
}

}  // namespace syncache
