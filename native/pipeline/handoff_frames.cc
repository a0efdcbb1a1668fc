#include "pipeline/handoff_frames.h"

#include <cstring>

#include "wire/parse.h"

namespace syncache {

namespace {

// Where a frame's TCP header starts, if wire::LocateTcp places it and its
// ports and flags are within the frame; else 0.
uint32_t TcpOffset(const uint8_t* frame, uint32_t length) {
  wire::TcpPlace t;
  return wire::LocateTcp(frame, length, &t) && length >= t.l4 + 14 ? t.l4 : 0;
}

constexpr uint8_t kTcpSyn = 0x02;

}  // namespace

FlowKey FlowKeyFromWords(const uint32_t* f) {
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

void FlowKeyToWords(const FlowKey& key, uint32_t* f) {
  f[kFlowWordFamily] = key.family;
  for (int w = 0; w < 4; w++) {
    f[kFlowWordPeerAddress + w] = key.peer[w];
    f[kFlowWordLocalAddress + w] = key.local[w];
  }
  f[kFlowWordPeerPort] = key.peerPort;
  f[kFlowWordLocalPort] = key.localPort;
}

bool IsUrgentSegment(const uint8_t* frame, uint32_t length) {
  const uint32_t l4 = TcpOffset(frame, length);
  return l4 != 0 && (frame[l4 + 13] & kTcpSyn) == 0;
}

bool HandedOverSkip::operator()(const uint8_t* frame, uint32_t length, uint16_t vlanTci, double timeMs) {
  // Parsed as receive() would, into row 0 of the scratch batch, counting
  // aside until it is certain the frame goes.
  counts_ = Counters{};
  scratch_->payloadUsed = 0;
  if (!wire::ParseFrame(frame, length, vlanTci, timeMs, pipeline_->config, scratch_, 0, &counts_)) return false;
  bool own = false;
  const FlowFate fate = pipeline_->HandedOverFate(FlowKey::FromRow(*scratch_, 0), *scratch_, 0, &own);
  if (!own) return false;
  Counters* counters = pipeline_->counters;
  for (uint32_t c = 0; c < kCounterCount; c++) counters->value[c] += counts_.value[c];
  counters->Bump(Pipeline::OwnSegmentCounter(fate, scratch_->kind[0]));
  return true;
}

PeekSerializer::PeekSerializer(const LocalConfig& config, const FlowKey* keys, size_t keyCount, uint8_t* out,
                               size_t capacity, PacketBatch* scratch)
    : config_(config), keys_(keys), keyCount_(keyCount), out_(out), capacity_(capacity), scratch_(scratch) {
  std::memset(out_, 0, 4);
}

// A quick look before the full parse, so a look past a flood's backlog costs
// little: false for a TCP segment that is a SYN or comes from none of the
// flows' peer ports (anything it cannot place goes on to the parser).
bool PeekSerializer::MayCarryData(const uint8_t* frame, uint32_t length) const {
  const uint32_t l4 = TcpOffset(frame, length);
  if (l4 == 0) return true;
  if (frame[l4 + 13] & kTcpSyn) return false;  // no data of a completed flow
  const uint16_t sport = static_cast<uint16_t>(frame[l4] << 8 | frame[l4 + 1]);
  for (size_t k = 0; k < keyCount_; k++) {
    if (keys_[k].peerPort == sport) return true;
  }
  return false;
}

bool PeekSerializer::operator()(const uint8_t* frame, uint32_t length, uint16_t vlanTci, double timeMs) {
  if (!MayCarryData(frame, length)) return false;
  scratch_->payloadUsed = 0;
  if (!wire::ParseFrame(frame, length, vlanTci, timeMs, config_, scratch_, 0, &ignored_)) return false;
  if (scratch_->kind[0] != kKindAck || scratch_->payloadLength[0] == 0 || scratch_->payloadOffset[0] == kNoPayload)
    return false;
  const FlowKey key = FlowKey::FromRow(*scratch_, 0);
  for (size_t k = 0; k < keyCount_; k++) {
    if (!(keys_[k] == key)) continue;
    const uint32_t n = scratch_->payloadLength[0];
    const size_t need = 12 + ((static_cast<size_t>(n) + 3) & ~static_cast<size_t>(3));
    if (used_ + need > capacity_) return false;
    const uint32_t head[3] = {static_cast<uint32_t>(k), scratch_->seq[0], n};
    std::memcpy(out_ + used_, head, 12);
    std::memcpy(out_ + used_ + 12, scratch_->payload + scratch_->payloadOffset[0], n);
    used_ += need;
    records_++;
    std::memcpy(out_, &records_, 4);
    return true;
  }
  return false;
}

}  // namespace syncache
