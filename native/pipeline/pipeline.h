// The per-batch packet path shared by the ring and by tests/benchmarks (and
// the sanitizer build in native/fuzz, which is why nothing here needs Node):
// parse frames into a PacketBatch, then hash flows and make/check cookies
// for the whole batch; and build frames from a send batch.
#pragma once

#include <cstdint>
#include <vector>

#include "boundary/batch.h"
#include "boundary/counters.h"
#include "boundary/secrets.h"
#include "pipeline/flow_set.h"
#include "pipeline/local_config.h"

namespace syncache {

class Pipeline {
 public:
  Counters* counters = nullptr;  // owned by the JS counters ArrayBuffer
  LocalConfig config;
  const CookieSecrets* secrets = nullptr;
  FlowSet handedOver;  // flows now served by kernel sockets: skipped
  // Once recordRefused is set, the closed flows on which a SYN was refused
  // (RFC 6191: synOnTimeWait), with their peer's ISN, until their owner
  // takes them (at most kRefusedMax): the XDP door let such a SYN up and
  // forgot the flow, which its owner then marks closed there again.
  struct Refused {
    FlowKey key;
    uint32_t peerIsn;
  };
  static constexpr size_t kRefusedMax = kBatchCapacity;
  bool recordRefused = false;
  std::vector<Refused> refused;

  // One frame into row `row`; true if it was accepted.
  bool Accept(const uint8_t* frame, uint32_t length, uint16_t ringVlan,
              double timeMs, PacketBatch* batch, uint32_t row);
  // For parsed row `row`, whose flow is `key`: what became of the flow
  // (handedOver), and in *own whether the row is that flow's own segment,
  // which the kernel socket serves (anything but a SYN, or its SYN again) -
  // skipped - rather than a new connection on its 4-tuple (a SYN with
  // another ISN, once the flow's socket is closed or it was only reported;
  // while its socket is open, every segment is the socket's).
  // A segment the flow's socket owns is also taken into the flow's
  // PeerProgress (what the peer has sent; RFC 6191's inputs); the flow's
  // progress is returned through `progress` when given.
  FlowFate HandedOverFate(const FlowKey& key, const PacketBatch& batch, uint32_t row, bool* own,
                          const PeerProgress** progress = nullptr);
  // The counter a skipped segment of a handed-over flow bumps.
  static NativeCounter OwnSegmentCounter(FlowFate fate, uint8_t kind);
  // After rows [0, count) are filled: flow hashes and cookies.
  void Finish(PacketBatch* batch, uint32_t count);
  // One send row into a frame; 0 if not buildable.
  uint32_t Build(const PacketBatch& batch, uint32_t row, const uint8_t srcMac[6],
                 uint8_t* out, uint32_t capacity);
};

}  // namespace syncache
