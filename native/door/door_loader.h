// The door's loader: its XDP program (door.bpf.c, built beside the addon)
// opened and loaded with libbpf, its maps written, attached to one
// interface through a bpf_link, its per-CPU counters summed. Node-free: the
// binding (door_binding.cc) is glue, and what to write is the owner's
// decision in TypeScript (lib/door/).
//
// The link is a file descriptor of this process: when the process ends,
// kill -9 included, the kernel closes it and the program leaves the
// interface. Nothing is pinned (bpffs is not needed, and `ip netns exec`
// gives a namespace's processes a /sys without it anyway).
//
// Every method returns false with *error set on failure (errno, the call,
// what it was doing); none aborts.
#pragma once

#include <cstdint>
#include <string>

#include "boundary/sys_error.h"
#include "door/door_abi.h"
#include "door/door_flows.h"

struct bpf_object;
struct bpf_link;

namespace syncache::door {

struct ProgramInfo {
  uint32_t id = 0;
  uint32_t xlatedInsns = 0;    // instructions after the verifier's rewrites
  uint32_t jitedBytes = 0;
  uint32_t verifiedInsns = 0;  // instructions the verifier walked to accept it
};

// One program run by BPF_PROG_TEST_RUN: the verdict (XDP_*) and the frame
// as the program left it.
struct TestRunResult {
  uint32_t verdict = 0;
  uint32_t length = 0;
  uint32_t durationNs = 0;  // the kernel's mean time a run
};

class DoorLoader {
 public:
  DoorLoader() = default;
  DoorLoader(const DoorLoader&) = delete;
  DoorLoader& operator=(const DoorLoader&) = delete;
  ~DoorLoader() { Close(); }

  // Opens the object file and loads its program (the verifier runs here)
  // and maps. A verifier refusal's last lines go into error->what.
  bool Load(const std::string& objectPath, SysError* error);

  // Attaches the program to `iface` in the network namespace at `netns`
  // (empty: this one) through a bpf_link. One interface at a time.
  bool Attach(const std::string& netns, const std::string& iface, SysError* error);
  // Takes it off again (idempotent). The maps stay.
  void Detach();
  bool attached() const { return link_ != nullptr; }
  uint32_t ifindex() const { return ifindex_; }

  bool SetConfig(const door_config& config, SysError* error);
  // slot 0 or 1; key 16 bytes, or null to mark the slot invalid.
  bool SetSecret(uint32_t slot, const uint8_t* key, SysError* error);
  bool SetPorts(const door_ports& ports, SysError* error);
  // Makes `addrs` exactly the `count` addresses given.
  bool SetAddresses(const door_addr* addrs, uint32_t count, SysError* error);
  // Makes `reply_macs` exactly the `count` MACs given.
  bool SetReplyMacs(const door_mac* macs, uint32_t count, SysError* error);
  // The handed-over flows (HandOver, FlowClosed, TakeBack: door_flows.h),
  // open from Load to Close.
  DoorFlows& flows() { return flows_; }
  bool SetSocket(uint32_t queue, int fd, SysError* error);
  // The XSKMAP the program redirects through (an AF_XDP ring puts its socket
  // there itself); -1 before Load.
  int xskMapFd() const { return xsks_; }
  // The flow maps' fds, for a DoorFlows of another thread; -1 before Load.
  int handedFd() const { return handed_; }
  int admittedFd() const { return admitted_; }
  int handedHintFd() const { return handedHint_; }
  bool ClearSocket(uint32_t queue, SysError* error);

  // Sums every CPU's counters into out[DOOR_COUNTER_COUNT].
  bool ReadCounters(uint64_t* out, SysError* error);
  bool Info(ProgramInfo* info, SysError* error);
  // Runs the program `repeat` times on `frame` (rx queue 0 of this
  // namespace's loopback); `out` (capacity bytes) receives the frame it
  // leaves.
  bool TestRun(const uint8_t* frame, uint32_t length, uint8_t* out, uint32_t capacity, uint32_t repeat,
               TestRunResult* result, SysError* error);

  void Close();

 private:
  bool MapFd(const char* name, int* fd, SysError* error);

  bpf_object* object_ = nullptr;
  bpf_link* link_ = nullptr;
  int programFd_ = -1;
  uint32_t ifindex_ = 0;
  DoorFlows flows_;
  int config_ = -1, secrets_ = -1, ports_ = -1, addrs_ = -1, replyMacs_ = -1, handed_ = -1, handedHint_ = -1, admitted_ = -1,
      counters_ = -1, xsks_ = -1;
};

}  // namespace syncache::door
