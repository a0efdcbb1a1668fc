#include "handoff/repair.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/netns.h"

namespace syncache {

namespace {

// TCP_MAXSEG accepts TCP_MIN_MSS..MAX_TCP_WINDOW (include/net/tcp.h).
constexpr uint32_t kMinMaxseg = 88;
constexpr uint32_t kMaxMaxseg = 32767;

const char kCapHint[] = "TCP_REPAIR and SO_MARK need CAP_NET_ADMIN in the socket's network namespace: run as root";

bool Fail(SysError* error, const char* syscall, const char* what, const char* hint = "") {
  error->err = errno;
  error->syscall = syscall;
  error->what = what;
  error->hint = (error->err == EPERM && hint[0] == '\0') ? kCapHint : hint;
  return false;
}

bool SetInt(int fd, int level, int name, int value, SysError* error, const char* what,
            const char* hint = "") {
  if (setsockopt(fd, level, name, &value, sizeof(value)) == 0) return true;
  return Fail(error, "setsockopt", what, hint);
}

socklen_t MakeAddress(const RepairParams& p, const in6_addr& addr, uint16_t port,
                      sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  if (p.family == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, &addr, 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_addr = addr;
  return sizeof(sockaddr_in6);
}

bool Build(int fd, const RepairParams& p, SysError* error) {
  if (!SetInt(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON, error, "entering TCP_REPAIR")) return false;
  if (p.family == 6 && !SetInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, error, "setting IPV6_V6ONLY")) return false;

  sockaddr_storage local, remote;
  socklen_t localLength = MakeAddress(p, p.localAddress, p.localPort, &local);
  socklen_t remoteLength = MakeAddress(p, p.remoteAddress, p.remotePort, &remote);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), localLength) != 0) {
    return Fail(error, "bind", "binding the local address",
                errno == EADDRNOTAVAIL ? "localAddress is not an address of the socket's network namespace (see netns)" : "");
  }

  if (!SetInt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, error, "selecting the send queue") ||
      !SetInt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, static_cast<int>(p.iss + 1), error, "setting our next sequence number") ||
      !SetInt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, error, "selecting the receive queue") ||
      !SetInt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, static_cast<int>(p.irs + 1), error, "setting the peer's next sequence number")) {
    // (The receive queue stays selected: only sendmsg, recvmsg and
    // TCP_QUEUE_SEQ in repair mode look at the selection, and leaving
    // repair ignores it; one syscall fewer per connection.)
    return false;
  }
  if (p.timestamps && !SetInt(fd, IPPROTO_TCP, TCP_TIMESTAMP, static_cast<int>(p.tsNow), error, "setting the timestamp clock")) {
    return false;
  }
  int maxseg = static_cast<int>(std::clamp(p.mss, kMinMaxseg, kMaxMaxseg));
  if (!SetInt(fd, IPPROTO_TCP, TCP_MAXSEG, maxseg, error, "setting TCP_MAXSEG")) return false;

  if (connect(fd, reinterpret_cast<sockaddr*>(&remote), remoteLength) != 0) {
    return Fail(error, "connect", "connecting in repair mode",
                errno == EADDRNOTAVAIL
                    ? "this 4-tuple is taken: by a socket made for it already (a duplicate handshake, e.g. a retransmitted "
                      "cookie ACK), or by a TIME_WAIT socket, which the kernel takes over only with timestamps"
                    : "");
  }

  tcp_repair_opt options[4];
  int count = 0;
  options[count++] = {TCPOPT_MAXSEG, std::max(p.mss, kMinMaxseg)};
  // Scaling is on only when both SYNs carried the option. Otherwise say 0|0:
  // connect() chose a receive shift of its own that the peer never heard of.
  const bool scaling = p.wscale >= 0 && p.ourWscale >= 0;
  options[count++] = {TCPOPT_WINDOW, scaling ? (static_cast<uint32_t>(p.wscale) | (static_cast<uint32_t>(p.ourWscale) << 16)) : 0u};
  if (p.sackPermitted) options[count++] = {TCPOPT_SACK_PERMITTED, 0};
  if (p.timestamps) options[count++] = {TCPOPT_TIMESTAMP, 0};
  if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, options, sizeof(options[0]) * count) != 0) {
    return Fail(error, "setsockopt", "setting TCP_REPAIR_OPTIONS");
  }

  const uint32_t rcvNext = p.irs + 1;
  const uint32_t sndWindow = scaling ? (p.window << p.wscale) : p.window;
  tcp_repair_window window{};
  window.snd_wl1 = rcvNext;
  window.snd_wnd = sndWindow;
  window.max_window = sndWindow;
  window.rcv_wnd = p.ourWindow;
  window.rcv_wup = rcvNext;
  if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &window, sizeof(window)) != 0) {
    return Fail(error, "setsockopt", "setting TCP_REPAIR_WINDOW");
  }

  if (p.stayInRepair) return true;
  return FinishRepair(fd, nullptr, 0, p.mark, p.windowProbe, error);
}

}  // namespace

