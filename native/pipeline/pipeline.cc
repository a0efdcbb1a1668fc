#include "pipeline/pipeline.h"

#include "cookie/syncookie.h"
#include "wire/build.h"
#include "wire/headers.h"
#include "wire/parse.h"

namespace syncache {

bool Pipeline::Accept(const uint8_t* frame, uint32_t length, uint16_t ringVlan,
                      double timeMs, PacketBatch* batch, uint32_t row) {
  if (row == 0) batch->payloadUsed = 0;  // a new batch: the arena starts empty
  if (!wire::ParseFrame(frame, length, ringVlan, timeMs, config, batch, row, counters)) return false;
  if (!handedOver.empty()) {
    bool own = false;
    const PeerProgress* progress = nullptr;
    const FlowKey key = FlowKey::FromRow(*batch, row);
    const FlowFate fate = HandedOverFate(key, *batch, row, &own, &progress);
    if (own) {
      // The kernel socket has it. Its payload was the arena's last copy:
      // give the space back, or a kernel-served upload would fill the arena
      // and leave the batch's new handshakes without their data.
      if (batch->payloadOffset[row] != kNoPayload) batch->payloadUsed = batch->payloadOffset[row];
      counters->Bump(OwnSegmentCounter(fate, batch->kind[row]));
      return false;
    }
    if (fate != kFlowAbsent) {
      // A new connection on the 4-tuple of one that is no longer ours (its
      // socket closed, or it was only reported). A closed socket may sit in
      // TIME_WAIT: with timestamps the kernel lets the new socket take it
      // over, so answer, but only a SYN that RFC 6191 tells from an old
      // duplicate of the closed connection (a newer timestamp, or an ISN
      // beyond what it used): anything else may be a spoofed or stray SYN,
      // and the 4-tuple's TIME_WAIT is there to absorb it. Without
      // timestamps the kernel would refuse the socket, so leave the SYN
      // unanswered until the TIME_WAIT is gone (the peer resends it).
      if (fate == kFlowClosed) {
        const bool hasTs = (batch->optFlags[row] & kOptTimestamps) != 0;
        if (!hasTs || !progress->AllowsNewSyn(batch->seq[row], hasTs, batch->tsval[row])) {
          counters->Bump(kCounter_synOnTimeWait);
          uint32_t peerIsn = 0;
          if (recordRefused && refused.size() < kRefusedMax && handedOver.Find(key, &peerIsn) == kFlowClosed)
            refused.push_back(Refused{key, peerIsn});
          return false;
        }
      }
      handedOver.Remove(key);
      counters->Bump(kCounter_handedOverReopened);
    }
  }
  return true;
}

FlowFate Pipeline::HandedOverFate(const FlowKey& key, const PacketBatch& batch, uint32_t row, bool* own,
                                  const PeerProgress** progress) {
  uint32_t peerIsn = 0;
  PeerProgress* seen = nullptr;
  const FlowFate fate = handedOver.Find(key, &peerIsn, &seen);
  if (progress != nullptr) *progress = seen;
  // Any segment of the flow but a SYN; or the flow's own SYN again (its
  // ISN), retransmitted before our SYN-ACK reached the peer and read after
  // the final ACK that was taken ahead of it: answering it as a new
  // connection would end in a RST to the peer.
  // An open kernel socket's flow is its own whatever comes: a SYN with
  // another ISN there is the kernel's to answer (a challenge ACK), never a
  // new connection of ours.
  *own = fate != kFlowAbsent &&
         (batch.kind[row] != kKindSyn || batch.seq[row] == peerIsn || fate == kFlowKernelSocket);
  const uint8_t kind = batch.kind[row];
  if (*own && (kind == kKindAck || kind == kKindRst)) {
    const uint32_t fin = (batch.tcpFlags[row] & wire::kTcpFin) != 0 ? 1 : 0;
    seen->Observe(batch.seq[row], batch.payloadLength[row] + fin, (batch.optFlags[row] & kOptTimestamps) != 0,
                  batch.tsval[row]);
  }
  return fate;
}

NativeCounter Pipeline::OwnSegmentCounter(FlowFate fate, uint8_t kind) {
  // A SYN on an open connection's 4-tuple is never a new connection (a
  // spoofed one, answered, would end in a reset of the real one): it is
  // the kernel socket's, which answers with a challenge ACK (RFC 5961 4).
  return fate == kFlowKernelSocket && kind == kKindSyn ? kCounter_synOnLiveFlow : kCounter_skippedHandedOver;
}

void Pipeline::Finish(PacketBatch* batch, uint32_t count) {
  cookie::ProcessBatch(batch, count, secrets, config.mode, counters);
}

uint32_t Pipeline::Build(const PacketBatch& batch, uint32_t row, const uint8_t srcMac[6],
                         uint8_t* out, uint32_t capacity) {
  return wire::BuildFrame(batch, row, srcMac, out, capacity, counters);
}

}  // namespace syncache
