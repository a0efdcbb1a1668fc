// The kernel's routes and the ring interface's neighbours, mirrored into a
// NextHopTable over rtnetlink, in the ring's network namespace.
//
// Open() loads both with dumps and subscribes to their changes
// (RTNLGRP_NEIGH, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE). Poll(), called
// before a batch of replies is built, drains the change messages without
// blocking (at most once a millisecond): a neighbour message updates its
// entry; a route message, or lost messages (ENOBUFS), reloads the mirror
// with fresh dumps (at most once per kMinReloadIntervalMs, so a burst of
// changes costs one reload); and the whole mirror is reloaded every
// kReloadMs anyway, so nothing in it is older than that. A reload is the
// only blocking work here: a few dump round trips, never one per reply.
//
// A reply whose next hop has no link-layer address goes out through the
// kernel's own IP output instead (SendViaKernel: a raw socket in the ring's
// namespace, counted replyViaKernel), which resolves the neighbour (ARP or
// neighbour solicitation) and holds the reply until it answers, as it does
// for its own SYN-ACKs: a client whose stack already knows our MAC, so that
// no ARP request of its taught us its own, is answered at once rather than
// after its SYN retransmit a second later. At most kKernelSendsPerSecond
// (bursts of kKernelSendBurst): past that, as when the raw sockets could not
// be opened, the reply is dropped (counted replyUnresolved), so a flood of
// spoofed on-link sources costs a syscall per SYN only up to that rate. The
// kernel is also asked to resolve the neighbour directly: RTM_NEWNEIGH with
// NTF_USE (neigh_event_send), once a second per neighbour; the peer's
// retransmitted SYN then finds it. A STALE next hop is used and asked to be
// confirmed the same way. Asking needs CAP_NET_ADMIN in the namespace;
// without it the kernel resolves neighbours only for its own traffic.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "boundary/counters.h"
#include "boundary/sys_error.h"
#include "route/next_hop_table.h"

namespace syncache::route {

class RouteMirror {
 public:
  RouteMirror() = default;
  RouteMirror(const RouteMirror&) = delete;
  RouteMirror& operator=(const RouteMirror&) = delete;
  ~RouteMirror() { Close(); }

  // Opens the netlink sockets in `netns` (empty: the current namespace) for
  // interface `ifindex` and loads the mirror.
  bool Open(const std::string& netns, int ifindex, Counters* counters, SysError* error);
  void Close();
  bool IsOpen() const { return eventFd_ >= 0; }

  // Applies the kernel's changes; never blocks except to reload (a route
  // changed, messages were lost, or kReloadMs passed).
  void Poll(double nowMs);
  // The destination MAC for a reply to `addr` (as a batch row holds it).
  NextHopVerdict Resolve(uint8_t family, const uint32_t addr[4], double nowMs, uint8_t mac[6]);

  // Applies the kernel's changes (Poll), then the resolved link-layer
  // addresses of the gateways of the routes out of the ring's interface,
  // each once (NextHopTable::GatewayMacs); an unresolved one is asked of
  // the kernel, as for a reply.
  void GatewayMacs(double nowMs, std::vector<std::array<uint8_t, 6>>* macs);

  // Sends a built IP packet (no Ethernet header) through the kernel's IP
  // output in the ring's namespace; false if over the rate or it failed.
  bool SendViaKernel(uint8_t family, const uint32_t addr[4], const uint8_t* packet, uint32_t length, double nowMs);
  // Whether SendViaKernel would try now (sockets open, under the rate).
  bool KernelSendAllowed(double nowMs);

  const NextHopTable& table() const { return table_; }

  static constexpr double kReloadMs = 60000;
  static constexpr double kPollIntervalMs = 1;
  static constexpr double kMissPollIntervalMs = 0.05;
  static constexpr double kMinReloadIntervalMs = 100;
  static constexpr double kKernelSendsPerSecond = 2000;
  static constexpr double kKernelSendBurst = 64;

 private:
  bool Reload();
  bool Dump(uint16_t type, uint8_t family, std::vector<Route>* routes);
  void Apply(const void* message, uint32_t length, std::vector<Route>* routes);
  void Probe(const Address& addr);

  int eventFd_ = -1;  // subscribed to changes; also sends probes
  int dumpFd_ = -1;   // dumps only, blocking with a timeout
  int rawV4Fd_ = -1;  // IPPROTO_RAW: replies through the kernel's output
  int rawV6Fd_ = -1;
  double kernelTokens_ = kKernelSendBurst;
  double kernelTokensAtMs_ = 0;
  uint32_t seq_ = 1;
  Counters* counters_ = nullptr;
  NextHopTable table_;
  bool reloadWanted_ = false;
  double lastPollMs_ = -1e300;
  double lastMissPollMs_ = -1e300;
  double nextReloadMs_ = 0;
  double lastReloadMs_ = -1e300;
  std::vector<uint8_t> buffer_;
};

}  // namespace syncache::route
