// SYN cookies and the flow hash, over a whole received batch.
//
// A SYN cookie is the ISS of our SYN-ACK. It lets us answer a SYN while
// keeping nothing, and rebuild the handshake from the final ACK alone
// (RFC 4987 3.6). The ISS carries a MAC and the few options we must not lose:
//
//    31                                   8   7   6   5    3   2    0
//   +--------------------------------------+---+---+--------+--------+
//   |     MAC: first 24 bits of MD5(block)  |sel|sak| wscale |  mss   |
//   +--------------------------------------+---+---+--------+--------+
//   sel     secret slot that made it (CookieSecrets.secret[sel])
//   sak     the SYN offered SACK-permitted
//   wscale  index into kWscaleTable of the peer's window shift (0: none)
//   mss     index into kMssTable of the peer's MSS
//
// FreeBSD (sys/netinet/tcp_syncache.c, syncookie_mac/_generate/_lookup) keeps
// the same 8 state bits beside a 24-bit MAC; Linux (net/ipv4/syncookies.c)
// spends its bits on a counter and an MSS index and recovers wscale/SACK only
// when the peer sends timestamps. Like FreeBSD, the MAC covers the state byte,
// so a forged index fails the MAC; unlike FreeBSD it also covers the client's
// ISN, so the ACK must carry exactly ISN+1 and no byte of the client's stream
// can be silently lost. Cookie lifetime comes from the TS owner rotating two
// secrets (DESIGN.md: one replaced every 15 s, so a cookie lives 15 to 30 s);
// nothing time-based is encoded here.
//
// The MAC block: one MD5 compression from the standard IV over 64 bytes that
// are fully defined (no MD5 length padding: the length never varies and the
// peer sees 24 of 128 output bits, so there is nothing to extend):
//
//   bytes  0..15  secret[sel]
//   bytes 16..31  peer address (saddr of the received row, wire order;
//                 IPv4 in bytes 16..19, 20..31 zero)
//   bytes 32..47  local address (daddr), same form
//   bytes 48..49  peer port, little-endian     50..51 local port, little-endian
//   bytes 52..55  client ISN (the SYN's seq; for an ACK, seq - 1), little-endian
//   byte  56      the state byte (low 8 bits of the cookie)
//   byte  57      address family, 4 or 6 (IPv4 and an IPv6 address with the
//                 same leading bytes never share a MAC)
//   bytes 58..63  zero (fixed padding)
// MAC = digest bytes 0, 1, 2 as a big-endian 24-bit number.
// Rows become SIMD lanes of Md5CompressLanes, kMd5Lanes at a time.
//
// Where the tables come from:
//   kMssTable  216  FreeBSD's smallest accepted MSS (net.inet.tcp.minmss)
//              536  IPv4 default MSS, 576 - 40 (RFC 879, RFC 9293 3.7.1)
//             1220  IPv6 default MSS, minimum MTU 1280 - 60 (RFC 8200 5)
//             1360  1400 - 40: tunnels and VPNs (FreeBSD's table)
//             1400  clamped VPN/IPsec paths (FreeBSD's table)
//             1440  1500 - 60: IPv6 on Ethernet (IPv4 over PPPoE, 1452, rounds to it)
//             1460  1500 - 40: IPv4 on Ethernet, the common case
//             8940  9000 - 60: jumbo frames for both families (an IPv4
//                   peer's 8960 rounds down to it)
//   A SYN gets the largest entry <= its MSS (no option: the family's
//   default above); an MSS under 216 still gets 216, as FreeBSD and Linux do.
//   kWscaleTable {none, 0, 1, 2, 4, 6, 7, 8}: FreeBSD's tcp_sc_wstab. 6 is
//   macOS/iOS, 7 Linux's default, 8 Windows; a shift is rounded DOWN to an
//   entry, which only makes us underestimate the peer's window (safe). Shifts
//   above 14 are treated as 14 (RFC 7323 2.3).
//
// The flow hash buckets the SYN cache and picks shards, so a flooder must not
// be able to aim at one bucket: SipHash-1-3 keyed with flowHashKey over
// (peer address, local address, peer port, local port, family), 40 bytes,
// folded to 32 bits, computed 8 rows at a time as SIMD lanes (like MD5:
// AVX2 when the CPU has it, else SSE2). Every row gets one, whatever the
// cookie mode. The flow key is set once, before any batch: changing it
// would move every flow to another bucket, so it has no seqlock.
#include "cookie/syncookie.h"
#include "cookie/cpu_dispatch.h"

