#include "lab/reply_filter.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "io/bpf_asm.h"

namespace syncache {

namespace {

using bpf::Asm;
using bpf::kNext;

void EmitCounter(Asm& a, uint32_t fromAddr, uint16_t fromPort, uint32_t toNet, uint32_t toMask,
                 uint32_t l3) {
  int accept = a.NewLabel(), reject = a.NewLabel();
  a.Ld(BPF_W, l3 + 12);
  a.Jeq(ntohl(fromAddr), kNext, reject);
  a.Ld(BPF_W, l3 + 16);
  a.And(ntohl(toMask));
  a.Jeq(ntohl(toNet & toMask), kNext, reject);
  a.Ld(BPF_B, l3 + 9);
  a.Jeq(IPPROTO_TCP, kNext, reject);
  a.Ld(BPF_H, l3 + 6);
  a.Jset(0x1fff, reject, kNext);
  a.LdxIpHeaderLength(l3);
  a.LdInd(BPF_H, l3);
  a.Jeq(fromPort, kNext, reject);
  a.LdInd(BPF_B, l3 + 13);
  a.And(0x12);
  a.Jeq(0x12, accept, reject);
  a.Bind(accept);
  a.Ret(128);
  a.Bind(reject);
  a.Ret(0);
}

}  // namespace

bool BuildSynAckCounterFilter(uint32_t fromAddr, uint16_t fromPort, uint32_t toNet,
                              uint32_t toMask, std::vector<sock_filter>* out) {
  return bpf::Dispatch(
      false, [&](Asm& a, uint32_t l3) { EmitCounter(a, fromAddr, fromPort, toNet, toMask, l3); },
      [&](Asm& a, uint32_t) { a.Ret(0); }, out);
}

}  // namespace syncache
