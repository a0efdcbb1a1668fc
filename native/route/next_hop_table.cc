#include "route/next_hop_table.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>

namespace syncache::route {

namespace {

bool PrefixMatches(const Address& prefix, uint8_t length, const Address& addr) {
  if (prefix.family != addr.family) return false;
  const uint32_t whole = length / 8;
  if (std::memcmp(prefix.bytes, addr.bytes, whole) != 0) return false;
  const uint32_t bits = length % 8;
  if (bits == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff00 >> bits);
  return ((prefix.bytes[whole] ^ addr.bytes[whole]) & mask) == 0;
}

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

}  // namespace

bool Address::operator==(const Address& o) const {
  return family == o.family && std::memcmp(bytes, o.bytes, sizeof bytes) == 0;
}

NextHopTable::NextHopTable(int ifindex) : ifindex_(ifindex), slots_(kNeighbourSlots) {
  if (getrandom(key_, sizeof key_, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof key_)) {
    // No entropy yet (early boot): the address of this table is still
    // unknown to the wire.
    key_[0] = reinterpret_cast<uintptr_t>(this) * 0x9e3779b97f4a7c15ull;
    key_[1] = ~key_[0];
  }
}

bool NextHopTable::SetRoutes(std::vector<Route> routes) {
  const bool fits = routes.size() <= kMaxRoutes;
  if (!fits) routes.resize(kMaxRoutes);
  std::stable_sort(routes.begin(), routes.end(), [](const Route& a, const Route& b) {
    if (a.prefixLength != b.prefixLength) return a.prefixLength > b.prefixLength;
    return a.priority < b.priority;
  });
  routes_ = std::move(routes);
  return fits;
}

const Route* NextHopTable::Lookup(const Address& peer) const {
  for (const Route& r : routes_) {
    if (PrefixMatches(r.dst, r.prefixLength, peer)) return &r;
  }
  return nullptr;
}

uint32_t NextHopTable::Slot(const Address& addr) const {
  uint64_t a = 0, b = 0;
  std::memcpy(&a, addr.bytes, 8);
  std::memcpy(&b, addr.bytes + 8, 8);
  const uint64_t h = Mix(a ^ key_[0]) ^ Mix(b ^ key_[1] ^ addr.family);
  return static_cast<uint32_t>(h) & (kNeighbourSlots - 1);
}

NextHopTable::Neighbour* NextHopTable::Find(const Address& addr) {
  for (uint32_t i = Slot(addr), n = 0; n < kNeighbourSlots; i = (i + 1) & (kNeighbourSlots - 1), n++) {
    Neighbour& s = slots_[i];
    if (s.addr.family == 0) return nullptr;
    if (s.addr == addr) return &s;
  }
  return nullptr;
}

NextHopTable::Neighbour* NextHopTable::Insert(const Address& addr) {
  if (neighbourCount_ >= kMaxNeighbours) return nullptr;
  uint32_t i = Slot(addr);
  while (slots_[i].addr.family != 0) i = (i + 1) & (kNeighbourSlots - 1);
  slots_[i] = Neighbour{};
  slots_[i].addr = addr;
  neighbourCount_++;
  return &slots_[i];
}

bool NextHopTable::UpsertNeighbour(const Address& addr, bool usable, bool stale, const uint8_t mac[6]) {
  Neighbour* n = Find(addr);
  if (n == nullptr) n = Insert(addr);
  if (n == nullptr) return false;
  n->usable = usable;
  n->stale = usable && stale;
  if (usable) std::memcpy(n->mac, mac, 6);
  return true;
}

void NextHopTable::RemoveNeighbour(const Address& addr) {
  uint32_t i = Slot(addr);
  for (uint32_t n = 0; n < kNeighbourSlots; i = (i + 1) & (kNeighbourSlots - 1), n++) {
    if (slots_[i].addr.family == 0) return;
    if (slots_[i].addr == addr) break;
  }
  if (slots_[i].addr.family == 0 || !(slots_[i].addr == addr)) return;
  // Backward-shift deletion: pull later members of the run into the hole
  // when their home slot allows it, so lookups never meet a false gap.
  uint32_t hole = i;
  for (uint32_t j = (i + 1) & (kNeighbourSlots - 1); slots_[j].addr.family != 0;
       j = (j + 1) & (kNeighbourSlots - 1)) {
    const uint32_t home = Slot(slots_[j].addr);
    const bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (between) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = Neighbour{};
  neighbourCount_--;
}

void NextHopTable::ClearNeighbours() {
  std::fill(slots_.begin(), slots_.end(), Neighbour{});
  neighbourCount_ = 0;
}

NextHopVerdict NextHopTable::Resolve(const Address& peer, double nowMs, uint8_t mac[6],
                                     Address* probe, bool* wantProbe) {
  *wantProbe = false;
  const Route* r = Lookup(peer);
  if (r == nullptr || r->reject || r->oif != ifindex_) return NextHopVerdict::kNoRoute;
  return ResolveHop(r->hasGateway ? r->gateway : peer, nowMs, mac, probe, wantProbe);
}

NextHopVerdict NextHopTable::ResolveHop(const Address& hop, double nowMs, uint8_t mac[6], Address* probe,
                                        bool* wantProbe) {
  *wantProbe = false;
  Neighbour* n = Find(hop);
  const bool due = n == nullptr || nowMs - n->probedAt >= kProbeIntervalMs;
  if (n != nullptr && n->usable) {
    std::memcpy(mac, n->mac, 6);
    if (n->stale && due) {
      n->probedAt = nowMs;
      *probe = hop;
      *wantProbe = true;
    }
    return NextHopVerdict::kResolved;
  }
  if (due) {
    // Remember the ask, so a flood towards one unresolved address asks once
    // a second; the kernel's answer (RTM_NEWNEIGH) overwrites the entry.
    // Such placeholders (spoofed on-link sources make them) take at most
    // half the table: the rest stays for what the kernel reports.
    if (n == nullptr && neighbourCount_ < kMaxNeighbours / 2) n = Insert(hop);
    if (n != nullptr) n->probedAt = nowMs;
    *probe = hop;
    *wantProbe = n != nullptr;
  }
  return NextHopVerdict::kUnresolved;
}

void NextHopTable::GatewayMacs(double nowMs, std::vector<std::array<uint8_t, 6>>* macs,
                               std::vector<Address>* probes) {
  macs->clear();
  probes->clear();
  std::vector<Address> seen;
  for (const Route& r : routes_) {
    if (r.reject || !r.hasGateway || r.oif != ifindex_) continue;
    if (std::find(seen.begin(), seen.end(), r.gateway) != seen.end()) continue;
    seen.push_back(r.gateway);
    std::array<uint8_t, 6> mac;
    Address probe;
    bool wantProbe = false;
    if (ResolveHop(r.gateway, nowMs, mac.data(), &probe, &wantProbe) == NextHopVerdict::kResolved &&
        std::find(macs->begin(), macs->end(), mac) == macs->end())
      macs->push_back(mac);
    if (wantProbe) probes->push_back(probe);
  }
}

}  // namespace syncache::route
