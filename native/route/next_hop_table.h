// Where a reply goes: the next hop the host's routing and neighbour tables
// give for the peer's address, as the kernel would pick it (the main table's
// longest prefix, then its lowest metric; a gateway's link-layer address when
// the route has one, else the peer's own), never the source MAC the segment
// carried: a host on the segment may spoof any source address, and answering
// its MAC would hand it the SYN-ACK (and the cookie) meant for the real owner.
//
// This is a mirror, kept by native/route/rtnetlink.cc from the kernel's
// tables: routes of the main table (all interfaces, so that a more specific
// route elsewhere wins as it does in the kernel) and the neighbours of the
// ring's interface. Both are bounded (kMaxRoutes, kMaxNeighbours; what does
// not fit is counted and treated as unknown). A lookup is a route scan (the
// table is short, most specific first) plus one open-addressing probe with a
// per-table random key, so the neighbours an attacker can make the kernel
// create (spoofed on-link sources) cannot line up on one chain.
//
// GatewayMacs() lists the gateways' resolved addresses: the XDP door
// (native/door/door.bpf.c) answers a SYN in the driver, back to its source
// MAC, only when that MAC is one of them.
//
// Not mirrored: policy routing (ip rule), nexthop objects, multipath beyond
// its first hop, VRFs. A route through another interface, a reject route or
// none: the reply is not sent from this ring (the kernel would send it
// elsewhere or not at all).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace syncache::route {

constexpr uint32_t kMaxRoutes = 1024;
constexpr uint32_t kMaxNeighbours = 4096;
constexpr uint32_t kNeighbourSlots = kMaxNeighbours * 2;  // load <= 1/2

// An address as the batch holds it: IPv4 in the first 4 bytes, rest 0.
struct Address {
  uint8_t family = 0;  // 4 or 6
  uint8_t bytes[16] = {};
  bool operator==(const Address& o) const;
};

struct Route {
  Address dst;            // the prefix
  uint8_t prefixLength = 0;
  bool reject = false;    // blackhole, unreachable, prohibit, throw
  bool hasGateway = false;
  Address gateway;
  int oif = 0;
  uint32_t priority = 0;  // metric: lowest wins among equal prefixes
};

enum class NextHopVerdict : uint8_t {
  kResolved,    // mac filled in
  kUnresolved,  // the next hop has no usable link-layer address (yet)
  kNoRoute,     // routing does not send it out of this interface
};

class NextHopTable {
 public:
  explicit NextHopTable(int ifindex = 0);

  void set_ifindex(int ifindex) { ifindex_ = ifindex; }
  int ifindex() const { return ifindex_; }

  // Routes: replaced whole (the mirror reloads them on any route change).
  // Returns false if some did not fit (the rest are kept).
  bool SetRoutes(std::vector<Route> routes);
  // Neighbours of our interface. `usable` with a 6-byte link-layer address:
  // REACHABLE, STALE, DELAY, PROBE, PERMANENT, NOARP; `stale`: usable but
  // unconfirmed (STALE), so a reply through it asks the kernel to confirm it,
  // as the kernel's own output would. Returns false if the table is full and
  // the neighbour is new.
  bool UpsertNeighbour(const Address& addr, bool usable, bool stale, const uint8_t mac[6]);
  void RemoveNeighbour(const Address& addr);
  void ClearNeighbours();
  uint32_t neighbourCount() const { return neighbourCount_; }
  uint32_t routeCount() const { return static_cast<uint32_t>(routes_.size()); }

  // The next hop for a reply to `peer`. `nowMs` is any monotonic clock.
  // When the next hop needs (re)resolution by the kernel - no entry, an
  // unusable one, or a STALE-like one last asked about long ago - *probe is
  // set to its address and true is returned in *wantProbe; at most once per
  // kProbeIntervalMs per neighbour.
  NextHopVerdict Resolve(const Address& peer, double nowMs, uint8_t mac[6], Address* probe,
                         bool* wantProbe);

  // The link-layer addresses of the gateways that the routes out of our
  // interface name (each once), those resolved: the next hops of every
  // reply to an off-link address. An unresolved gateway goes into *probes,
  // asked for as Resolve asks (at most once per kProbeIntervalMs).
  void GatewayMacs(double nowMs, std::vector<std::array<uint8_t, 6>>* macs, std::vector<Address>* probes);

  static constexpr double kProbeIntervalMs = 1000;

 private:
  struct Neighbour {
    Address addr;  // family 0: free slot
    bool usable = false;
    bool stale = false;
    uint8_t mac[6] = {};
    double probedAt = -1e300;
  };
  const Route* Lookup(const Address& peer) const;
  // Resolve's second half: the neighbour `hop` on our interface.
  NextHopVerdict ResolveHop(const Address& hop, double nowMs, uint8_t mac[6], Address* probe, bool* wantProbe);
  uint32_t Slot(const Address& addr) const;
  Neighbour* Find(const Address& addr);
  Neighbour* Insert(const Address& addr);  // nullptr when full

  int ifindex_;
  std::vector<Route> routes_;  // most specific first, then lowest metric
  std::vector<Neighbour> slots_;
  uint32_t neighbourCount_ = 0;
  uint64_t key_[2];
};

}  // namespace syncache::route