#include <cstdlib>
#include <cstring>

#include "cookie/md5.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the cookie block layout reads stored words as little-endian");

namespace syncache::cookie {

const uint16_t kMssTable[kMssTableSize] = {216, 536, 1220, 1360, 1400, 1440, 1460, 8940};
const uint8_t kWscaleTable[kWscaleTableSize] = {kNoWscale, 0, 1, 2, 4, 6, 7, 8};

namespace {

constexpr uint8_t kMaxWscale = 14;

#define SIP_ROTL(x, s) (((x) << (s)) | ((x) >> (64 - (s))))

// W is uint64_t (one row) or a vector of kHashLanes uint64_t (rows side by
// side, like the MD5 lanes).
template <typename W>
inline __attribute__((always_inline)) void SipRound(W& v0, W& v1, W& v2, W& v3) {
  v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32);
  v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2;
  v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0;
  v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32);
}

// SipHash-1-3 of a 40-byte message m[0..4] (little-endian 64-bit words).
template <typename W>
inline __attribute__((always_inline)) void SipHash13(uint64_t k0, uint64_t k1, const W m[5], W& out) {
  W v0 = W{} + (k0 ^ 0x736f6d6570736575ull);
  W v1 = W{} + (k1 ^ 0x646f72616e646f6dull);
  W v2 = W{} + (k0 ^ 0x6c7967656e657261ull);
  W v3 = W{} + (k1 ^ 0x7465646279746573ull);
  for (int j = 0; j < 5; j++) {
    v3 ^= m[j];
    SipRound(v0, v1, v2, v3);
    v0 ^= m[j];
  }
  const uint64_t last = static_cast<uint64_t>(40) << 56;
  v3 ^= last;
  SipRound(v0, v1, v2, v3);
  v0 ^= last;
  v2 ^= 0xff;
  SipRound(v0, v1, v2, v3);
  SipRound(v0, v1, v2, v3);
  SipRound(v0, v1, v2, v3);
  out = v0 ^ v1 ^ v2 ^ v3;
}

#undef SIP_ROTL

inline uint64_t Pair(const uint32_t* w) {
  return static_cast<uint64_t>(w[0]) | static_cast<uint64_t>(w[1]) << 32;
}

inline __attribute__((always_inline)) uint64_t PortsWord(const PacketBatch* b, uint32_t i) {
  return static_cast<uint64_t>(b->sport[i]) | static_cast<uint64_t>(b->dport[i]) << 16 |
         static_cast<uint64_t>(b->family[i]) << 32;
}

inline uint32_t Fold(uint64_t h) { return static_cast<uint32_t>(h ^ (h >> 32)); }

inline uint32_t FlowHash(uint64_t k0, uint64_t k1, const PacketBatch* b, uint32_t i) {
  uint64_t m[5] = {Pair(&b->saddr[i * 4]), Pair(&b->saddr[i * 4 + 2]), Pair(&b->daddr[i * 4]),
                   Pair(&b->daddr[i * 4 + 2]), PortsWord(b, i)};
  uint64_t h;
  SipHash13(k0, k1, m, h);
  return Fold(h);
}

constexpr uint32_t kHashLanes = 8;
typedef uint64_t HashVector __attribute__((vector_size(kHashLanes * 8)));

