// What the handoff does with frames still waiting in the ring, in Node-free
// code (under the sanitizer build, native/fuzz): a backend that can look
// ahead (io/io_backend.h RxLookAhead) walks its frames and hands each to one
// of these.
//
//   IsUrgentSegment  a TCP segment that is not a SYN (a final ACK, data, a
//                    RST): taken ahead of the SYNs before it.
//   HandedOverSkip   a frame at the ring's head that receive() would only
//                    skip, because its flow is a kernel socket's now (the
//                    peer's ACKs and FIN after a handoff): taken before JS is
//                    woken for it, with the counts receive() would give it.
//   PeekSerializer   the data segments of some flows among the waiting
//                    frames, copied out without taking any:
//                      uint32 record count, then per record uint32 flow
//                      index, seq and length and the bytes, padded to 4
//                    (host byte order). A segment that does not fit is left
//                    out (its sender resends it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "boundary/batch.h"
#include "boundary/counters.h"
#include "boundary/flow_words.h"
#include "pipeline/flow_set.h"
#include "pipeline/pipeline.h"

namespace syncache {

// A flow's words (boundary/flow_words.h) as a FlowKey; ports are taken
// modulo 2^16.
FlowKey FlowKeyFromWords(const uint32_t* words);
// The other way: `words` gets kFlowWords.
void FlowKeyToWords(const FlowKey& key, uint32_t* words);

bool IsUrgentSegment(const uint8_t* frame, uint32_t length);

class HandedOverSkip {
 public:
  // scratch: a batch whose row 0 (and payload arena) may be overwritten.
  HandedOverSkip(Pipeline* pipeline, PacketBatch* scratch) : pipeline_(pipeline), scratch_(scratch) {}
  // True if the frame is a handed-over flow's own segment (then counted as
  // receive() would count it, and taken); false leaves it, uncounted.
  bool operator()(const uint8_t* frame, uint32_t length, uint16_t vlanTci, double timeMs);

 private:
  Pipeline* pipeline_;
  PacketBatch* scratch_;
  Counters counts_{};  // the frame's parse counts until it is certain it goes
};

class PeekSerializer {
 public:
  // keys: the flows whose data is wanted (a record names its flow by index);
  // out: capacity bytes (at least 4), 4-aligned; scratch as for HandedOverSkip.
  PeekSerializer(const LocalConfig& config, const FlowKey* keys, size_t keyCount, uint8_t* out, size_t capacity,
                 PacketBatch* scratch);
  // Copies the frame's data out if it is one of the flows'; the return value
  // means nothing (every frame is looked at).
  bool operator()(const uint8_t* frame, uint32_t length, uint16_t vlanTci, double timeMs);
  uint32_t records() const { return records_; }
  size_t used() const { return used_; }

 private:
  bool MayCarryData(const uint8_t* frame, uint32_t length) const;

  const LocalConfig& config_;
  const FlowKey* keys_;
  size_t keyCount_;
  uint8_t* out_;
  size_t capacity_;
  PacketBatch* scratch_;
  size_t used_ = 4;
  uint32_t records_ = 0;
  Counters ignored_{};  // a look, not a receive: its parse is not counted
};

}  // namespace syncache
