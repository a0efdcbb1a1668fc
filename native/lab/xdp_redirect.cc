#include "lab/xdp_redirect.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

#include "io/bpf_syscall.h"
#include "io/netns.h"

namespace syncache {

namespace {

// A few eBPF instructions with forward jumps to labels, patched at the end.
class Program {
 public:
  int NewLabel() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void Bind(int label) { labels_[label] = static_cast<int>(insns_.size()); }
  void Emit(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn insn{};
    insn.code = code;
    insn.dst_reg = dst & 0xf;
    insn.src_reg = src & 0xf;
    insn.off = off;
    insn.imm = imm;
    insns_.push_back(insn);
  }
  void Load(uint8_t size, uint8_t dst, uint8_t src, int16_t off) { Emit(BPF_LDX | BPF_MEM | size, dst, src, off, 0); }
  void MovReg(uint8_t dst, uint8_t src) { Emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
  void MovImm(uint8_t dst, int32_t imm) { Emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
  void AddImm(uint8_t dst, int32_t imm) { Emit(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm); }
  // if (dst op imm) / (dst op src) goto label
  void JumpImm(uint8_t op, uint8_t dst, int32_t imm, int label) { JumpTo(BPF_JMP | op | BPF_K, dst, 0, imm, label); }
  void JumpReg(uint8_t op, uint8_t dst, uint8_t src, int label) { JumpTo(BPF_JMP | op | BPF_X, dst, src, 0, label); }
  void Goto(int label) { JumpTo(BPF_JMP | BPF_JA, 0, 0, 0, label); }
  // dst = the map whose fd is `fd` (a 16-byte instruction).
  void LoadMap(uint8_t dst, int fd) {
    Emit(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    Emit(0, 0, 0, 0, 0);
  }
  void Call(int32_t helper) { Emit(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
  void Exit() { Emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

  const std::vector<bpf_insn>& Finish() {
    for (const auto& [at, label] : fixups_) insns_[at].off = static_cast<int16_t>(labels_[label] - at - 1);
    return insns_;
  }

 private:
  void JumpTo(uint8_t code, uint8_t dst, uint8_t src, int32_t imm, int label) {
    fixups_.emplace_back(static_cast<int>(insns_.size()), label);
    Emit(code, dst, src, 0, imm);
  }
  std::vector<bpf_insn> insns_;
  std::vector<int> labels_;
  std::vector<std::pair<int, int>> fixups_;
};

std::vector<bpf_insn> RedirectTcp(int mapFd) {
  Program p;
  const int pass = p.NewLabel(), ipv4 = p.NewLabel(), protocol = p.NewLabel();
  p.Load(BPF_W, 2, 1, offsetof(xdp_md, data));
  p.Load(BPF_W, 3, 1, offsetof(xdp_md, data_end));
  p.MovReg(4, 2);
  p.AddImm(4, 24);
  p.JumpReg(BPF_JGT, 4, 3, pass);
  p.Load(BPF_H, 5, 2, 12);  // the ethertype as it lies in memory: compared with htons()
  p.JumpImm(BPF_JEQ, 5, htons(0x0800), ipv4);
  p.JumpImm(BPF_JNE, 5, htons(0x86dd), pass);
  p.Load(BPF_B, 5, 2, 14 + 6);
  p.Goto(protocol);
  p.Bind(ipv4);
  p.Load(BPF_B, 5, 2, 14 + 9);
  p.Bind(protocol);
  p.JumpImm(BPF_JNE, 5, IPPROTO_TCP, pass);
  p.Load(BPF_W, 2, 1, offsetof(xdp_md, rx_queue_index));
  p.LoadMap(1, mapFd);
  p.MovImm(3, XDP_PASS);
  p.Call(BPF_FUNC_redirect_map);
  p.Exit();
  p.Bind(pass);
  p.MovImm(0, XDP_PASS);
  p.Exit();
  return p.Finish();
}

}  // namespace

bool XdpRedirect::Open(const XdpRedirectConfig& config, SysError* error) {
  Close();
  bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_XSKMAP;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = config.queues;
  std::strncpy(attr.map_name, "xsks", sizeof(attr.map_name) - 1);
  mapFd_ = static_cast<int>(BpfCall(BPF_MAP_CREATE, &attr));
  if (mapFd_ < 0) {
    const int err = errno;
    return ReportSysError(error, err, "bpf", "cannot create the XSKMAP", PermissionHint(err, "CAP_BPF (or CAP_SYS_ADMIN)"));
  }

  const std::vector<bpf_insn> insns = RedirectTcp(mapFd_);
  static const char kLicense[] = "GPL";
  std::vector<char> log(64 * 1024);
  for (int attempt = 0; attempt < 2 && progFd_ < 0; attempt++) {
    std::memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_XDP;
    attr.expected_attach_type = BPF_XDP;
    attr.insns = BpfPointer(insns.data());
    attr.insn_cnt = static_cast<uint32_t>(insns.size());
    attr.license = BpfPointer(kLicense);
    std::strncpy(attr.prog_name, "syncache_lab", sizeof(attr.prog_name) - 1);
    if (attempt == 1) {  // again, for the verifier's words
      attr.log_level = 1;
      attr.log_buf = BpfPointer(log.data());
      attr.log_size = static_cast<uint32_t>(log.size());
    }
    progFd_ = static_cast<int>(BpfCall(BPF_PROG_LOAD, &attr));
  }
  if (progFd_ < 0) {
    const int err = errno;
    Close();
    return ReportSysError(error, err, "bpf", "cannot load the lab's XDP redirect program",
                          err == EPERM || err == EACCES ? PermissionHint(err, "CAP_BPF (or CAP_SYS_ADMIN)") : std::string(log.data()));
  }

  NetnsScope netns;
  const char* syscall = "";
  int err = netns.Enter(config.netns, &syscall);
  if (err != 0) {
    Close();
    return ReportSysError(error, err, syscall, "cannot enter network namespace " + config.netns);
  }
  ifindex_ = static_cast<int>(if_nametoindex(config.iface.c_str()));
  if (ifindex_ == 0) {
    err = errno == ENXIO ? ENODEV : errno;
    Close();
    return ReportSysError(error, err, "if_nametoindex", "no interface " + config.iface + " in " +
                                                           (config.netns.empty() ? std::string("this namespace") : config.netns));
  }
  std::memset(&attr, 0, sizeof(attr));
  attr.link_create.prog_fd = static_cast<uint32_t>(progFd_);
  attr.link_create.target_ifindex = static_cast<uint32_t>(ifindex_);
  attr.link_create.attach_type = BPF_XDP;
  attr.link_create.flags = config.generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
  linkFd_ = static_cast<int>(BpfCall(BPF_LINK_CREATE, &attr));
  if (linkFd_ < 0) {
    err = errno;
    Close();
    return ReportSysError(error, err, "bpf", "cannot attach the lab's XDP program to " + config.iface,
                          err == EBUSY ? "another XDP program is attached to that interface" : "");
  }
  err = netns.Leave();
  if (err != 0) {
    Close();
    return ReportSysError(error, err, "setns", "cannot return to the original network namespace");
  }
  return true;
}

void XdpRedirect::Close() {
  for (int* fd : {&linkFd_, &progFd_, &mapFd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  ifindex_ = 0;
}

}  // namespace syncache