inline __attribute__((always_inline)) void HashRowsBody(PacketBatch* b, uint32_t count,
                                                        uint64_t k0, uint64_t k1) {
  uint32_t i = 0;
  for (; i + kHashLanes <= count; i += kHashLanes) {
    HashVector m[5];
    for (uint32_t lane = 0; lane < kHashLanes; lane++) {
      uint32_t r = i + lane;
      m[0][lane] = Pair(&b->saddr[r * 4]);
      m[1][lane] = Pair(&b->saddr[r * 4 + 2]);
      m[2][lane] = Pair(&b->daddr[r * 4]);
      m[3][lane] = Pair(&b->daddr[r * 4 + 2]);
      m[4][lane] = PortsWord(b, r);
    }
    HashVector h;
    SipHash13(k0, k1, m, h);
    for (uint32_t lane = 0; lane < kHashLanes; lane++) b->hash[i + lane] = Fold(h[lane]);
  }
  for (; i < count; i++) b->hash[i] = FlowHash(k0, k1, b, i);
}

void HashRowsBaseline(PacketBatch* b, uint32_t count, uint64_t k0, uint64_t k1) {
  HashRowsBody(b, count, k0, k1);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) void HashRowsAvx2(PacketBatch* b, uint32_t count, uint64_t k0, uint64_t k1) {
  HashRowsBody(b, count, k0, k1);
}

using HashRowsFn = void (*)(PacketBatch*, uint32_t, uint64_t, uint64_t);

const HashRowsFn gHashRows = PickForCpu<HashRowsFn>(HashRowsBaseline, HashRowsAvx2);
#else
constexpr auto gHashRows = HashRowsBaseline;
#endif

inline uint32_t MssIndex(uint16_t peerMss) {
  uint32_t index = 0;
  for (uint32_t k = 1; k < kMssTableSize; k++)
    if (kMssTable[k] <= peerMss) index = k;
  return index;
}

inline uint32_t WscaleIndex(uint8_t shift) {
  if (shift > kMaxWscale) shift = kMaxWscale;
  uint32_t index = 1;
  for (uint32_t k = 2; k < kWscaleTableSize; k++)
    if (kWscaleTable[k] <= shift) index = k;
  return index;
}

// The state byte for a SYN row, made with secret slot `slot`.
inline uint32_t SynState(const PacketBatch* b, uint32_t i, uint32_t slot) {
  uint8_t flags = b->optFlags[i];
  uint16_t peerMss = (flags & kOptMss) ? b->mss[i] : (b->family[i] == 6 ? kDefaultMssV6 : kDefaultMssV4);
  uint32_t wscaleIndex = (flags & kOptWscale) ? WscaleIndex(b->wscale[i]) : 0;
  uint32_t sack = (flags & kOptSackPermitted) ? 1 : 0;
  return slot << kCookieSelectorShift | sack << kCookieSackShift |
         wscaleIndex << kCookieWscaleShift | MssIndex(peerMss) << kCookieMssShift;
}

// Rows waiting for their MAC, one per MD5 lane.
struct LaneGroup {
  uint32_t words[16][kMd5Lanes] = {};
  uint32_t row[kMd5Lanes] = {};
  uint32_t state[kMd5Lanes] = {};
  uint32_t count = 0;
};

inline void AddLane(LaneGroup& g, const uint32_t key[4], const PacketBatch* b, uint32_t i,
                    uint32_t isn, uint32_t state) {
  uint32_t lane = g.count++;
  for (int w = 0; w < 4; w++) {
    g.words[w][lane] = key[w];
    g.words[4 + w][lane] = b->saddr[i * 4 + w];
    g.words[8 + w][lane] = b->daddr[i * 4 + w];
  }
  g.words[12][lane] = static_cast<uint32_t>(b->sport[i]) | static_cast<uint32_t>(b->dport[i]) << 16;
  g.words[13][lane] = isn;
  g.words[14][lane] = state | static_cast<uint32_t>(b->family[i]) << 8;
  g.words[15][lane] = 0;
  g.row[lane] = i;
  g.state[lane] = state;
}

