// Parses one received Ethernet frame into a PacketBatch row.
//
// Straight-line checks, in this order; the first that fails bumps its drop
// counter and ends the frame, so every frame bumps exactly one counter:
//
//   Ethernet   < 14 bytes (18 with an 802.1Q tag)        dropTruncatedEthernet
//              ethertype not IPv4/IPv6, or a second tag   dropNotIp
//              (QinQ, or a tag in a frame the ring already untagged)
//   IPv4       < 20 bytes                                 dropTruncatedIp
//              version != 4 (IPv6: != 6)                  dropBadIpVersion
//              IHL < 5                                    dropBadIhl
//              IHL past the frame                         dropTruncatedIp
//              total length < IHL or past the frame       dropBadIpLength
//              (IPv6: payload length 0 (jumbo) or past the frame)
//              header checksum                            dropBadIpChecksum
//              MF set or offset != 0                      dropFragment
//   IPv6 ext   hop-by-hop (first only), routing (segments left 0 only: we
//              do not forward), destination options, at most 8, each within
//              the payload; otherwise                     dropBadExtensionHeader
//              a fragment header                          dropFragment
//   addresses  destination not configured                 dropNotOurs
//              source multicast, limited broadcast or class E, unspecified
//              (0/8, ::), loopback, v4-mapped, or ours    dropBadSource
//   protocol   not TCP, ICMP or ICMPv6                    dropNotTcp
//   TCP        < 20 bytes                                 dropTruncatedTcp
//              data offset < 5 or past the segment        dropBadDataOffset
//              destination port not configured            dropNotOurs
//              source port 0                              dropBadSource
//              checksum (pseudo-header)                   dropBadTcpChecksum
//              flags (below)                              dropBadFlags
//              option length 0, 1 or past the header      dropBadOptionLength
//   ICMP       < 8 bytes                                  dropBadIcmp
//              not unreachable (v4 type 3 other than code 4, fragmentation
//              needed, which is path MTU news; v6 type 1)  dropNotTcp
//              checksum (ICMPv6 with the pseudo-header)   dropBadIcmp
//              the quote is not an IPv4/IPv6 header (same family) + 8 bytes
//              of TCP whose source address and port are ours  dropBadIcmp
//
// Flags: SYN with nothing but ECE/CWR -> Syn; any other SYN combination
// (SYN+FIN, SYN+RST, SYN+ACK, SYN+PSH...) is refused. RST (+anything but SYN)
// -> Rst. ACK without SYN/RST -> Ack (FIN, PSH, data allowed). No SYN, RST or
// ACK (no flags, FIN alone, ...) is refused.
//
// Options are read on every kind; a known option with the wrong length is
// skipped (as Linux does), an impossible length ends the frame. Window scale
// is clamped to 14 (RFC 7323 2.3); an MSS of 0 counts as none (the default
// applies, as in Linux) and one below 88 (Linux's TCP_MIN_MSS) is raised to
// 88, so no peer can ask for a socket the kernel would refuse.
//
// ICMP errors: the quoted segment is one we sent (source = us), so the row is
// turned around: saddr/sport = the quoted destination (the peer), daddr/dport
// = us, seq = the quoted seq (our ISS); mac/vlan are the ICMP frame's.
#include "wire/parse.h"

#include <cstring>

#include "wire/checksum.h"
#include "wire/headers.h"

