#include "handoff/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/netns.h"

namespace syncache {

namespace {

bool Make(int fd, const ListenerParams& p, SysError* error) {
  const int one = 1;
  if (p.family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
    return ReportSysError(error, errno, "setsockopt", "setting IPV6_V6ONLY on the calm listener");
  }
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    return ReportSysError(error, errno, "setsockopt", "setting SO_REUSEADDR on the calm listener");
  }
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &p.mark, sizeof(p.mark)) != 0) {
    return ReportSysError(error, errno, "setsockopt", "setting SO_MARK on the calm listener",
                          PermissionHint(errno, "CAP_NET_ADMIN"));
  }
  sockaddr_storage address{};
  socklen_t length;
  if (p.family == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&address);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(p.port);
    std::memcpy(&sin->sin_addr, &p.address, 4);
    length = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&address);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(p.port);
    sin6->sin6_addr = p.address;
    length = sizeof(sockaddr_in6);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    const int err = errno;
    return ReportSysError(error, err, "bind", "binding the calm listener",
                          err == EADDRINUSE ? "something else listens on this address and port: stop it, or pass calm: 0 (serve --calm 0)"
                          : err == EADDRNOTAVAIL ? "the address is not one of the namespace's"
                          : err == EACCES || err == EPERM
                              ? "a port below net.ipv4.ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE: grant it, run as root, or pass calm: 0 (serve --calm 0)"
                              : "");
  }
  if (listen(fd, p.backlog) != 0) return ReportSysError(error, errno, "listen", "listening on the calm listener");
  return true;
}

}  // namespace

int MarkedListener(const ListenerParams& p, SysError* error) {
  NetnsScope scope;
  const char* syscall = "";
  int err = scope.Enter(p.netns, &syscall);
  if (err != 0) {
    ReportSysError(error, err, syscall, "entering network namespace " + p.netns,
                   err == EPERM ? "setns needs CAP_SYS_ADMIN: run as root" : err == ENOENT ? "no such namespace (see 'ip netns list')" : "");
    return -1;
  }
  int fd = socket(p.family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    ReportSysError(error, errno, "socket", "creating the calm listener");
  } else if (!Make(fd, p, error)) {
    close(fd);
    fd = -1;
  }
  err = scope.Leave();
  if (err != 0) {
    if (fd >= 0) close(fd);
    ReportSysError(error, err, "setns", "returning from network namespace " + p.netns, "this thread is left in the other namespace");
    return -1;
  }
  return fd;
}

}  // namespace syncache
