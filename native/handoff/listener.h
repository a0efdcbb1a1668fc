// protect()'s calm listener behind the door: an ordinary TCP listener on one
// of its addresses and ports whose SO_MARK is the handoffs' mark, so that the
// door tells the connections it accepts (their mark is the listener's) from
// other sockets on the same ports. The door passes it SYNs only while they
// arrive below the calm rate (door.bpf.c).
//
//   socket(SOCK_NONBLOCK)  [v6: IPV6_V6ONLY]
//   SO_REUSEADDR           (binds beside sockets handed over on the port and
//                           beside a restarted service's TIME_WAITs)
//   SO_MARK = mark         (CAP_NET_ADMIN)
//   bind address:port, listen(backlog)
//
// Optionally inside another network namespace (setns on this thread, always
// back). No Node-API here.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "boundary/sys_error.h"

namespace syncache {

struct ListenerParams {
  int family = 4;  // 4 or 6
  in6_addr address{};
  uint16_t port = 0;
  uint32_t mark = 0;
  int backlog = 511;
  std::string netns;  // a path under /run/netns, or empty
};

// The listening socket's fd, or -1 with *error filled.
int MarkedListener(const ListenerParams& p, SysError* error);

}  // namespace syncache