namespace syncache::wire {

namespace {

constexpr uint32_t kMaxExtensionHeaders = 8;

struct L3 {
  const uint8_t* ip;       // IP header
  const uint8_t* l4;       // first byte after IP (and extension) headers
  uint32_t l4Length;       // bytes of L4 per the IP length fields
  uint8_t protocol;
};

inline bool IsBadSource4(const uint8_t* addr, const LocalConfig& config) {
  // 0/8 unspecified/this network, 127/8 loopback, 224/4 multicast,
  // 240/4 reserved (includes 255.255.255.255).
  if (addr[0] == 0 || addr[0] == 127 || addr[0] >= 224) return true;
  uint32_t word;
  std::memcpy(&word, addr, 4);
  return config.HasV4(word);
}

inline bool IsBadSource6(const uint32_t* w, const LocalConfig& config) {
  const uint8_t* b = reinterpret_cast<const uint8_t*>(w);
  if (b[0] == 0xff) return true;  // multicast
  if (w[0] == 0 && w[1] == 0) {
    if (w[2] == 0) {
      const uint32_t last = Load32(b + 12);
      if (last == 0 || last == 1) return true;  // :: and ::1
    }
    if (Load32(b + 8) == 0x0000ffffu) return true;  // ::ffff:a.b.c.d
  }
  return config.HasV6(w);
}

// Walks IPv6 extension headers from `*next` at `p` (with `*remaining` bytes
// of payload); leaves the upper protocol in *next. Returns kCounterCount on
// success or the drop counter.
inline NativeCounter WalkExtensions(const uint8_t** p, uint32_t* remaining, uint8_t* next) {
  for (uint32_t n = 0; n <= kMaxExtensionHeaders; n++) {
    switch (*next) {
      case kProtoHopByHop:
        if (n != 0) return kCounter_dropBadExtensionHeader;
        break;
      case kProtoRouting:
      case kProtoDestOptions:
        break;
      case kProtoFragment:
        return kCounter_dropFragment;
      default:
        return kCounterCount;
    }
    if (*remaining < 8) return kCounter_dropBadExtensionHeader;
    const uint32_t len = (static_cast<uint32_t>((*p)[1]) + 1) * 8;
    if (len > *remaining) return kCounter_dropBadExtensionHeader;
    if (*next == kProtoRouting && (*p)[3] != 0) return kCounter_dropBadExtensionHeader;
    *next = (*p)[0];
    *p += len;
    *remaining -= len;
  }
  return kCounter_dropBadExtensionHeader;
}

inline void StoreAddress4(uint32_t* words, const uint8_t* addr) {
  std::memcpy(words, addr, 4);
  words[1] = 0;
  words[2] = 0;
  words[3] = 0;
}

// The row's peer (saddr) and local (daddr) address words: 16 bytes each for
// IPv6, IPv4 in word 0 with the rest zeroed.
inline void StoreAddresses(PacketBatch* batch, uint32_t row, bool v6, const uint8_t* peer, const uint8_t* local) {
  if (v6) {
    std::memcpy(&batch->saddr[row * 4], peer, 16);
    std::memcpy(&batch->daddr[row * 4], local, 16);
  } else {
    StoreAddress4(&batch->saddr[row * 4], peer);
    StoreAddress4(&batch->daddr[row * 4], local);
  }
}

// The ICMP/ICMPv6 error path. `l3` is the outer packet (checked already).
inline NativeCounter ParseIcmp(const L3& l3, bool v6, const LocalConfig& config,
                               PacketBatch* batch, uint32_t row) {
  const uint8_t* icmp = l3.l4;
  const uint32_t length = l3.l4Length;
  if (length < kIcmpHeader) return kCounter_dropBadIcmp;
  if (v6) {
    if (icmp[0] != kIcmpv6Unreach) return kCounter_dropNotTcp;
    const uint64_t pseudo = PseudoHeaderSum(l3.ip + kIp6Saddr, l3.ip + kIp6Daddr, 16,
                                            kProtoIcmpv6, length);
    if (!ChecksumOk(pseudo, icmp, length)) return kCounter_dropBadIcmp;
  } else {
    if (icmp[0] != kIcmpUnreach || icmp[1] == kIcmpFragNeeded) return kCounter_dropNotTcp;
    if (!ChecksumOk(0, icmp, length)) return kCounter_dropBadIcmp;
  }

  const uint8_t* quote = icmp + kIcmpHeader;
  uint32_t quoteLength = length - kIcmpHeader;
  const uint8_t* tcp;
  uint32_t tcpLength;
  const uint8_t* us;
  const uint8_t* peer;
  if (v6) {
    if (quoteLength < kIpv6Header || (quote[0] >> 4) != 6) return kCounter_dropBadIcmp;
    const uint8_t* p = quote + kIpv6Header;
    uint32_t remaining = quoteLength - kIpv6Header;
    uint8_t next = quote[kIp6NextHeader];
    if (WalkExtensions(&p, &remaining, &next) != kCounterCount || next != kProtoTcp)
      return kCounter_dropBadIcmp;
    tcp = p;
    tcpLength = remaining;
    us = quote + kIp6Saddr;
    peer = quote + kIp6Daddr;
    uint32_t words[4];
    std::memcpy(words, us, 16);
    if (!config.HasV6(words)) return kCounter_dropBadIcmp;
  } else {
    if (quoteLength < kIpv4Header || (quote[0] >> 4) != 4) return kCounter_dropBadIcmp;
    const uint32_t ihl = (quote[0] & 0x0f) * 4u;
    if (ihl < kIpv4Header || ihl > quoteLength) return kCounter_dropBadIcmp;
    if (quote[kIp4Protocol] != kProtoTcp) return kCounter_dropBadIcmp;
    if ((Load16(quote + kIp4FlagsFragment) & kIp4OffsetMask) != 0) return kCounter_dropBadIcmp;
    tcp = quote + ihl;
    tcpLength = quoteLength - ihl;
    us = quote + kIp4Saddr;
    peer = quote + kIp4Daddr;
    uint32_t word;
    std::memcpy(&word, us, 4);
    if (!config.HasV4(word)) return kCounter_dropBadIcmp;
  }
  if (tcpLength < kIcmpQuotedTcp) return kCounter_dropBadIcmp;
  const uint16_t ourPort = Load16(tcp + kTcpSport);
  if (!config.HasPort(ourPort)) return kCounter_dropBadIcmp;

  StoreAddresses(batch, row, v6, peer, us);
  batch->sport[row] = Load16(tcp + kTcpDport);
  batch->dport[row] = ourPort;
  batch->seq[row] = Load32(tcp + kTcpSeq);
  batch->ack[row] = tcpLength >= kTcpAck + 4 ? Load32(tcp + kTcpAck) : 0;
  batch->kind[row] = kKindUnreach;
  batch->tcpFlags[row] = 0;
  batch->window[row] = 0;
  batch->payloadLength[row] = 0;
  batch->payloadOffset[row] = kNoPayload;
  batch->mss[row] = 0;
  batch->wscale[row] = 0;
  batch->optFlags[row] = 0;
  batch->tsval[row] = 0;
  batch->tsecr[row] = 0;
  return kCounter_parsedUnreach;
}

// Reads the TCP options in [p, end). Returns false on an impossible length.
inline bool ParseOptions(const uint8_t* p, const uint8_t* end, PacketBatch* batch, uint32_t row) {
  uint8_t flags = 0;
  while (p < end) {
    const uint8_t kind = p[0];
    if (kind == kOptEol) break;
    if (kind == kOptNop) {
      p++;
      continue;
    }
    if (end - p < 2) return false;
    const uint8_t len = p[1];
    if (len < 2 || len > end - p) return false;
    switch (kind) {
      case kOptKindMss:
        // MSS 0 is no MSS at all (the peer gets the default, as Linux gives
        // it); below Linux's TCP_MIN_MSS the kernel would refuse the socket.
        if (len == kOptLenMss && Load16(p + 2) != 0) {
          const uint16_t mss = Load16(p + 2);
          batch->mss[row] = mss < kMinMss ? kMinMss : mss;
          flags |= kOptMss;
        }
        break;
      case kOptKindWscale:
        if (len == kOptLenWscale) {
          batch->wscale[row] = p[2] > kMaxWscale ? kMaxWscale : p[2];
          flags |= kOptWscale;
        }
        break;
      case kOptKindSackPermitted:
        if (len == kOptLenSackPermitted) flags |= kOptSackPermitted;
        break;
      case kOptKindTimestamps:
        if (len == kOptLenTimestamps) {
          batch->tsval[row] = Load32(p + 2);
          batch->tsecr[row] = Load32(p + 6);
          flags |= kOptTimestamps;
        }
        break;
      default:
        break;
    }
    p += len;
  }
  batch->optFlags[row] = flags;
  return true;
}

inline NativeCounter ParseTcp(const L3& l3, bool v6, const LocalConfig& config,
                              PacketBatch* batch, uint32_t row) {
  const uint8_t* tcp = l3.l4;
  const uint32_t length = l3.l4Length;
  if (length < kTcpHeader) return kCounter_dropTruncatedTcp;
  const uint32_t doff = (tcp[kTcpDataOffset] >> 4) * 4u;
  if (doff < kTcpHeader || doff > length) return kCounter_dropBadDataOffset;
  const uint16_t dport = Load16(tcp + kTcpDport);
  if (!config.HasPort(dport)) return kCounter_dropNotOurs;
  if (Load16(tcp + kTcpSport) == 0) return kCounter_dropBadSource;  // no socket can have port 0
  const uint64_t pseudo =
      v6 ? PseudoHeaderSum(l3.ip + kIp6Saddr, l3.ip + kIp6Daddr, 16, kProtoTcp, length)
         : PseudoHeaderSum(l3.ip + kIp4Saddr, l3.ip + kIp4Daddr, 4, kProtoTcp, length);
  if (!ChecksumOk(pseudo, tcp, length)) return kCounter_dropBadTcpChecksum;

  const uint8_t flags = tcp[kTcpFlags];
  uint8_t kind;
  NativeCounter parsed;
  if (flags & kTcpSyn) {
    if (flags & ~(kTcpSyn | kTcpEce | kTcpCwr)) return kCounter_dropBadFlags;
    kind = kKindSyn;
    parsed = kCounter_parsedSyn;
  } else if (flags & kTcpRst) {
    kind = kKindRst;
    parsed = kCounter_parsedRst;
  } else if (flags & kTcpAckFlag) {
    kind = kKindAck;
    parsed = kCounter_parsedAck;
  } else {
    return kCounter_dropBadFlags;
  }

  batch->mss[row] = 0;
  batch->wscale[row] = 0;
  batch->tsval[row] = 0;
  batch->tsecr[row] = 0;
  if (!ParseOptions(tcp + kTcpHeader, tcp + doff, batch, row)) return kCounter_dropBadOptionLength;

  StoreAddresses(batch, row, v6, v6 ? l3.ip + kIp6Saddr : l3.ip + kIp4Saddr, v6 ? l3.ip + kIp6Daddr : l3.ip + kIp4Daddr);
  batch->sport[row] = Load16(tcp + kTcpSport);
  batch->dport[row] = dport;
  batch->seq[row] = Load32(tcp + kTcpSeq);
  batch->ack[row] = Load32(tcp + kTcpAck);
  batch->window[row] = Load16(tcp + kTcpWindow);
  batch->tcpFlags[row] = flags;
  const uint32_t payload = length - doff;
  batch->payloadLength[row] = static_cast<uint16_t>(payload);
  batch->payloadOffset[row] = kNoPayload;
  if (payload > 0 && kind == kKindAck && batch->payloadUsed <= kPayloadArenaBytes - payload) {
    std::memcpy(batch->payload + batch->payloadUsed, tcp + doff, payload);
    batch->payloadOffset[row] = batch->payloadUsed;
    batch->payloadUsed += payload;
  }
  batch->kind[row] = kind;
  return parsed;
}

inline NativeCounter Parse(const uint8_t* frame, uint32_t length, uint16_t ringVlan,
                           double timeMs, const LocalConfig& config, PacketBatch* batch,
                           uint32_t row) {
  if (length < kEthHeader) return kCounter_dropTruncatedEthernet;
  uint32_t offset = kEthHeader;
  uint16_t ethertype = Load16(frame + 12);
  uint16_t vlan = ringVlan;
  if (ethertype == kEtherVlan) {
    if (ringVlan != 0) return kCounter_dropNotIp;
    if (length < kEthHeader + kVlanTag) return kCounter_dropTruncatedEthernet;
    vlan = Load16(frame + 14);
    ethertype = Load16(frame + 16);
    offset += kVlanTag;
    if (ethertype == kEtherVlan) return kCounter_dropNotIp;
  }

  L3 l3;
  l3.ip = frame + offset;
  const uint32_t available = length - offset;
  bool v6;
  if (ethertype == kEtherIpv4) {
    v6 = false;
    const uint8_t* ip = l3.ip;
    if (available < kIpv4Header) return kCounter_dropTruncatedIp;
    if ((ip[0] >> 4) != 4) return kCounter_dropBadIpVersion;
    const uint32_t ihl = (ip[0] & 0x0f) * 4u;
    if (ihl < kIpv4Header) return kCounter_dropBadIhl;
    if (ihl > available) return kCounter_dropTruncatedIp;
    const uint32_t total = Load16(ip + kIp4TotalLength);
    if (total < ihl || total > available) return kCounter_dropBadIpLength;
    if (!ChecksumOk(0, ip, ihl)) return kCounter_dropBadIpChecksum;
    if (Load16(ip + kIp4FlagsFragment) & (kIp4MoreFragments | kIp4OffsetMask))
      return kCounter_dropFragment;
    uint32_t daddr;
    std::memcpy(&daddr, ip + kIp4Daddr, 4);
    if (!config.HasV4(daddr)) return kCounter_dropNotOurs;
    if (IsBadSource4(ip + kIp4Saddr, config)) return kCounter_dropBadSource;
    l3.l4 = ip + ihl;
    l3.l4Length = total - ihl;
    l3.protocol = ip[kIp4Protocol];
    if (l3.protocol != kProtoTcp && l3.protocol != kProtoIcmp) return kCounter_dropNotTcp;
  } else if (ethertype == kEtherIpv6) {
    v6 = true;
    const uint8_t* ip = l3.ip;
    if (available < kIpv6Header) return kCounter_dropTruncatedIp;
    if ((ip[0] >> 4) != 6) return kCounter_dropBadIpVersion;
    const uint32_t payload = Load16(ip + kIp6PayloadLength);
    if (payload == 0 || payload > available - kIpv6Header) return kCounter_dropBadIpLength;
    const uint8_t* p = ip + kIpv6Header;
    uint32_t remaining = payload;
    uint8_t next = ip[kIp6NextHeader];
    const NativeCounter ext = WalkExtensions(&p, &remaining, &next);
    if (ext != kCounterCount) return ext;
    uint32_t daddr[4], saddr[4];
    std::memcpy(daddr, ip + kIp6Daddr, 16);
    std::memcpy(saddr, ip + kIp6Saddr, 16);
    if (!config.HasV6(daddr)) return kCounter_dropNotOurs;
    if (IsBadSource6(saddr, config)) return kCounter_dropBadSource;
    l3.l4 = p;
    l3.l4Length = remaining;
    l3.protocol = next;
    if (l3.protocol != kProtoTcp && l3.protocol != kProtoIcmpv6) return kCounter_dropNotTcp;
  } else {
    return kCounter_dropNotIp;
  }

  const NativeCounter result = l3.protocol == kProtoTcp ? ParseTcp(l3, v6, config, batch, row)
                                                        : ParseIcmp(l3, v6, config, batch, row);
  // ParseTcp/ParseIcmp filled their row's own fields; these are common.
  if (result == kCounter_parsedSyn || result == kCounter_parsedAck ||
      result == kCounter_parsedRst || result == kCounter_parsedUnreach) {
    batch->time[row] = timeMs;
    batch->vlan[row] = vlan;
    batch->family[row] = v6 ? 6 : 4;
    std::memcpy(&batch->mac[row * 6], frame + 6, 6);
    batch->hash[row] = 0;
    batch->cookie[row] = 0;
    batch->cookieState[row] = kCookieNotChecked;
  }
  return result;
}

}  // namespace

bool ParseFrame(const uint8_t* frame, uint32_t length, uint16_t ringVlan, double timeMs,
                const LocalConfig& config, PacketBatch* batch, uint32_t row,
                Counters* counters) {
  const NativeCounter result = Parse(frame, length, ringVlan, timeMs, config, batch, row);
  counters->Bump(result);
  return result == kCounter_parsedSyn || result == kCounter_parsedAck ||
         result == kCounter_parsedRst || result == kCounter_parsedUnreach;
}

bool LocateTcp(const uint8_t* frame, uint32_t length, TcpPlace* place) {
  uint32_t l3 = kEthHeader;
  if (length < l3) return false;
  uint16_t type = Load16(frame + 12);
  if (type == kEtherVlan) {
    l3 = kEthHeader + kVlanTag;
    if (length < l3) return false;
    type = Load16(frame + 16);
  }
  const uint8_t* ip = frame + l3;
  if (type == kEtherIpv4) {
    if (length < l3 + kIpv4Header || ip[kIp4Protocol] != kProtoTcp) return false;
    const uint32_t ihl = 4u * (ip[0] & 0x0f);
    if (ihl < kIpv4Header) return false;
    *place = TcpPlace{l3 + ihl, l3 + Load16(ip + kIp4TotalLength), 4};
    return true;
  }
  if (type == kEtherIpv6) {
    if (length < l3 + kIpv6Header || ip[kIp6NextHeader] != kProtoTcp) return false;
    *place = TcpPlace{l3 + kIpv6Header, l3 + kIpv6Header + Load16(ip + kIp6PayloadLength), 6};
    return true;
  }
  return false;
}

void CompletePartialChecksum(uint8_t* frame, uint32_t length) {
  TcpPlace t;
  if (!LocateTcp(frame, length, &t) || t.end > length || t.l4 + kTcpHeader > t.end) return;
  // The checksum field already holds the pseudo-header sum.
  uint16_t c = static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(0, frame + t.l4, t.end - t.l4)));
  std::memcpy(frame + t.l4 + 16, &c, 2);
}

}  // namespace syncache::wire
