#include "route/route_mirror.h"

#include <linux/neighbour.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/netns.h"

namespace syncache::route {

namespace {

constexpr uint32_t kBufferBytes = 64 * 1024;
constexpr uint16_t kUsableStates =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

bool Fail(SysError* error, int err, const char* syscall, std::string what) {
  error->err = err;
  error->syscall = syscall;
  error->what = std::move(what);
  return false;
}

uint8_t FamilyOf(uint8_t af) { return af == AF_INET ? 4 : af == AF_INET6 ? 6 : 0; }

bool ReadAddress(const rtattr* a, uint8_t family, Address* out) {
  const uint32_t want = family == 4 ? 4 : 16;
  if (RTA_PAYLOAD(a) != want) return false;
  *out = Address{};
  out->family = family;
  std::memcpy(out->bytes, RTA_DATA(a), want);
  return true;
}

bool ReadU32(const rtattr* a, uint32_t* out) {
  if (RTA_PAYLOAD(a) < sizeof(uint32_t)) return false;
  std::memcpy(out, RTA_DATA(a), sizeof(uint32_t));
  return true;
}

// One RTM_NEWROUTE of the main table into *route; false if it is not one we
// mirror (another table, a cloned/cache entry, local/broadcast/multicast).
bool ParseRoute(const nlmsghdr* h, Route* route) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return false;
  const auto* rtm = static_cast<const rtmsg*>(NLMSG_DATA(h));
  const uint8_t family = FamilyOf(rtm->rtm_family);
  if (family == 0 || (rtm->rtm_flags & RTM_F_CLONED) != 0) return false;
  if (rtm->rtm_dst_len > (family == 4 ? 32 : 128)) return false;
  switch (rtm->rtm_type) {
    case RTN_UNICAST: route->reject = false; break;
    case RTN_BLACKHOLE: case RTN_UNREACHABLE: case RTN_PROHIBIT: case RTN_THROW:
      route->reject = true;
      break;
    default: return false;
  }
  uint32_t table = rtm->rtm_table;
  route->dst = Address{};
  route->dst.family = family;
  route->prefixLength = rtm->rtm_dst_len;
  int length = static_cast<int>(RTM_PAYLOAD(h));
  for (const rtattr* a = RTM_RTA(rtm); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
    switch (a->rta_type) {
      case RTA_TABLE: ReadU32(a, &table); break;
      case RTA_DST: if (!ReadAddress(a, family, &route->dst)) return false; break;
      case RTA_GATEWAY: route->hasGateway = ReadAddress(a, family, &route->gateway); break;
      case RTA_OIF: {
        uint32_t oif = 0;
        if (ReadU32(a, &oif)) route->oif = static_cast<int>(oif);
        break;
      }
      case RTA_PRIORITY: ReadU32(a, &route->priority); break;
      case RTA_MULTIPATH: {
        // The first hop only (the kernel hashes the flow over all of them).
        if (RTA_PAYLOAD(a) < sizeof(rtnexthop)) break;
        const auto* nh = static_cast<const rtnexthop*>(RTA_DATA(a));
        if (nh->rtnh_len < sizeof(rtnexthop) || nh->rtnh_len > RTA_PAYLOAD(a)) break;
        route->oif = nh->rtnh_ifindex;
        int nhLength = static_cast<int>(nh->rtnh_len - RTNH_LENGTH(0));
        for (const rtattr* n = RTNH_DATA(nh); RTA_OK(n, nhLength); n = RTA_NEXT(n, nhLength)) {
          if (n->rta_type == RTA_GATEWAY) route->hasGateway = ReadAddress(n, family, &route->gateway);
        }
        break;
      }
      default: break;
    }
  }
  return table == RT_TABLE_MAIN;
}

}  // namespace