bool FinishRepair(int fd, const uint8_t* payload, size_t payloadLength, uint32_t mark,
                  bool windowProbe, SysError* error) {
  if (payloadLength > 0) {
    // The receive queue is selected: Build and ReopenRepair leave it so.
    size_t done = 0;
    while (done < payloadLength) {
      ssize_t n = send(fd, payload + done, payloadLength - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) {
        if (n == 0) errno = ENOBUFS;
        return Fail(error, "send", "injecting the payload into the receive queue",
                    errno == ENOMEM || errno == ENOBUFS || errno == EAGAIN ? "the payload does not fit the socket's receive buffer" : "");
      }
      done += static_cast<size_t>(n);
    }
  }
  if (mark != 0 && !SetInt(fd, SOL_SOCKET, SO_MARK, static_cast<int>(mark), error, "setting SO_MARK")) return false;
  if (!SetInt(fd, IPPROTO_TCP, TCP_REPAIR, windowProbe ? TCP_REPAIR_OFF : TCP_REPAIR_OFF_NO_WP, error,
              "leaving TCP_REPAIR")) {
    return false;
  }
  // Leaving repair took the forced reuse away (SK_NO_REUSE): a listener with
  // SO_REUSEADDR - protect()'s calm listener, a restarted service - could
  // not bind beside this socket, nor beside its TIME_WAIT. It is live now,
  // so a failure here (none is known for a TCP socket) is not the handoff's.
  const int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  return true;
}

bool ReopenRepair(int fd, uint32_t* rcvNxt, SysError* error) {
  if (!SetInt(fd, SOL_SOCKET, SO_MARK, 0, error, "clearing SO_MARK") ||
      !SetInt(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON, error, "entering TCP_REPAIR again") ||
      !SetInt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, error, "selecting the receive queue")) {
    return false;
  }
  int seq = 0;
  socklen_t length = sizeof(seq);
  if (getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &length) != 0) {
    return Fail(error, "getsockopt", "reading the receive queue's next sequence number");
  }
  *rcvNxt = static_cast<uint32_t>(seq);
  return true;
}

int RepairSocket(const RepairParams& p, SysError* error) {
  NetnsScope scope;
  const char* syscall = "";
  int err = scope.Enter(p.netns, &syscall);
  if (err != 0) {
    error->err = err;
    error->syscall = syscall;
    error->what = "entering network namespace " + p.netns;
    error->hint = err == EPERM ? "setns needs CAP_SYS_ADMIN: run as root"
                  : err == ENOENT ? "no such namespace (see 'ip netns list')" : "";
    return -1;
  }
  int fd = socket(p.family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    Fail(error, "socket", "creating the TCP socket");
  } else if (!Build(fd, p, error)) {
    close(fd);  // still in repair mode: nothing goes on the wire
    fd = -1;
  }
  err = scope.Leave();
  if (err != 0) {
    if (fd >= 0) close(fd);
    error->err = err;
    error->syscall = "setns";
    error->what = "returning from network namespace " + p.netns;
    error->hint = "this thread is left in the other namespace";
    return -1;
  }
  return fd;
}

int ReadTcpSocketInfo(int fd, TcpSocketInfo* info) {
  int maxseg = 0;
  socklen_t length = sizeof(maxseg);
  if (getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &maxseg, &length) != 0) return errno;
  tcp_info ti{};
  length = sizeof(ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &length) != 0) return errno;
  info->maxseg = maxseg;
  info->state = ti.tcpi_state;
  info->options = ti.tcpi_options;
  info->sndWscale = ti.tcpi_snd_wscale;
  info->rcvWscale = ti.tcpi_rcv_wscale;
  info->sndMss = ti.tcpi_snd_mss;
  info->rcvMss = ti.tcpi_rcv_mss;
  info->advmss = ti.tcpi_advmss;
  info->totalRetrans = ti.tcpi_total_retrans;
  int on = 0;
  length = sizeof(on);
  if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &length) != 0) return errno;
  info->noDelay = on != 0;
  length = sizeof(on);
  if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &length) != 0) return errno;
  info->keepAlive = on != 0;
  return 0;
}

}  // namespace syncache
