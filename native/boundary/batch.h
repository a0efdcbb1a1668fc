// The boundary between native code and TypeScript: one call per batch.
//
// A PacketBatch is a struct of arrays that lives in a JS-owned ArrayBuffer.
// Native fills a receive batch from a ring block (one row per accepted frame)
// and reads a send batch that TypeScript wrote (one row per frame to build).
// Rows use the same fields in both directions, oriented as the packet is:
// in a received row saddr/sport is the peer; in a send row saddr/sport is us.
//
// TypeScript never repeats these numbers: the addon exports every offset,
// the capacity, the kinds and the flag bits (see native/addon.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace syncache {

constexpr uint32_t kBatchCapacity = 2048;

// Row kinds. Received rows: what the frame is. Send rows: what to build.
enum RowKind : uint8_t {
  kKindNone = 0,
  kKindSyn = 1,          // SYN without ACK/RST/FIN
  kKindAck = 2,          // ACK without SYN/RST (final handshake ACK, maybe data)
  kKindRst = 3,          // RST (with or without ACK)
  kKindUnreach = 4,      // ICMP/ICMPv6 unreachable quoting one of our segments;
                         // the quoted flow is turned around so saddr/sport is
                         // the peer and seq is the quoted segment's seq (our ISS)
  kKindSynAck = 16,      // send: SYN-ACK
  kKindSendRst = 17,     // send: RST
  kKindSendAck = 18,     // send: bare ACK
};

// optFlags bits: which TCP options a row carries.
enum OptFlag : uint8_t {
  kOptMss = 1,
  kOptWscale = 2,
  kOptSackPermitted = 4,
  kOptTimestamps = 8,
};

// cookieState values for received rows.
enum CookieVerdict : uint8_t {
  kCookieNotChecked = 0,
  kCookieValid = 1,      // ACK: ack-1 is a cookie we made; mss/wscale/optFlags
                         // hold what it encodes
  kCookieInvalid = 2,    // ACK: MAC mismatch or its secret is gone
  kCookieMade = 3,       // SYN: cookie holds a fresh cookie ISS for this SYN
};

constexpr uint32_t kN = kBatchCapacity;

// Payload bytes of received ACK rows are copied into one arena per batch, so
// data that comes with (or right after) a final ACK can be handed on with
// the connection. A row whose payload does not fit gets kNoPayload; its
// sender retransmits it.
constexpr uint32_t kPayloadArenaBytes = 256 * 1024;
constexpr uint32_t kNoPayload = 0xffffffffu;

// Field order: widest first, so every array is naturally aligned.
struct PacketBatch {
  double time[kN];          // receive time, ms since the epoch (packet stamp)
  uint32_t saddr[kN * 4];   // network byte order; IPv4 uses word 0, rest 0
  uint32_t daddr[kN * 4];
  uint32_t seq[kN];         // host order
  uint32_t ack[kN];
  uint32_t tsval[kN];       // valid when optFlags has kOptTimestamps
  uint32_t tsecr[kN];
  uint32_t hash[kN];        // keyed flow hash (received rows), for bucketing
  uint32_t cookie[kN];      // SYN: cookie ISS (kCookieMade); ACK: ack - 1
  uint32_t payloadOffset[kN];  // received: where payloadLength bytes start in
                               // payload[], or kNoPayload
  uint16_t sport[kN];       // host order
  uint16_t dport[kN];
  uint16_t window[kN];      // raw window field
  uint16_t mss[kN];         // valid when optFlags has kOptMss
  uint16_t vlan[kN];        // 802.1Q TCI, 0 = untagged
  uint16_t payloadLength[kN];
  uint8_t kind[kN];         // RowKind
  uint8_t family[kN];       // 4 or 6
  uint8_t tcpFlags[kN];     // raw TCP flags byte
  uint8_t wscale[kN];       // valid when optFlags has kOptWscale
  uint8_t optFlags[kN];     // OptFlag bits
  uint8_t cookieState[kN];  // CookieVerdict
  uint8_t mac[kN * 6];      // received: source MAC; send: destination MAC
  uint32_t payloadUsed;     // bytes of payload[] in use (reset at row 0)
  uint8_t payload[kPayloadArenaBytes];
};

}  // namespace syncache
