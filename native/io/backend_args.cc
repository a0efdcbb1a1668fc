#include "io/backend_args.h"

#include <linux/if_packet.h>

#include <string>
#include <vector>

#include "boundary/errors.h"
#include "boundary/js_args.h"
#include "io/af_packet_args.h"
#include "wire/build.h"

namespace syncache {

namespace {

// A TX slot of the AF_PACKET ring: the TPACKET_V2 header (32 B), the
// virtio_net_hdr (10 B) and the largest frame Build writes, in a power of
// two that divides the block. Answers are small: many such slots, so a
// burst (a timer run's retransmits) waits in the ring for the next kicks
// instead of being dropped. 16384 x 256 B = 4 MiB.
constexpr uint32_t kPacketTxFrameSize = 256;
constexpr uint32_t kPacketTxFrames = 16384;
static_assert(TPACKET_ALIGN(sizeof(tpacket2_hdr)) + 10 + wire::kMaxBuiltFrame <= kPacketTxFrameSize,
              "a built frame must fit a TX slot");

bool ReadOptionalUint(Napi::Env env, Napi::Object options, const char* name, uint32_t min, uint32_t max,
                      uint32_t* out) {
  return ReadInteger(env, options, "options.", name, min, max, true, out);
}

// The most queues one ring reads (a socket and a UMEM each).
constexpr uint32_t kMaxXdpQueues = 64;

// options.queues: distinct receive queues, 1 to kMaxXdpQueues of them; not
// with options.queue.
bool ReadQueues(Napi::Env env, Napi::Object options, std::vector<uint32_t>* out) {
  if (options.Get("queues").IsUndefined()) return true;
  if (!options.Get("queue").IsUndefined()) {
    ThrowTypeError(env, "options.queue and options.queues: give one of them");
    return false;
  }
  if (!ReadIntegerArray(env, options, "options.", "queues", 0, 65535, kMaxXdpQueues, "receive queue numbers", out))
    return false;
  for (size_t i = 1; i < out->size(); i++) {
    for (size_t j = 0; j < i; j++) {
      if ((*out)[i] == (*out)[j]) {
        ThrowRangeError(env, "options.queues names queue " + std::to_string((*out)[i]) + " twice");
        return false;
      }
    }
  }
  return true;
}

// A TypeError if any of `names` is set: they belong to the other backend.
bool RefuseOthers(Napi::Env env, Napi::Object options, std::initializer_list<const char*> names, const char* io) {
  for (const char* name : names) {
    if (!options.Get(name).IsUndefined()) {
      ThrowTypeError(env, std::string("options.") + name + " does not apply to io: '" + io + "'");
      return false;
    }
  }
  return true;
}

bool ReadPacket(Napi::Env env, Napi::Object options, BackendConfig* config) {
  if (!RefuseOthers(env, options, {"xskMap", "queue", "queues", "frameSize", "rxFrames", "zeroCopy"}, "packet")) return false;
  AfPacketConfig& packet = config->packet;
  uint32_t fanout = 0;
  if (!ReadOptionalUint(env, options, "fanoutGroup", 1, 65535, &fanout)) return false;
  packet.fanoutGroup = static_cast<uint16_t>(fanout);
  if (!ReadBoolean(env, options, "options.", "qdiscBypass", true, &packet.qdiscBypass)) return false;
  packet.txFrameSize = kPacketTxFrameSize;
  packet.txFrames = kPacketTxFrames;
  return ReadOptionalUint(env, options, "blockSize", 1, 1u << 30, &packet.blockSize) &&
         ReadOptionalUint(env, options, "blockCount", 1, 1024, &packet.blockCount) &&
         ReadOptionalUint(env, options, "retireMs", 1, 60000, &packet.retireMs) &&
         ReadOptionalUint(env, options, "txFrames", 1, 65536, &packet.txFrames);
}

bool ReadXdp(Napi::Env env, Napi::Object options, BackendConfig* config) {
  if (!RefuseOthers(env, options, {"fanoutGroup", "qdiscBypass", "blockSize", "blockCount", "retireMs"}, "xdp"))
    return false;
  AfXdpConfig& xdp = config->xdp;
  uint32_t map = 0;
  if (!ReadInteger(env, options, "options.", "xskMap", 0, INT32_MAX, false, &map)) return false;
  xdp.xskMap = static_cast<int>(map);
  return ReadQueues(env, options, &config->xdpQueues) && ReadOptionalUint(env, options, "queue", 0, 65535, &xdp.queue) &&
         ReadOptionalUint(env, options, "frameSize", 2048, 4096, &xdp.frameSize) &&
         ReadOptionalUint(env, options, "rxFrames", 64, 65536, &xdp.rxFrames) &&
         ReadOptionalUint(env, options, "txFrames", 64, 65536, &xdp.txFrames) &&
         ReadBoolean(env, options, "options.", "zeroCopy", true, &xdp.zeroCopy);
}

}  // namespace

bool ReadBackendOptions(Napi::Env env, Napi::Object options, BackendConfig* config) {
  AfPacketConfig names;
  if (!ReadNetnsAndIface(env, options, &names)) return false;
  config->iface = names.iface;
  config->netns = names.netns;
  Napi::Value io = options.Get("io");
  const std::string kind = io.IsString() ? io.As<Napi::String>().Utf8Value() : "";
  if (!io.IsUndefined() && kind != "packet" && kind != "xdp") {
    ThrowTypeError(env, "options.io must be 'packet' (AF_PACKET) or 'xdp' (AF_XDP)");
    return false;
  }
  config->kind = kind == "xdp" ? IoKind::kAfXdp : IoKind::kAfPacket;
  if (!ReadBoolean(env, options, "options.", "lowLatency", true, &config->lowLatency)) return false;
  return config->kind == IoKind::kAfXdp ? ReadXdp(env, options, config) : ReadPacket(env, options, config);
}

}  // namespace syncache