inline void DecodeInto(PacketBatch* b, uint32_t i, uint32_t state) {
  uint32_t mssIndex = (state >> kCookieMssShift) & kCookieIndexMask;
  uint32_t wscaleIndex = (state >> kCookieWscaleShift) & kCookieIndexMask;
  uint8_t flags = static_cast<uint8_t>((b->optFlags[i] & kOptTimestamps) | kOptMss);
  if ((state >> kCookieSackShift) & 1) flags |= kOptSackPermitted;
  b->mss[i] = kMssTable[mssIndex];
  if (wscaleIndex != 0) {
    flags |= kOptWscale;
    b->wscale[i] = kWscaleTable[wscaleIndex];
  } else {
    b->wscale[i] = 0;
  }
  b->optFlags[i] = flags;
}

void Flush(LaneGroup& g, PacketBatch* b, Counters* counters) {
  if (g.count == 0) return;
  uint32_t digest[4][kMd5Lanes];
  Md5CompressLanes(g.words, digest);
  for (uint32_t lane = 0; lane < g.count; lane++) {
    uint32_t i = g.row[lane];
    uint32_t mac = __builtin_bswap32(digest[0][lane]) >> 8;
    if (b->kind[i] == kKindSyn) {
      b->cookie[i] = mac << kCookieMacShift | g.state[lane];
      b->cookieState[i] = kCookieMade;
      counters->Bump(kCounter_cookiesMade);
    } else if ((b->cookie[i] >> kCookieMacShift) == mac) {
      DecodeInto(b, i, g.state[lane]);
      b->cookieState[i] = kCookieValid;
      counters->Bump(kCounter_cookiesValid);
    } else {
      b->cookieState[i] = kCookieInvalid;
      counters->Bump(kCounter_cookiesInvalid);
    }
  }
  g.count = 0;
}

inline uint64_t LoadKey64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

void ProcessBatch(PacketBatch* batch, uint32_t count, const CookieSecrets* secrets,
                  CookieMode mode, Counters* counters) {
  if (count > kBatchCapacity) count = kBatchCapacity;
  uint64_t k0 = 0, k1 = 0;
  if (secrets != nullptr) {
    k0 = LoadKey64(secrets->flowHashKey);
    k1 = LoadKey64(secrets->flowHashKey + 8);
  }
  gHashRows(batch, count, k0, k1);
  std::memset(batch->cookieState, kCookieNotChecked, count);
  if (mode == CookieMode::kOff) return;

  // Both slots are read once per batch: a batch is microseconds long, and a
  // slot rewritten meanwhile only affects the next batch. The active index
  // first, then the slots (the owner writes a slot, then publishes it as
  // active): read the other way round, a rotation in between would pair the
  // new index with the slot's old bytes, and every SYN of the batch would
  // get a cookie that its ACK can never validate.
  uint32_t key[2][4] = {};
  bool usable[2] = {false, false};
  uint32_t active = 0;
  if (secrets != nullptr) {
    active = ActiveSlot(secrets);
    for (uint32_t slot = 0; slot < 2; slot++) {
      uint8_t bytes[kSecretBytes] = {};
      usable[slot] = ReadSecret(secrets, slot, bytes);
      std::memcpy(key[slot], bytes, kSecretBytes);
    }
  }

  LaneGroup group;
  for (uint32_t i = 0; i < count; i++) {
    uint8_t kind = batch->kind[i];
    if (kind == kKindSyn) {
      if (!usable[active]) {
        counters->Bump(kCounter_cookiesNoSecret);
        continue;
      }
      AddLane(group, key[active], batch, i, batch->seq[i], SynState(batch, i, active));
    } else if (kind == kKindAck) {
      uint32_t cookie = batch->ack[i] - 1;
      batch->cookie[i] = cookie;
      counters->Bump(kCounter_cookiesChecked);
      uint32_t state = cookie & 0xff;
      uint32_t slot = state >> kCookieSelectorShift;
      if (!usable[slot]) {
        batch->cookieState[i] = kCookieInvalid;
        counters->Bump(kCounter_cookiesInvalid);
        continue;
      }
      AddLane(group, key[slot], batch, i, batch->seq[i] - 1, state);
    } else {
      continue;
    }
    if (group.count == kMd5Lanes) Flush(group, batch, counters);
  }
  Flush(group, batch, counters);
}

}  // namespace syncache::cookie
