// A tiny classic BPF assembler, and the dispatch on an Ethernet frame's
// layout every program of ours starts with; shared by the responder's
// filters (io/bpf_filter.h) and the lab's reply counter (lab/reply_filter.h).
#pragma once

#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include <cstdint>
#include <vector>

namespace syncache::bpf {

constexpr int kNext = -1;  // jump target: the next instruction

// A tiny assembler: conditional jumps name labels, resolved at the end.
class Asm {
 public:
  int NewLabel() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void Bind(int label) { labels_[label] = static_cast<int>(code_.size()); }

  void Ld(uint16_t size, uint32_t offset) { Emit(BPF_LD | size | BPF_ABS, offset); }
  void LdxIpHeaderLength(uint32_t offset) { Emit(BPF_LDX | BPF_B | BPF_MSH, offset); }
  void LdInd(uint16_t size, uint32_t offset) { Emit(BPF_LD | size | BPF_IND, offset); }
  void And(uint32_t k) { Emit(BPF_ALU | BPF_AND | BPF_K, k); }
  void Alu(uint16_t op, uint32_t k) { Emit(BPF_ALU | op | BPF_K, k); }
  void AluX(uint16_t op) { Emit(BPF_ALU | op | BPF_X, 0); }
  void St(uint32_t slot) { Emit(BPF_ST, slot); }
  void LdM(uint32_t slot) { Emit(BPF_LD | BPF_MEM, slot); }
  void LdxM(uint32_t slot) { Emit(BPF_LDX | BPF_MEM, slot); }
  void LdxImm(uint32_t k) { Emit(BPF_LDX | BPF_IMM, k); }
  void Tax() { Emit(BPF_MISC | BPF_TAX, 0); }
  void Txa() { Emit(BPF_MISC | BPF_TXA, 0); }
  void Ret(uint32_t k) { Emit(BPF_RET | BPF_K, k); }
  void RetA() { Emit(BPF_RET | BPF_A, 0); }
  void Jge(uint32_t k, int jt, int jf) { Jump(BPF_JMP | BPF_JGE | BPF_K, k, jt, jf); }
  void Ja(int label) {
    Emit(BPF_JMP | BPF_JA, 0);
    code_.back().ja = label;
  }
  void Jeq(uint32_t k, int jt, int jf) { Jump(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf); }
  void Jset(uint32_t k, int jt, int jf) { Jump(BPF_JMP | BPF_JSET | BPF_K, k, jt, jf); }
  // A == k: go to `label` however far it is (through a `ja`).
  void IfEqGoto(uint32_t k, int label) {
    int skip = NewLabel();
    Jeq(k, kNext, skip);
    Ja(label);
    Bind(skip);
  }

  bool Finish(std::vector<sock_filter>* out) {
    out->clear();
    for (size_t i = 0; i < code_.size(); i++) {
      sock_filter f = code_[i].f;
      int64_t jt = Distance(code_[i].jt, i);
      int64_t jf = Distance(code_[i].jf, i);
      if (jt < 0 || jt > 255 || jf < 0 || jf > 255) return false;
      f.jt = static_cast<uint8_t>(jt);
      f.jf = static_cast<uint8_t>(jf);
      if (code_[i].ja != kNext) {
        int64_t k = Distance(code_[i].ja, i);
        if (k < 0) return false;
        f.k = static_cast<uint32_t>(k);
      }
      out->push_back(f);
    }
    return out->size() <= BPF_MAXINSNS;
  }

 private:
  struct Insn {
    sock_filter f;
    int jt = kNext, jf = kNext, ja = kNext;
  };
  void Emit(uint16_t code, uint32_t k) { code_.push_back(Insn{sock_filter{code, 0, 0, k}}); }
  void Jump(uint16_t code, uint32_t k, int jt, int jf) {
    Emit(code, k);
    code_.back().jt = jt;
    code_.back().jf = jf;
  }
  int64_t Distance(int label, size_t from) const {
    if (label == kNext) return 0;
    int target = labels_[label];
    if (target < 0) return -1;
    return static_cast<int64_t>(target) - static_cast<int64_t>(from) - 1;
  }

  std::vector<Insn> code_;
  std::vector<int> labels_;
};

// Dispatch on the ethertype (untagged or tag out of band: L3 at 14; tag in
// band: L3 at 18) to bodies emitted by `v4(asm, l3)` / `v6(asm, l3)`.
template <typename V4, typename V6>
bool Dispatch(bool dropOtherHost, V4 v4, V6 v6, std::vector<sock_filter>* out) {
  Asm a;
  int v4at14 = a.NewLabel(), v6at14 = a.NewLabel(), v4at18 = a.NewLabel(), v6at18 = a.NewLabel();
  int reject = a.NewLabel();
  if (dropOtherHost) {
    a.Ld(BPF_B, SKF_AD_OFF + SKF_AD_PKTTYPE);
    a.Jeq(PACKET_OTHERHOST, reject, kNext);
  }
  a.Ld(BPF_H, 12);
  a.IfEqGoto(ETH_P_IP, v4at14);
  a.IfEqGoto(ETH_P_IPV6, v6at14);
  a.Jeq(ETH_P_8021Q, kNext, reject);
  a.Ld(BPF_H, 16);
  a.IfEqGoto(ETH_P_IP, v4at18);
  a.IfEqGoto(ETH_P_IPV6, v6at18);
  a.Bind(reject);
  a.Ret(0);
  a.Bind(v4at14);
  v4(a, 14);
  a.Bind(v6at14);
  v6(a, 14);
  a.Bind(v4at18);
  v4(a, 18);
  a.Bind(v6at18);
  v6(a, 18);
  return a.Finish(out);
}

}  // namespace syncache::bpf
