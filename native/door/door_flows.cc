#include "door/door_flows.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace syncache::door {

namespace {

bool Fail(SysError* error, int err, const char* syscall, std::string what, std::string hint = "") {
  error->err = err;
  error->syscall = syscall;
  error->what = std::move(what);
  error->hint = std::move(hint);
  return false;
}

}  // namespace

bool DoorFlows::Open(int handedFd, int admittedFd, SysError* error) {
  Close();
  handed_ = fcntl(handedFd, F_DUPFD_CLOEXEC, 0);
  if (handed_ < 0) return Fail(error, errno, "fcntl", "cannot take the door's handed-over map (fd " + std::to_string(handedFd) + ")");
  admitted_ = fcntl(admittedFd, F_DUPFD_CLOEXEC, 0);
  if (admitted_ < 0) {
    const int err = errno;
    Close();
    return Fail(error, err, "fcntl", "cannot take the door's cookie admission map (fd " + std::to_string(admittedFd) + ")");
  }
  return true;
}

void DoorFlows::Close() {
  if (handed_ >= 0) close(handed_);
  if (admitted_ >= 0) close(admitted_);
  handed_ = admitted_ = -1;
}

bool DoorFlows::HandOver(const door_flow& flow, uint32_t peerIsn, SysError* error) {
  door_handed value{};
  value.peer_isn = peerIsn;
  value.seq_end = peerIsn + 1;
  if (bpf_map_update_elem(handed_, &flow, &value, BPF_ANY) != 0)
    return Fail(error, errno, "bpf_map_update_elem", "cannot mark a flow handed over in the door",
                errno == E2BIG || errno == ENOMEM ? "the door's handed-over map is full" : "");
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
  if (!*found && errno != ENOENT)
    return Fail(error, errno, "bpf_map_delete_elem", "cannot unmark a handed-over flow in the door");
  return true;
}

}  // namespace syncache::door
