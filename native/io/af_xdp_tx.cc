#include "io/af_xdp_tx.h"

#include <cerrno>

namespace syncache {

void AfXdpTx::Kick(Counters* counters) {
  XskRings& rings = socket_->rings();
  kickFailed_ = false;
  // A round that goes on has sent frames; the ring holds at most 65536.
  for (uint32_t round = 0; round < kMaxKickRounds; round++) {
    const uint32_t before = rings.TxUnconsumed();
    if (before == 0 || !KickNeeded()) return;
    counters->Bump(kCounter_txKicks);
    const int err = socket_->KickTx();
    const uint32_t after = rings.TxUnconsumed();
    if (after == 0) return;
    if (after < before && socket_->zeroCopy() == false) continue;  // a batch went: the next one
    if (err != 0) {
      counters->Bump(kCounter_txErrors);
      kickFailed_ = true;
    }
    return;  // zero-copy: the driver sends on its own from here
  }
}

uint32_t AfXdpTx::Send(ReplyWriter& writer, uint32_t count, Counters* counters) {
  XskRings& rings = socket_->rings();
  uint32_t room = rings.BeginTx(counters);
  uint32_t sent = 0;
  uint32_t unkicked = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (!writer.Route(i)) continue;
    if (room == 0) {
      counters->Add(kCounter_txRingFull, count - i);
      break;
    }
    const uint32_t length = writer.Write(i, rings.NextTxFrame(), rings.frameSize());
    if (length == 0) continue;  // the writer counted why
    rings.PostTx(length);
    room--;
    sent++;
    if (++unkicked == kFramesPerKick) {
      rings.PublishTx();
      Kick(counters);
      unkicked = 0;
      room = rings.BeginTx(counters);
    }
  }
  counters->Add(kCounter_txFrames, sent);
  rings.PublishTx();
  if (unkicked > 0 || kickFailed_) Kick(counters);
  return sent;
}

}  // namespace syncache
