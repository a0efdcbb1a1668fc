#include "io/bpf_filter.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>

#include "io/bpf_asm.h"

namespace syncache {

namespace {

using bpf::Asm;
using bpf::Dispatch;
using bpf::kNext;

constexpr uint32_t kAcceptAll = 0xffffffffu;

// IPv4 body with the IP header at `l3`.
void EmitV4(Asm& a, const LocalConfig& config, uint32_t l3) {
  int accept = a.NewLabel(), reject = a.NewLabel(), ours = a.NewLabel();
  int tcp = a.NewLabel(), icmp = a.NewLabel();
  a.Ld(BPF_W, l3 + 16);
  for (uint32_t addr : config.v4) a.Jeq(ntohl(addr), ours, kNext);
  a.Ja(reject);
  a.Bind(ours);
  a.Ld(BPF_H, l3 + 6);
  a.Jset(0x1fff, reject, kNext);
  a.LdxIpHeaderLength(l3);
  a.Ld(BPF_B, l3 + 9);
  a.Jeq(IPPROTO_TCP, tcp, kNext);
  a.Jeq(IPPROTO_ICMP, icmp, reject);
  a.Bind(tcp);
  a.LdInd(BPF_H, l3 + 2);
  for (uint16_t port : config.ports) a.Jeq(port, accept, kNext);
  a.Ja(reject);
  a.Bind(icmp);
  a.LdInd(BPF_B, l3);
  a.Jeq(3, accept, reject);
  a.Bind(accept);
  a.Ret(kAcceptAll);
  a.Bind(reject);
  a.Ret(0);
}

// IPv6 body with the IP header at `l3`.
void EmitV6(Asm& a, const LocalConfig& config, uint32_t l3) {
  int accept = a.NewLabel(), reject = a.NewLabel(), ours = a.NewLabel();
  int tcp = a.NewLabel(), icmp = a.NewLabel();
  for (const auto& addr : config.v6) {
    int nextAddr = a.NewLabel();
    for (int w = 0; w < 4; w++) {
      a.Ld(BPF_W, l3 + 24 + 4 * w);
      a.Jeq(ntohl(addr[w]), w == 3 ? ours : kNext, nextAddr);
    }
    a.Bind(nextAddr);
  }
  a.Ja(reject);
  a.Bind(ours);
  a.Ld(BPF_B, l3 + 6);
  a.Jeq(IPPROTO_TCP, tcp, kNext);
  a.Jeq(IPPROTO_ICMPV6, icmp, kNext);
  a.Jeq(IPPROTO_HOPOPTS, accept, kNext);
  a.Jeq(IPPROTO_ROUTING, accept, kNext);
  a.Jeq(IPPROTO_FRAGMENT, accept, kNext);
  a.Jeq(IPPROTO_DSTOPTS, accept, reject);
  a.Bind(tcp);
  a.Ld(BPF_H, l3 + 40 + 2);
  for (uint16_t port : config.ports) a.Jeq(port, accept, kNext);
  a.Ja(reject);
  a.Bind(icmp);
  a.Ld(BPF_B, l3 + 40);
  a.Jeq(1, accept, reject);
  a.Bind(accept);
  a.Ret(kAcceptAll);
  a.Bind(reject);
  a.Ret(0);
}

// The fanout steering program (see bpf_filter.h). Loads are relative to the
// network header (SKF_NET_OFF): the fanout runs before the MAC header is
// pushed back. Scratch: M[0] the running hash, M[1] the offset of the
// hashed IP header from the network header, M[2] a temporary.
constexpr uint32_t kNet = static_cast<uint32_t>(SKF_NET_OFF);
constexpr uint32_t kGolden = 0x9e3779b1u;  // Fibonacci hashing: the top bits mix all of them

// With A a transport header's first word (source port << 16 | destination
// port) and X the XOR of the addresses: XORs both ports into X (so the hash
// is the same for either direction), mixes and returns the hash.
void EmitFoldPortsAndReturn(Asm& a) {
  a.St(2);
  a.Alu(BPF_RSH, 16);
  a.AluX(BPF_XOR);
  a.Tax();
  a.LdM(2);
  a.And(0xffff);
  a.AluX(BPF_XOR);
  a.Alu(BPF_MUL, kGolden);
  a.Alu(BPF_RSH, 16);
  a.RetA();
}

// Returns the hash of the IPv4 header at X + l3: the XOR of both addresses
// (kept in M[0] while X finds the transport header) and both ports, mixed.
void EmitHashV4At(Asm& a, uint32_t l3) {
  a.Txa();
  a.St(1);
  a.LdInd(BPF_W, kNet + l3 + 12);
  a.St(0);
  a.LdInd(BPF_W, kNet + l3 + 16);
  a.LdxM(0);
  a.AluX(BPF_XOR);
  a.St(0);
  a.LdxM(1);
  a.LdInd(BPF_B, kNet + l3);  // version and IHL
  a.And(0x0f);
  a.Alu(BPF_LSH, 2);
  a.AluX(BPF_ADD);
  a.Tax();                    // X: the transport header's offset - l3
  a.LdInd(BPF_W, kNet + l3);  // source port << 16 | destination port
  a.LdxM(0);
  EmitFoldPortsAndReturn(a);
}

// The same for IPv6: both addresses (four words each) and the ports of a
// transport header right after the fixed header, at absolute l3.
void EmitHashV6At(Asm& a, uint32_t l3) {
  a.LdxImm(0);
  for (uint32_t w = 0; w < 8; w++) {
    a.Ld(BPF_W, kNet + l3 + 8 + 4 * w);
    a.AluX(BPF_XOR);
    a.Tax();
  }
  a.Ld(BPF_W, kNet + l3 + 40);
  EmitFoldPortsAndReturn(a);
}

void EmitSteerV4(Asm& a, uint32_t l3) {
  int quoted = a.NewLabel(), own = a.NewLabel();
  a.Ld(BPF_B, kNet + l3 + 9);
  a.Jeq(IPPROTO_ICMP, kNext, own);
  a.Ld(BPF_B, kNet + l3);  // X: the ICMP header's offset - l3
  a.And(0x0f);
  a.Alu(BPF_LSH, 2);
  a.Tax();
  a.LdInd(BPF_B, kNet + l3);  // ICMP type: an error quotes the packet that caused it
  a.Jeq(3, quoted, kNext);    // destination unreachable (and fragmentation needed)
  a.Jeq(11, quoted, kNext);   // time exceeded
  a.Jeq(12, quoted, own);     // parameter problem
  a.Bind(quoted);
  a.Txa();
  a.Alu(BPF_ADD, 8);  // past the ICMP header: the quoted IPv4 header
  a.Tax();
  EmitHashV4At(a, l3);
  a.Bind(own);
  a.LdxImm(0);
  EmitHashV4At(a, l3);
}

void EmitSteerV6(Asm& a, uint32_t l3) {
  int quoted = a.NewLabel(), own = a.NewLabel();
  a.Ld(BPF_B, kNet + l3 + 6);
  a.Jeq(IPPROTO_ICMPV6, kNext, own);
  a.Ld(BPF_B, kNet + l3 + 40);  // ICMPv6 type 1-4: the errors, quoting what caused them
  a.Jge(5, own, kNext);
  a.Jge(1, quoted, own);
  a.Bind(quoted);
  EmitHashV6At(a, l3 + 48);
  a.Bind(own);
  EmitHashV6At(a, l3);
}

}  // namespace

bool BuildFanoutSteering(std::vector<sock_filter>* out) {
  Asm a;
  int v4 = a.NewLabel(), v6 = a.NewLabel(), tagged = a.NewLabel(), v4tagged = a.NewLabel(), v6tagged = a.NewLabel();
  a.Ld(BPF_H, SKF_AD_OFF + SKF_AD_PROTOCOL);
  a.IfEqGoto(ETH_P_IP, v4);
  a.IfEqGoto(ETH_P_IPV6, v6);
  a.IfEqGoto(ETH_P_8021Q, tagged);
  a.Ret(0);
  a.Bind(tagged);  // a tag in band: the network header is the tag's
  a.Ld(BPF_H, kNet + 2);
  a.IfEqGoto(ETH_P_IP, v4tagged);
  a.IfEqGoto(ETH_P_IPV6, v6tagged);
  a.Ret(0);
  a.Bind(v4);
  EmitSteerV4(a, 0);
  a.Bind(v6);
  EmitSteerV6(a, 0);
  a.Bind(v4tagged);
  EmitSteerV4(a, 4);
  a.Bind(v6tagged);
  EmitSteerV6(a, 4);
  return a.Finish(out);
}

bool BuildResponderFilter(const LocalConfig& config, std::vector<sock_filter>* out) {
  return Dispatch(true, [&](Asm& a, uint32_t l3) { EmitV4(a, config, l3); },
                  [&](Asm& a, uint32_t l3) { EmitV6(a, config, l3); }, out);
}

}  // namespace syncache
