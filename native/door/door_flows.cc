#include "door/door_flows.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace syncache::door {

namespace {

// Fills *error; returns false (boundary/sys_error.h).
inline bool Fail(SysError* error, int err, const char* syscall, std::string what, std::string hint = "") {
  return ReportSysError(error, err, syscall, std::move(what), std::move(hint));
}

}  // namespace

bool DoorFlows::Open(int handedFd, int admittedFd, int hintFd, SysError* error) {
  Close();
  handed_ = fcntl(handedFd, F_DUPFD_CLOEXEC, 0);
  if (handed_ < 0) return Fail(error, errno, "fcntl", "cannot take the door's handed-over map (fd " + std::to_string(handedFd) + ")");
  admitted_ = fcntl(admittedFd, F_DUPFD_CLOEXEC, 0);
  if (admitted_ < 0) {
    const int err = errno;
    Close();
    return Fail(error, err, "fcntl", "cannot take the door's cookie admission map (fd " + std::to_string(admittedFd) + ")");
  }
  hintFd_ = fcntl(hintFd, F_DUPFD_CLOEXEC, 0);
  void* hint = hintFd_ < 0 ? MAP_FAILED : mmap(nullptr, sizeof(door_handed_hint), PROT_READ | PROT_WRITE, MAP_SHARED, hintFd_, 0);
  if (hint == MAP_FAILED) {
    const int err = errno;
    Close();
    return Fail(error, err, hintFd_ < 0 ? "fcntl" : "mmap", "cannot map the door's handed-over hint (fd " + std::to_string(hintFd) + ")");
  }
  hint_ = static_cast<door_handed_hint*>(hint);
  return true;
}

void DoorFlows::Close() {
  if (hint_ != nullptr) munmap(hint_, sizeof(door_handed_hint));
  hint_ = nullptr;
  if (handed_ >= 0) close(handed_);
  if (admitted_ >= 0) close(admitted_);
  if (hintFd_ >= 0) close(hintFd_);
  handed_ = admitted_ = hintFd_ = -1;
}

bool DoorFlows::HandOver(const door_flow& flow, uint32_t peerIsn, SysError* error) {
  door_handed value{};
  value.peer_isn = peerIsn;
  value.seq_end = peerIsn + 1;
  // The hint slot counts the entry before it exists (door_abi.h). A flow
  // already handed over was counted when it went in: the update leaves
  // the count as it was. The program may delete the entry between the two
  // tries (a SYN after its socket closed): then it goes in anew.
  uint32_t& count = hint_->count[door_handed_slot(&flow)];
  __atomic_fetch_add(&count, 1u, __ATOMIC_SEQ_CST);
  bool done = false;
  for (int attempt = 0; attempt < 3 && !done; attempt++) {
    if (bpf_map_update_elem(handed_, &flow, &value, BPF_NOEXIST) == 0) {
      done = true;
    } else if (errno != EEXIST) {
      const int err = errno;
      __atomic_fetch_sub(&count, 1u, __ATOMIC_SEQ_CST);
      return Fail(error, err, "bpf_map_update_elem", "cannot mark a flow handed over in the door",
                  err == E2BIG || err == ENOMEM ? "the door's handed-over map is full" : "");
    } else if (bpf_map_update_elem(handed_, &flow, &value, BPF_EXIST) == 0) {
      __atomic_fetch_sub(&count, 1u, __ATOMIC_SEQ_CST);
      done = true;
    } else if (errno != ENOENT) {
      const int err = errno;
      __atomic_fetch_sub(&count, 1u, __ATOMIC_SEQ_CST);
      return Fail(error, err, "bpf_map_update_elem", "cannot mark a flow handed over in the door");
    }
  }
  if (!done) {
    __atomic_fetch_sub(&count, 1u, __ATOMIC_SEQ_CST);
    return Fail(error, EAGAIN, "bpf_map_update_elem", "cannot mark a flow handed over in the door: it kept coming and going");
  }
  // Its segments pass as the socket's from now on; the admission would only
  // outlive the socket (a later connection on the 4-tuple).
  if (bpf_map_delete_elem(admitted_, &flow) != 0 && errno != ENOENT)
    return Fail(error, errno, "bpf_map_delete_elem", "cannot forget a handed-over flow's cookie admission");
  return true;
}

bool DoorFlows::FlowClosed(const door_flow& flow, bool* found, door_handed* seen, SysError* error) {
  door_handed& value = *seen;
  value = door_handed{};
  *found = bpf_map_lookup_elem(handed_, &flow, &value) == 0;
  if (!*found) return errno == ENOENT ? true : Fail(error, errno, "bpf_map_lookup_elem", "cannot read a handed-over flow in the door");
  value.closed = 1;
  if (bpf_map_update_elem(handed_, &flow, &value, BPF_EXIST) != 0) {
    *found = false;
    if (errno != ENOENT) return Fail(error, errno, "bpf_map_update_elem", "cannot mark a handed-over flow closed in the door");
  }
  return true;
}

bool DoorFlows::TakeBack(const door_flow& flow, bool* found, SysError* error) {
  *found = bpf_map_delete_elem(handed_, &flow) == 0;
  if (*found) __atomic_fetch_sub(&hint_->count[door_handed_slot(&flow)], 1u, __ATOMIC_SEQ_CST);
  if (!*found && errno != ENOENT)
    return Fail(error, errno, "bpf_map_delete_elem", "cannot unmark a handed-over flow in the door");
  return true;
}

}  // namespace syncache::door
