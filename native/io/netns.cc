#include "io/netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>

namespace syncache {

int NetnsScope::Enter(const std::string& path, const char** syscall) {
  if (path.empty()) return 0;
  int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig < 0) {
    *syscall = "open";
    return errno;
  }
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(orig);
    *syscall = "open";
    return err;
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(orig);
    *syscall = "setns";
    return err;
  }
  close(target);
  origFd_ = orig;
  return 0;
}

int NetnsScope::Leave() {
  if (origFd_ < 0) return 0;
  int err = setns(origFd_, CLONE_NEWNET) == 0 ? 0 : errno;
  close(origFd_);
  origFd_ = -1;
  return err;
}

bool NetnsScope::EnterAndFind(const std::string& netns, const std::string& iface, const std::string& where,
                              int* ifindex, SysError* error) {
  const char* syscall = "";
  int err = Enter(netns, &syscall);
  if (err != 0) {
    std::string hint = PermissionHint(err, "CAP_SYS_ADMIN");
    if (err == ENOENT) hint = "no namespace is mounted at that path (see `ip netns list`)";
    return ReportSysError(error, err, syscall, "cannot enter network namespace " + netns, hint);
  }
  *ifindex = static_cast<int>(if_nametoindex(iface.c_str()));
  if (*ifindex == 0) {
    err = errno == ENXIO ? ENODEV : errno;
    return ReportSysError(error, err, "if_nametoindex", "no " + where,
                          "check the name with `ip link`" + (netns.empty() ? std::string() : " inside that namespace"));
  }
  return true;
}

}  // namespace syncache
