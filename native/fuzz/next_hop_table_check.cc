// NextHopTable against a plain model, under the sanitizers: random route
// sets and a random stream of neighbour upserts, removals (which shift the
// open-addressing runs back) and lookups, from a pool of addresses big
// enough to fill the table. Every lookup's verdict and MAC must be the
// model's: the longest matching prefix, then the lowest metric; a reject
// route or another interface: no route; the gateway's or the peer's own
// neighbour, usable or not. GatewayMacs() must list the model's usable
// gateways of the routes out of our interface, each MAC once.
//   next_hop_table_check [--iterations N] [--seed S]
// Prints one JSON line {"ops":..,"lookups":..,"gatewayListings":..,"mismatches":..}; exits 1 on
// a mismatch.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "route/next_hop_table.h"

using syncache::route::Address;
using syncache::route::NextHopTable;
using syncache::route::NextHopVerdict;
using syncache::route::Route;

namespace {

constexpr int kIfindex = 7;

struct ModelNeighbour {
  bool usable;
  uint8_t mac[6];
};

using Key = std::vector<uint8_t>;
Key KeyOf(const Address& a) {
  Key k(a.bytes, a.bytes + 16);
  k.push_back(a.family);
  return k;
}

bool Matches(const Route& r, const Address& a) {
  if (r.dst.family != a.family) return false;
  for (uint32_t bit = 0; bit < r.prefixLength; bit++) {
    const uint8_t m = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((r.dst.bytes[bit / 8] & m) != (a.bytes[bit / 8] & m)) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t iterations = 400000;
  uint32_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--iterations")) iterations = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--seed")) seed = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
  }
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) { return static_cast<uint64_t>(rng() % n); };

  // Addresses: 10.x.y.z-like IPv4 in 16 /24s, IPv6 in 4 /64s; 9000 in all,
  // more than the table holds.
  std::vector<Address> pool;
  for (uint32_t i = 0; i < 9000; i++) {
    Address a;
    if (i % 3 == 0) {
      a.family = 6;
      a.bytes[0] = 0x20; a.bytes[1] = 0x01; a.bytes[2] = 0x0d; a.bytes[3] = 0xb8;
      a.bytes[7] = static_cast<uint8_t>(i % 4);
      a.bytes[14] = static_cast<uint8_t>(i >> 8);
      a.bytes[15] = static_cast<uint8_t>(i);
    } else {
      a.family = 4;
      a.bytes[0] = 198; a.bytes[1] = 18;
      a.bytes[2] = static_cast<uint8_t>(i % 16);
      a.bytes[3] = static_cast<uint8_t>(i >> 4);
    }
    pool.push_back(a);
  }
  auto randomRoutes = [&]() {
    std::vector<Route> routes;
    const uint64_t n = 1 + pick(12);
    for (uint64_t i = 0; i < n; i++) {
      const Address& base = pool[pick(pool.size())];
      Route r;
      r.dst = base;
      r.prefixLength = static_cast<uint8_t>(base.family == 4 ? pick(33) : pick(129));
      for (uint32_t bit = r.prefixLength; bit < 128; bit++) r.dst.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
      r.reject = pick(10) == 0;
      r.oif = pick(6) == 0 ? kIfindex + 1 : kIfindex;
      r.hasGateway = pick(2) == 0;
      if (r.hasGateway) {
        do r.gateway = pool[pick(pool.size())]; while (r.gateway.family != base.family);
      }
      r.priority = static_cast<uint32_t>(pick(4));
      routes.push_back(r);
    }
    return routes;
  };

  NextHopTable table(kIfindex);
  std::map<Key, ModelNeighbour> model;
  std::vector<Route> routes = randomRoutes();
  table.SetRoutes(routes);
  uint64_t lookups = 0, gatewayListings = 0, mismatches = 0;
  double now = 0;
  auto mismatch = [&](const char* what) {
    if (mismatches++ < 5) std::fprintf(stderr, "mismatch: %s\n", what);
  };

  for (uint64_t op = 0; op < iterations; op++) {
    now += 1;
    const uint64_t kind = pick(100);
    const Address& a = pool[pick(pool.size())];
    if (kind < 1) {
      routes = randomRoutes();
      table.SetRoutes(routes);
    } else if (kind < 45) {
      ModelNeighbour n{pick(3) != 0, {}};
      for (auto& b : n.mac) b = static_cast<uint8_t>(rng());
      const bool known = model.count(KeyOf(a)) != 0;
      const bool stored = table.UpsertNeighbour(a, n.usable, pick(2) == 0, n.mac);
      if (stored != (known || model.size() < syncache::route::kMaxNeighbours)) mismatch("upsert");
      if (stored) model[KeyOf(a)] = n;
    } else if (kind < 70) {
      table.RemoveNeighbour(a);
      model.erase(KeyOf(a));
    } else if (kind < 72) {
      gatewayListings++;
      // The model's: the table's route order (most specific, then lowest
      // metric), each gateway once; one without an entry gets a
      // placeholder while they take under half the table, as in Resolve.
      std::vector<Route> ordered = routes;
      std::stable_sort(ordered.begin(), ordered.end(), [](const Route& x, const Route& y) {
        return x.prefixLength != y.prefixLength ? x.prefixLength > y.prefixLength : x.priority < y.priority;
      });
      std::set<Key> seen;
      std::set<std::array<uint8_t, 6>> want;
      std::vector<Address> placeholders;
      for (const Route& r : ordered) {
        if (r.reject || !r.hasGateway || r.oif != kIfindex || !seen.insert(KeyOf(r.gateway)).second) continue;
        auto it = model.find(KeyOf(r.gateway));
        if (it != model.end() && it->second.usable) {
          std::array<uint8_t, 6> mac;
          std::memcpy(mac.data(), it->second.mac, 6);
          want.insert(mac);
        } else if (it == model.end() && model.size() + placeholders.size() < syncache::route::kMaxNeighbours / 2) {
          placeholders.push_back(r.gateway);
        }
      }
      std::vector<std::array<uint8_t, 6>> macs;
      std::vector<Address> probes;
      table.GatewayMacs(now, &macs, &probes);
      if (std::set<std::array<uint8_t, 6>>(macs.begin(), macs.end()) != want || macs.size() != want.size())
        mismatch("gateway macs");
      for (const Address& p : placeholders) model[KeyOf(p)] = ModelNeighbour{false, {}};
    } else {
      lookups++;
      // The model's answer.
      const Route* best = nullptr;
      for (const Route& r : routes) {
        if (!Matches(r, a)) continue;
        if (best == nullptr || r.prefixLength > best->prefixLength ||
            (r.prefixLength == best->prefixLength && r.priority < best->priority))
          best = &r;
      }
      NextHopVerdict want = NextHopVerdict::kNoRoute;
      Address hop;
      const ModelNeighbour* n = nullptr;
      if (best != nullptr && !best->reject && best->oif == kIfindex) {
        hop = best->hasGateway ? best->gateway : a;
        auto it = model.find(KeyOf(hop));
        n = it == model.end() ? nullptr : &it->second;
        want = n != nullptr && n->usable ? NextHopVerdict::kResolved : NextHopVerdict::kUnresolved;
      }
      uint8_t mac[6] = {};
      Address probe;
      bool wantProbe = false;
      const uint32_t before = table.neighbourCount();
      const NextHopVerdict got = table.Resolve(a, now, mac, &probe, &wantProbe);
      if (got != want) mismatch("verdict");
      if (got == NextHopVerdict::kResolved && want == got && std::memcmp(mac, n->mac, 6) != 0) mismatch("mac");
      if (wantProbe && !(probe == hop)) mismatch("probe address");
      // A placeholder for an unresolved next hop is an unusable entry.
      if (table.neighbourCount() == before + 1) {
        if (want != NextHopVerdict::kUnresolved || n != nullptr) mismatch("placeholder");
        model[KeyOf(hop)] = ModelNeighbour{false, {}};
      }
    }
    if (table.neighbourCount() != model.size()) {
      mismatch("count");
      break;
    }
  }
  std::printf("{\"ops\":%llu,\"lookups\":%llu,\"gatewayListings\":%llu,\"neighbours\":%u,\"mismatches\":%llu}\n",
              static_cast<unsigned long long>(iterations), static_cast<unsigned long long>(lookups),
              static_cast<unsigned long long>(gatewayListings), table.neighbourCount(),
              static_cast<unsigned long long>(mismatches));
  return mismatches == 0 ? 0 : 1;
}
