// Builds SYN-ACK, RST and ACK frames from send rows.
//
// A send row is oriented as the packet: saddr/sport = us, daddr/dport = the
// peer, mac = the peer's (or gateway's) MAC, vlan != 0 -> an 802.1Q tag with
// that TCI after the MACs.
//
//   Ethernet  dst = row.mac, src = srcMac [, 0x8100 TCI], ethertype
//   IPv4      IHL 5, TOS 0, id 0, DF, TTL 64, header checksum
//   IPv6      traffic class 0, flow label 0, hop limit 64
//   TCP       the row's ports, seq, ack, window; urgent 0; checksum over the
//             pseudo-header
//
// Flags: SynAck -> SYN|ACK. SendAck -> ACK. SendRst -> RST, or RST|ACK with
// the ack field when row.ack != 0 (a RST answering a segment without ACK
// must acknowledge it, RFC 9293 3.10.7.1; a RST to a stray ACK carries
// seq = its ack and no ACK flag; ack 0 therefore means "no ACK flag").
//
// Options, in Linux's order (tcp_options_write) so the frames look like the
// kernel's and stay 4-byte aligned:
//   SYN-ACK: MSS(4) | SACK_PERM+TS(12) or NOP NOP TS(12) or NOP NOP SACK_PERM(4)
//            | NOP WS(4)        -- at most 20 bytes
//   ACK/RST: NOP NOP TS(12) when the row has timestamps
// Frames are not padded to 60 bytes: the NIC pads short frames.
#include "wire/build.h"

#include <cstring>

#include "wire/checksum.h"
#include "wire/headers.h"