bool RouteMirror::Open(const std::string& netns, int ifindex, Counters* counters, SysError* error) {
  Close();
  counters_ = counters;
  table_.set_ifindex(ifindex);
  buffer_.resize(kBufferBytes);
  NetnsScope scope;
  const char* syscall = "";
  if (int err = scope.Enter(netns, &syscall)) {
    return Fail(error, err, syscall, "cannot enter network namespace " + netns + " for its routes");
  }
  eventFd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  dumpFd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  const int socketErr = errno;
  // IPPROTO_RAW: the packet carries its own IP header (IPv6 included). Not
  // fatal if refused (no CAP_NET_RAW here): unresolved replies then drop.
  rawV4Fd_ = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
  rawV6Fd_ = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
  if (int err = scope.Leave()) {
    Close();
    return Fail(error, err, "setns", "cannot return to the original network namespace");
  }
  if (eventFd_ < 0 || dumpFd_ < 0) {
    Close();
    return Fail(error, socketErr, "socket", "cannot open a NETLINK_ROUTE socket to read routes and neighbours");
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
  if (bind(eventFd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    const int err = errno;
    Close();
    return Fail(error, err, "bind", "cannot subscribe to route and neighbour changes");
  }
  const int rcvbuf = 1 << 20;
  setsockopt(eventFd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  timeval timeout{1, 0};
  setsockopt(dumpFd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (!Reload()) {
    const int err = errno;
    Close();
    return Fail(error, err, "recv", "cannot read the routing and neighbour tables");
  }
  return true;
}

void RouteMirror::Close() {
  if (eventFd_ >= 0) close(eventFd_);
  if (dumpFd_ >= 0) close(dumpFd_);
  if (rawV4Fd_ >= 0) close(rawV4Fd_);
  if (rawV6Fd_ >= 0) close(rawV6Fd_);
  eventFd_ = dumpFd_ = rawV4Fd_ = rawV6Fd_ = -1;
}

bool RouteMirror::KernelSendAllowed(double nowMs) {
  if (rawV4Fd_ < 0 && rawV6Fd_ < 0) return false;
  const double refill = (nowMs - kernelTokensAtMs_) * (kKernelSendsPerSecond / 1000.0);
  kernelTokensAtMs_ = nowMs;
  if (refill > 0) kernelTokens_ = kernelTokens_ + refill > kKernelSendBurst ? kKernelSendBurst : kernelTokens_ + refill;
  return kernelTokens_ >= 1;
}

bool RouteMirror::SendViaKernel(uint8_t family, const uint32_t addr[4], const uint8_t* packet, uint32_t length, double nowMs) {
  if (!KernelSendAllowed(nowMs)) return false;
  kernelTokens_ -= 1;
  ssize_t sent = -1;
  if (family == 4 && rawV4Fd_ >= 0) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    std::memcpy(&to.sin_addr, addr, 4);
    sent = sendto(rawV4Fd_, packet, length, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof to);
  } else if (family == 6 && rawV6Fd_ >= 0) {
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    std::memcpy(&to.sin6_addr, addr, 16);
    sent = sendto(rawV6Fd_, packet, length, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  return sent == static_cast<ssize_t>(length);
}

bool RouteMirror::Dump(uint16_t type, uint8_t family, std::vector<Route>* routes) {
  struct {
    nlmsghdr h;
    union {
      rtmsg rtm;
      ndmsg ndm;
    };
  } request{};
  request.h.nlmsg_type = type;
  request.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.h.nlmsg_seq = ++seq_;
  if (type == RTM_GETROUTE) {
    request.h.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    request.rtm.rtm_family = family;
  } else {
    request.h.nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
    request.ndm.ndm_family = family;
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(dumpFd_, &request, request.h.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof kernel) < 0)
    return false;
  for (;;) {
    const ssize_t n = recv(dumpFd_, buffer_.data(), buffer_.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    int length = static_cast<int>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buffer_.data()); NLMSG_OK(h, length);
         h = NLMSG_NEXT(h, length)) {
      if (h->nlmsg_seq != request.h.nlmsg_seq) continue;  // an older dump's tail
      if (h->nlmsg_type == NLMSG_DONE) {
        if (h->nlmsg_flags & NLM_F_DUMP_INTR) {
          errno = EAGAIN;  // the table changed under the dump: take it again
          return false;
        }
        return true;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        errno = h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)) && e->error != 0 ? -e->error : EPROTO;
        return false;
      }
      Apply(h, h->nlmsg_len, routes);
    }
  }
}

bool RouteMirror::Reload() {
  counters_->Bump(kCounter_nextHopReloads);
  for (int attempt = 0; attempt < 3; attempt++) {
    std::vector<Route> routes;
    table_.ClearNeighbours();
    if (Dump(RTM_GETROUTE, AF_INET, &routes) && Dump(RTM_GETROUTE, AF_INET6, &routes) &&
        Dump(RTM_GETNEIGH, AF_UNSPEC, nullptr)) {
      if (!table_.SetRoutes(std::move(routes))) counters_->Bump(kCounter_nextHopTableFull);
      reloadWanted_ = false;
      return true;
    }
    if (errno != EAGAIN) break;
  }
  reloadWanted_ = true;  // try again on a later poll; the old routes stay
  return false;
}

void RouteMirror::Apply(const void* message, uint32_t, std::vector<Route>* routes) {
  const auto* h = static_cast<const nlmsghdr*>(message);
  switch (h->nlmsg_type) {
    case RTM_NEWROUTE:
      if (routes != nullptr) {
        Route route;
        if (ParseRoute(h, &route)) routes->push_back(route);
      } else {
        reloadWanted_ = true;
      }
      return;
    case RTM_DELROUTE:
      reloadWanted_ = true;
      return;
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: {
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) return;
      const auto* ndm = static_cast<const ndmsg*>(NLMSG_DATA(h));
      const uint8_t family = FamilyOf(ndm->ndm_family);
      if (family == 0 || ndm->ndm_ifindex != table_.ifindex() || (ndm->ndm_flags & NTF_PROXY)) return;
      Address addr;
      bool haveAddr = false;
      uint8_t mac[6] = {};
      bool haveMac = false;
      int length = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
      for (const rtattr* a = reinterpret_cast<const rtattr*>(
               reinterpret_cast<const uint8_t*>(ndm) + NLMSG_ALIGN(sizeof(ndmsg)));
           RTA_OK(a, length); a = RTA_NEXT(a, length)) {
        if (a->rta_type == NDA_DST) haveAddr = ReadAddress(a, family, &addr);
        if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
          std::memcpy(mac, RTA_DATA(a), 6);
          haveMac = true;
        }
      }
      if (!haveAddr) return;
      if (h->nlmsg_type == RTM_DELNEIGH) {
        table_.RemoveNeighbour(addr);
        return;
      }
      const bool usable = haveMac && (ndm->ndm_state & kUsableStates) != 0;
      if (!table_.UpsertNeighbour(addr, usable, (ndm->ndm_state & NUD_STALE) != 0, mac))
        counters_->Bump(kCounter_nextHopTableFull);
      return;
    }
    default:
      return;  // NLMSG_ERROR for a probe (the reply stays unresolved), others
  }
}

