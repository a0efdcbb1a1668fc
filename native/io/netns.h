// Entering a network namespace for the duration of a scope, on the calling
// thread only: open /proc/thread-self/ns/net (where we are), setns() into the
// target, and setns() back when the scope ends, on every path. Sockets made
// inside stay bound to the target namespace after we return.
#pragma once

#include <string>

#include "boundary/sys_error.h"

namespace syncache {

class NetnsScope {
 public:
  NetnsScope() = default;
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;
  ~NetnsScope() { Leave(); }

  // Enters the namespace at `path` (empty: stays where it is). Returns 0 or
  // an errno; `*syscall` names the call that failed.
  int Enter(const std::string& path, const char** syscall);
  // Enters `netns` (as Enter) and finds `iface` there: its index in
  // *ifindex, or false with *error filled (`where` names the interface in
  // messages; ENODEV for a name that is not there).
  bool EnterAndFind(const std::string& netns, const std::string& iface, const std::string& where, int* ifindex,
                    SysError* error);
  // Returns to the original namespace. Returns 0 or an errno (the thread is
  // then still in the target namespace: the caller must report it).
  int Leave();

 private:
  int origFd_ = -1;
};

}  // namespace syncache