namespace syncache::wire {

namespace {

inline uint8_t* PutTimestamps(uint8_t* p, uint32_t tsval, uint32_t tsecr) {
  p[0] = kOptKindTimestamps;
  p[1] = kOptLenTimestamps;
  Store32(p + 2, tsval);
  Store32(p + 6, tsecr);
  return p + kOptLenTimestamps;
}

inline uint32_t OptionBytes(uint8_t kind, uint8_t opt) {
  if (kind != kKindSynAck) return (opt & kOptTimestamps) ? 12 : 0;
  uint32_t n = 0;
  if (opt & kOptMss) n += 4;
  if (opt & kOptTimestamps) n += 12;
  else if (opt & kOptSackPermitted) n += 4;
  if (opt & kOptWscale) n += 4;
  return n;
}

inline uint8_t* PutOptions(uint8_t* p, const PacketBatch& batch, uint32_t row, uint8_t kind,
                           uint8_t opt) {
  if (kind != kKindSynAck) {
    if (opt & kOptTimestamps) {
      p[0] = kOptNop;
      p[1] = kOptNop;
      p = PutTimestamps(p + 2, batch.tsval[row], batch.tsecr[row]);
    }
    return p;
  }
  if (opt & kOptMss) {
    p[0] = kOptKindMss;
    p[1] = kOptLenMss;
    Store16(p + 2, batch.mss[row]);
    p += kOptLenMss;
  }
  if (opt & kOptTimestamps) {
    if (opt & kOptSackPermitted) {
      p[0] = kOptKindSackPermitted;
      p[1] = kOptLenSackPermitted;
    } else {
      p[0] = kOptNop;
      p[1] = kOptNop;
    }
    p = PutTimestamps(p + 2, batch.tsval[row], batch.tsecr[row]);
  } else if (opt & kOptSackPermitted) {
    p[0] = kOptNop;
    p[1] = kOptNop;
    p[2] = kOptKindSackPermitted;
    p[3] = kOptLenSackPermitted;
    p += 4;
  }
  if (opt & kOptWscale) {
    p[0] = kOptNop;
    p[1] = kOptKindWscale;
    p[2] = kOptLenWscale;
    p[3] = batch.wscale[row];
    p += 4;
  }
  return p;
}

}  // namespace

uint32_t BuildFrame(const PacketBatch& batch, uint32_t row, const uint8_t srcMac[6],
                    uint8_t* out, uint32_t capacity, Counters* counters) {
  const uint8_t kind = batch.kind[row];
  const uint8_t family = batch.family[row];
  uint8_t tcpFlags;
  switch (kind) {
    case kKindSynAck: tcpFlags = kTcpSyn | kTcpAckFlag; break;
    case kKindSendAck: tcpFlags = kTcpAckFlag; break;
    case kKindSendRst: tcpFlags = batch.ack[row] != 0 ? (kTcpRst | kTcpAckFlag) : kTcpRst; break;
    default: tcpFlags = 0; break;
  }
  if (tcpFlags == 0 || (family != 4 && family != 6)) {
    counters->Bump(kCounter_txBadRow);
    return 0;
  }
  const uint8_t opt = batch.optFlags[row];
  const uint16_t vlan = batch.vlan[row];
  const uint32_t l2 = kEthHeader + (vlan != 0 ? kVlanTag : 0);
  const uint32_t l3 = family == 4 ? kIpv4Header : kIpv6Header;
  const uint32_t tcpLength = kTcpHeader + OptionBytes(kind, opt);
  const uint32_t total = l2 + l3 + tcpLength;
  if (out == nullptr || capacity < total) {
    counters->Bump(kCounter_txBadRow);
    return 0;
  }

  std::memcpy(out, &batch.mac[row * 6], 6);
  std::memcpy(out + 6, srcMac, 6);
  if (vlan != 0) {
    Store16(out + 12, kEtherVlan);
    Store16(out + 14, vlan);
  }
  Store16(out + l2 - 2, family == 4 ? kEtherIpv4 : kEtherIpv6);

  uint8_t* ip = out + l2;
  uint8_t* tcp = ip + l3;
  const uint8_t* saddr = reinterpret_cast<const uint8_t*>(&batch.saddr[row * 4]);
  const uint8_t* daddr = reinterpret_cast<const uint8_t*>(&batch.daddr[row * 4]);
  uint64_t pseudo;
  if (family == 4) {
    ip[0] = 0x45;
    ip[1] = 0;
    Store16(ip + kIp4TotalLength, static_cast<uint16_t>(l3 + tcpLength));
    Store16(ip + 4, 0);
    Store16(ip + kIp4FlagsFragment, kIp4DontFragment);
    ip[kIp4Ttl] = kDefaultTtl;
    ip[kIp4Protocol] = kProtoTcp;
    Store16(ip + kIp4Checksum, 0);
    std::memcpy(ip + kIp4Saddr, saddr, 4);
    std::memcpy(ip + kIp4Daddr, daddr, 4);
    ChecksumStore(ip + kIp4Checksum, ChecksumAdd(0, ip, kIpv4Header));
    pseudo = PseudoHeaderSum(saddr, daddr, 4, kProtoTcp, tcpLength);
  } else {
    Store32(ip, 0x60000000u);
    Store16(ip + kIp6PayloadLength, static_cast<uint16_t>(tcpLength));
    ip[kIp6NextHeader] = kProtoTcp;
    ip[kIp6HopLimit] = kDefaultTtl;
    std::memcpy(ip + kIp6Saddr, saddr, 16);
    std::memcpy(ip + kIp6Daddr, daddr, 16);
    pseudo = PseudoHeaderSum(saddr, daddr, 16, kProtoTcp, tcpLength);
  }

  Store16(tcp + kTcpSport, batch.sport[row]);
  Store16(tcp + kTcpDport, batch.dport[row]);
  Store32(tcp + kTcpSeq, batch.seq[row]);
  Store32(tcp + kTcpAck, (tcpFlags & kTcpAckFlag) ? batch.ack[row] : 0);
  tcp[kTcpDataOffset] = static_cast<uint8_t>((tcpLength / 4) << 4);
  tcp[kTcpFlags] = tcpFlags;
  Store16(tcp + kTcpWindow, batch.window[row]);
  Store16(tcp + kTcpChecksum, 0);
  Store16(tcp + kTcpUrgent, 0);
  PutOptions(tcp + kTcpHeader, batch, row, kind, opt);
  ChecksumStore(tcp + kTcpChecksum, ChecksumAdd(pseudo, tcp, tcpLength));
  return total;
}

}  // namespace syncache::wire