void RouteMirror::Poll(double nowMs) {
  if (eventFd_ < 0 || nowMs - lastPollMs_ < kPollIntervalMs) return;
  lastPollMs_ = nowMs;
  for (;;) {
    const ssize_t n = recv(eventFd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {  // changes were lost: only a reload is sure
        reloadWanted_ = true;
        continue;
      }
      break;  // EAGAIN: all taken
    }
    int length = static_cast<int>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buffer_.data()); NLMSG_OK(h, length);
         h = NLMSG_NEXT(h, length)) {
      Apply(h, h->nlmsg_len, nullptr);
    }
  }
  if (nextReloadMs_ == 0) nextReloadMs_ = nowMs + kReloadMs;  // Open() just loaded it
  // Route changes come in bursts (an address added, a link up, router
  // advertisements from anyone on the segment): one reload per burst.
  if ((reloadWanted_ && nowMs - lastReloadMs_ >= kMinReloadIntervalMs) || nowMs >= nextReloadMs_) {
    nextReloadMs_ = nowMs + kReloadMs;
    lastReloadMs_ = nowMs;
    Reload();
  }
}

void RouteMirror::Probe(const Address& addr) {
  struct {
    nlmsghdr h;
    ndmsg ndm;
    rtattr dstAttr;
    uint8_t dst[16];
  } request{};
  const uint32_t addrBytes = addr.family == 4 ? 4 : 16;
  request.h.nlmsg_type = RTM_NEWNEIGH;
  // NTF_USE: neigh_event_send() on the entry (created if need be), which
  // starts ARP/ND as a packet waiting for it would; no state is written.
  request.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE;
  request.h.nlmsg_seq = ++seq_;
  request.ndm.ndm_family = addr.family == 4 ? AF_INET : AF_INET6;
  request.ndm.ndm_ifindex = table_.ifindex();
  request.ndm.ndm_state = NUD_NONE;
  request.ndm.ndm_flags = NTF_USE;
  request.dstAttr.rta_type = NDA_DST;
  request.dstAttr.rta_len = RTA_LENGTH(addrBytes);
  std::memcpy(request.dst, addr.bytes, addrBytes);
  request.h.nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg)) + RTA_SPACE(addrBytes);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(eventFd_, &request, request.h.nlmsg_len, MSG_DONTWAIT,
             reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) >= 0)
    counters_->Bump(kCounter_nextHopProbes);
}

void RouteMirror::GatewayMacs(double nowMs, std::vector<std::array<uint8_t, 6>>* macs) {
  Poll(nowMs);
  std::vector<Address> probes;
  table_.GatewayMacs(nowMs, macs, &probes);
  for (const Address& a : probes) Probe(a);
}

NextHopVerdict RouteMirror::Resolve(uint8_t family, const uint32_t addr[4], double nowMs, uint8_t mac[6]) {
  Address peer;
  peer.family = family;
  std::memcpy(peer.bytes, addr, family == 4 ? 4 : 16);
  Address probe;
  bool wantProbe = false;
  NextHopVerdict verdict = table_.Resolve(peer, nowMs, mac, &probe, &wantProbe);
  // A client's ARP request makes the kernel's neighbour entry for it a
  // moment before its SYN arrives: that notification may still be unread
  // (Poll() reads at most once a millisecond). Read what is pending and look
  // again before giving up on the reply; at most every kMissPollIntervalMs,
  // so that a flood of spoofed on-link sources costs no syscall per SYN.
  if (verdict == NextHopVerdict::kUnresolved && nowMs - lastMissPollMs_ >= kMissPollIntervalMs) {
    lastMissPollMs_ = nowMs;
    lastPollMs_ = -1e300;
    Poll(nowMs);
    const bool probeDue = wantProbe;  // the first look may have used up this neighbour's probe slot
    const Address first = probe;
    wantProbe = false;
    verdict = table_.Resolve(peer, nowMs, mac, &probe, &wantProbe);
    if (verdict == NextHopVerdict::kUnresolved && probeDue && !wantProbe) {
      wantProbe = true;
      probe = first;
    }
  }
  if (wantProbe) Probe(probe);
  return verdict;
}

}  // namespace syncache::route
