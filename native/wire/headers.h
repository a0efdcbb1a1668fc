// Wire header sizes, offsets and constants shared by the parser and the
// builder, and unaligned big-endian loads/stores. Frames sit at arbitrary
// offsets in ring blocks and JS buffers, so every multi-byte access goes
// through memcpy (which compiles to one load/store on x86 and arm64).
#pragma once

#include <cstdint>
#include <cstring>

namespace syncache::wire {

constexpr uint32_t kEthHeader = 14;     // dst(6) src(6) ethertype(2)
constexpr uint32_t kVlanTag = 4;        // TPID 0x8100 + TCI
constexpr uint32_t kIpv4Header = 20;    // without options
constexpr uint32_t kIpv6Header = 40;
constexpr uint32_t kTcpHeader = 20;     // without options
constexpr uint32_t kIcmpHeader = 8;     // type code checksum + 4 bytes
constexpr uint32_t kIcmpQuotedTcp = 8;  // ports + seq: all an ICMP error must quote

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;

constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoDestOptions = 60;

constexpr uint8_t kIcmpUnreach = 3;
constexpr uint8_t kIcmpFragNeeded = 4;  // code of type 3: path MTU, not unreachability
constexpr uint8_t kIcmpv6Unreach = 1;

// IPv4 header fields.
constexpr uint32_t kIp4TotalLength = 2;
constexpr uint32_t kIp4FlagsFragment = 6;
constexpr uint16_t kIp4DontFragment = 0x4000;
constexpr uint16_t kIp4MoreFragments = 0x2000;
constexpr uint16_t kIp4OffsetMask = 0x1fff;
constexpr uint32_t kIp4Ttl = 8;
constexpr uint32_t kIp4Protocol = 9;
constexpr uint32_t kIp4Checksum = 10;
constexpr uint32_t kIp4Saddr = 12;
constexpr uint32_t kIp4Daddr = 16;

// IPv6 header fields.
constexpr uint32_t kIp6PayloadLength = 4;
constexpr uint32_t kIp6NextHeader = 6;
constexpr uint32_t kIp6HopLimit = 7;
constexpr uint32_t kIp6Saddr = 8;
constexpr uint32_t kIp6Daddr = 24;

// TCP header fields.
constexpr uint32_t kTcpSport = 0;
constexpr uint32_t kTcpDport = 2;
constexpr uint32_t kTcpSeq = 4;
constexpr uint32_t kTcpAck = 8;
constexpr uint32_t kTcpDataOffset = 12;
constexpr uint32_t kTcpFlags = 13;
constexpr uint32_t kTcpWindow = 14;
constexpr uint32_t kTcpChecksum = 16;
constexpr uint32_t kTcpUrgent = 18;

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAckFlag = 0x10;
constexpr uint8_t kTcpUrg = 0x20;
constexpr uint8_t kTcpEce = 0x40;
constexpr uint8_t kTcpCwr = 0x80;

// TCP options.
constexpr uint8_t kOptEol = 0;
constexpr uint8_t kOptNop = 1;
constexpr uint8_t kOptKindMss = 2;
constexpr uint8_t kOptKindWscale = 3;
constexpr uint8_t kOptKindSackPermitted = 4;
constexpr uint8_t kOptKindTimestamps = 8;
constexpr uint8_t kOptLenMss = 4;
constexpr uint8_t kOptLenWscale = 3;
constexpr uint8_t kOptLenSackPermitted = 2;
constexpr uint8_t kOptLenTimestamps = 10;
constexpr uint8_t kMaxWscale = 14;  // RFC 7323 2.3: larger shifts are treated as 14
constexpr uint16_t kMinMss = 88;   // Linux TCP_MIN_MSS: the least TCP_MAXSEG a socket takes

constexpr uint8_t kDefaultTtl = 64;

inline uint16_t Load16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Store32(uint8_t* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}

}  // namespace syncache::wire
