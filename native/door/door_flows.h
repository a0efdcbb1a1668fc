// The door's handed-over flows, written through its two flow maps alone:
// `handed` (a kernel socket owns the flow: its segments pass to the kernel)
// and `admitted` (a cookie ACK passed), and `handed_hint`, the counts by
// slot the program reads before it looks in `handed` (door_abi.h), mapped
// here and kept atomically: up before an insert, down after a delete. The loader (door_loader.h) writes
// them through one of these; a shard on a worker thread gets its own over
// the same maps (the fds the owner's door gives, duplicated here), so a
// handoff opens its flow in the door on the thread that made the socket,
// right as it leaves repair, while the door itself stays its owner's.
//
// Node-free; every method returns false with *error set on failure.
#pragma once

#include <cstdint>

#include "boundary/sys_error.h"
#include "door/door_abi.h"

namespace syncache::door {

class DoorFlows {
 public:
  DoorFlows() = default;
  DoorFlows(const DoorFlows&) = delete;
  DoorFlows& operator=(const DoorFlows&) = delete;
  ~DoorFlows() { Close(); }

  // Takes duplicates of the three maps' fds (the caller keeps its own) and
  // maps the hint.
  bool Open(int handedFd, int admittedFd, int hintFd, SysError* error);
  void Close();
  bool open() const { return handed_ >= 0; }
  int handedFd() const { return handed_; }
  int admittedFd() const { return admitted_; }
  int hintFd() const { return hintFd_; }

  // Marks the flow handed over, and forgets that its cookie ACK passed.
  bool HandOver(const door_flow& flow, uint32_t peerIsn, SysError* error);
  // The flow's socket closed: its segments still pass (to the TIME_WAIT
  // socket), but a SYN goes to userspace; *found false (no error) if not
  // handed over. *seen: its entry, with what the peer has sent.
  bool FlowClosed(const door_flow& flow, bool* found, door_handed* seen, SysError* error);
  // *found false (and no error) when the flow was not handed over.
  bool TakeBack(const door_flow& flow, bool* found, SysError* error);

 private:
  int handed_ = -1, admitted_ = -1, hintFd_ = -1;
  door_handed_hint* hint_ = nullptr;
};

}  // namespace syncache::door
