// Native counters: one per event on the packet path, in one array that
// TypeScript reads through a BigUint64Array view without a call.
// Every early exit in the packet path bumps exactly one of these.
#pragma once

#include <cstdint>

namespace syncache {

#define SYNCACHE_NATIVE_COUNTERS(X)                                          \
  /* ring */                                                                 \
  X(rxFrames)            /* frames taken from the RX ring */                 \
  X(rxBlocks)            /* ring blocks walked */                            \
  X(rxBatchFull)         /* receive() stopped because the batch was full */  \
  X(kernelPackets)       /* PACKET_STATISTICS tp_packets, accumulated */     \
  X(kernelDrops)         /* PACKET_STATISTICS tp_drops (AF_XDP: rx_dropped + rx_ring_full), accumulated */\
  X(kernelQueueFreezes)  /* PACKET_STATISTICS tp_freeze_q_cnt */             \
  X(txFrames)            /* frames handed to the TX ring */                  \
  X(txKicks)             /* send() calls that kicked the ring */             \
  X(txRingFull)          /* frames not sent: no free TX slot */              \
  X(txErrors)            /* kick failed */                                   \
  X(txBadRow)            /* send row with an unknown kind or family */       \
  X(rxBadFrame)          /* ring frame whose offsets run past its block (AF_XDP: outside an RX frame the kernel held) */\
  /* parse: accepted */                                                      \
  X(parsedSyn)                                                               \
  X(parsedAck)                                                               \
  X(parsedRst)                                                               \
  X(parsedUnreach)                                                           \
  /* parse: dropped, by reason */                                            \
  X(dropTruncatedEthernet)                                                   \
  X(dropNotIp)           /* ethertype we do not handle (ARP, ...) */         \
  X(dropTruncatedIp)                                                         \
  X(dropBadIpVersion)                                                        \
  X(dropBadIhl)                                                              \
  X(dropBadIpLength)     /* total/payload length disagrees with frame */     \
  X(dropBadIpChecksum)                                                       \
  X(dropFragment)                                                            \
  X(dropBadExtensionHeader)                                                  \
  X(dropNotTcp)          /* other protocol, or ICMP that is not an error */  \
  X(dropTruncatedTcp)                                                        \
  X(dropBadDataOffset)                                                       \
  X(dropBadOptionLength) /* option length 0, 1 or past the header */         \
  X(dropBadTcpChecksum)                                                      \
  X(dropBadFlags)        /* SYN+FIN, SYN+RST, no flags, SYN+ACK, FIN only */ \
  X(dropBadSource)       /* multicast, broadcast, unspecified, or ours */    \
  X(dropNotOurs)         /* destination address or port not configured */    \
  X(dropBadIcmp)         /* ICMP error too short or quoting something else */\
  X(skippedHandedOver)   /* parsed, but its flow is a kernel socket now */  \
  X(handedOverReopened)  /* a SYN reopened a handed-over 4-tuple: ours */    \
  X(synOnTimeWait)       /* SYN without timestamps on a closed socket's 4-tuple */\
  X(synOnLiveFlow)       /* SYN, new ISN, on an open socket's 4-tuple: left to it */\
  /* cookies */                                                              \
  X(cookiesMade)                                                             \
  X(cookiesChecked)                                                          \
  X(cookiesValid)                                                            \
  X(cookiesInvalid)                                                          \
  X(cookiesNoSecret)     /* SYN not cookied: active secret invalid/rewritten */\
  /* ring, appended */                                                       \
  X(linkErrors)          /* RX socket error (interface down): poll re-armed */\
  /* replies: where they go (native/route) */                                \
  X(replyUnresolved)     /* next hop has no link-layer address yet: dropped */\
  X(replyNoRoute)        /* routing sends it elsewhere (or nowhere): dropped */\
  X(nextHopProbes)       /* neighbour resolutions asked of the kernel */    \
  X(nextHopReloads)      /* route + neighbour mirror reloaded from dumps */ \
  X(nextHopTableFull)    /* a route or neighbour not mirrored: table full */\
  X(truncatedFrames)     /* frame longer than its ring slot (jumbo, GRO): dropped */\
  X(replyViaKernel)      /* next hop unresolved: reply sent through the kernel's IP output */\
  /* AF_XDP rings (io/xsk_ring.h) and XDP_STATISTICS, appended */            \
  X(ringBadIndex)        /* a kernel-written ring index out of range: not followed */\
  X(txBadCompletion)     /* a completion naming no frame in flight: dropped */\
  X(kernelRxRingFull)    /* XDP_STATISTICS rx_ring_full: RX ring full, dropped */\
  X(kernelFillRingEmpty) /* XDP_STATISTICS rx_fill_ring_empty_descs */       \
  X(kernelInvalidDescs)  /* XDP_STATISTICS rx_ + tx_invalid_descs */

enum NativeCounter : uint32_t {
#define SYNCACHE_COUNTER_ENUM(name) kCounter_##name,
  SYNCACHE_NATIVE_COUNTERS(SYNCACHE_COUNTER_ENUM)
#undef SYNCACHE_COUNTER_ENUM
  kCounterCount
};

struct Counters {
  uint64_t value[kCounterCount];
  void Bump(NativeCounter c) { value[c]++; }
  void Add(NativeCounter c, uint64_t n) { value[c] += n; }
};

}  // namespace syncache
