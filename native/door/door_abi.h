/* The door's contract between its XDP program (door.bpf.c) and its loader
 * (door_loader.cc): the maps, their keys and values, and the counters. Plain
 * C on <linux/types.h>, so clang -target bpf and the addon's C++ compiler
 * read the same bytes.
 *
 * Who writes what (every map is written by the owner in userspace and only
 * read by the program, but the counters and `admitted`):
 *   config     one door_config: cookie flags, the SYN-ACK's own fields
 *   secrets    two door_secret slots; config.active_slot names the one new
 *              cookies use (write the inactive slot, then flip the byte)
 *   ports      one door_ports bitmap: the local ports we answer for
 *   addrs      door_addr -> 1: the local addresses we answer for
 *   reply_macs door_mac -> 1: the link-layer addresses of the gateways
 *              routing sends replies through on this interface; a SYN is
 *              answered in place only when it came from one (door.bpf.c
 *              says why); empty, every SYN goes on to userspace
 *   handed     door_flow -> door_handed: flows a kernel socket owns
 *   handed_hint one door_handed_hint, mapped into the owner: how many
 *              `handed` entries each slot of a hash of the flow has
 *              (door_handed_slot), so that a segment whose slot has none
 *              is not looked up in `handed`, a map whose 1M-bucket table a
 *              flood's random flows would miss in the caches on every SYN;
 *              whoever inserts adds 1 first, whoever deletes takes 1 away
 *              after (the program too, for the entries it deletes), both
 *              atomically, so a slot never counts fewer than it holds
 *   admitted   door_flow -> 1 (LRU): flows whose cookie ACK passed, written
 *              by the program so the segments behind that ACK follow it to
 *              userspace until the owner hands the flow over (which
 *              removes it)
 *   counters   per-CPU door_counters, which the loader sums
 *   calm       per-CPU door_calm, the program's own SYN count (calm_syns)
 *   xsks       XSKMAP, rx queue -> AF_XDP socket
 */
#ifndef SYNCACHE_DOOR_ABI_H
#define SYNCACHE_DOOR_ABI_H

#include <linux/types.h>

/* Counters: the names of native/boundary/counters.h and lib/engine/stats.ts
 * for the same events, so userspace adds them to its own; door* for what
 * only the door does. The door counts what it finishes itself (drops, SYNs
 * it answers, ACKs it refuses); what it hands on, userspace counts. */
#define DOOR_COUNTERS(X)                                                      \
  X(parsedSyn)                                                                \
  X(parsedAck)                                                                \
  X(dropBadIpLength)                                                          \
  X(dropBadIpChecksum)                                                        \
  X(dropFragment)                                                             \
  X(dropBadExtensionHeader)                                                   \
  X(dropBadSource)                                                            \
  X(dropTruncatedTcp)                                                         \
  X(dropBadDataOffset)                                                        \
  X(dropBadTcpChecksum)                                                       \
  X(dropBadFlags)                                                             \
  X(dropBadOptionLength)                                                      \
  X(skippedHandedOver)                                                        \
  X(synOnLiveFlow)        /* a SYN on an open socket's flow: left to it */    \
  X(cookiesMade)                                                              \
  X(cookiesChecked)                                                           \
  X(cookiesInvalid)                                                           \
  X(sendcookie)                                                               \
  X(synackssent)                                                              \
  X(failcookie)                                                               \
  X(doorRedirected)       /* to the AF_XDP socket of its rx queue */          \
  X(doorNoSocket)         /* no AF_XDP socket there: passed to the kernel */  \
  X(doorSynNotViaGateway) /* a SYN from no reply MAC: handed on, unanswered */ \
  X(doorKernelSocket)     /* not handed over here, but a kernel socket's */ \
  X(doorCalm)             /* a SYN passed to the kernel's listener: calm */

enum door_counter {
#define DOOR_COUNTER_ENUM(name) DOOR_C_##name,
  DOOR_COUNTERS(DOOR_COUNTER_ENUM)
#undef DOOR_COUNTER_ENUM
  DOOR_COUNTER_COUNT
};

struct door_counters {
  __u64 value[DOOR_COUNTER_COUNT];
};

/* door_config.flags */
#define DOOR_ANSWER_SYNS 1u /* answer SYNs with a cookie SYN-ACK (XDP_TX) */
#define DOOR_CHECK_ACKS 2u  /* check ACKs' cookies: invalid dropped, valid on */

/* One element; only the bytes that change are rewritten when the owner
 * writes it whole again (flags, active_slot, ts_offset), and each of those
 * is read once per frame, so a torn read mixes two consistent values. */
struct door_config {
  __u8 flags;        /* DOOR_ANSWER_SYNS | DOOR_CHECK_ACKS */
  __u8 active_slot;  /* 0 or 1: the secret new cookies use */
  __u8 wscale;       /* our window shift, sent when the peer offers one */
  __u8 reserved;
  __u16 window;      /* the SYN-ACK's raw window */
  __u16 mss4;        /* our MSS option, IPv4 */
  __u16 mss6;        /* IPv6 */
  __u16 reserved2;
  __u32 ts_offset;   /* TSval = (CLOCK_MONOTONIC ms + ts_offset) & ~1 */
  __u32 socket_mark; /* SO_MARK of the sockets handoffs make (0: none) */
  __u32 calm_syns;   /* SYNs a CPU passes to the kernel's listener per
                      * DOOR_CALM_WINDOW_NS while calm (0: never) */
};

/* The calm window, one per CPU: a SYN is passed to the kernel's listener
 * while neither this window nor the one before it saw more than
 * config.calm_syns SYNs on this CPU. */
#define DOOR_CALM_WINDOW_NS 100000000ull /* 100 ms */
struct door_calm {
  __u64 start;       /* bpf_ktime_get_ns() when this window began */
  __u32 count;       /* SYNs of ours seen in it */
  __u32 previous;    /* in the window before (0 if that one saw none) */
  __u64 last_pass;   /* when this CPU last passed a SYN to the listener */
};
/* For this long after a CPU last passed a SYN to the listener, a SYN it
 * does not pass is looked up first: a request socket of the kernel's on
 * its 4-tuple makes it a resent SYN of the kernel's handshake, which goes
 * to the kernel too (its SYN-ACK again), not to the responder (another
 * ISN, whose ACK the request socket would answer with a RST). Longer than
 * a client's first SYN retransmits (1, 3, 7 s). */
#define DOOR_CALM_REQUEST_NS 15000000000ull /* 15 s */

struct door_secret {
  __u32 valid;       /* 1 when key holds a live secret */
  __u32 key[4];      /* 16 bytes, as native/boundary/secrets.h holds them */
};

#define DOOR_PORT_WORDS 1024 /* 65536 bits */
struct door_ports {
  __u64 bits[DOOR_PORT_WORDS]; /* bit (port & 63) of word (port >> 6) */
};

struct door_mac {
  __u8 addr[6];      /* an Ethernet address as the frame carries it */
};

struct door_addr {
  __u32 family;      /* 4 or 6 */
  __u32 addr[4];     /* network order; IPv4 in addr[0], the rest 0 */
};

/* A flow as native/boundary/flow_words.h lays it out, in fewer bytes. */
struct door_flow {
  __u8 family;       /* 4 or 6 */
  __u8 pad;
  __u16 peer_port;   /* host order */
  __u16 local_port;  /* host order */
  __u16 pad2;
  __u32 peer[4];     /* network order; IPv4 in [0], the rest 0 */
  __u32 local[4];
};

struct door_handed {
  __u32 peer_isn;    /* the peer's ISN when it was handed over */
  __u32 closed;      /* 1 once its socket closed (TIME_WAIT): a SYN goes to userspace */
  /* What the peer has sent since (RFC 6191's inputs, which the ring's flow
   * set never sees for a flow the door passes to its socket): */
  __u32 seq_end;     /* just past its highest sequence (peer_isn + 1 at first) */
  __u32 ts_recent;   /* its newest TSval, valid once timestamps is 1 */
  __u32 timestamps;  /* 1 once one of its segments carried a timestamp */
};

#define DOOR_HANDED_HINT_SLOTS 16384 /* a power of two; 64 KiB of counts */
struct door_handed_hint {
  __u32 count[DOOR_HANDED_HINT_SLOTS];
};

/* The hint slot of a flow: its peer address and both ports, mixed. */
static inline __u32 door_handed_slot(const struct door_flow *flow)
{
  __u32 h = flow->peer[0] * 0x9e3779b1u ^ flow->peer[1] ^ flow->peer[2] * 0x85ebca6bu ^ flow->peer[3] ^
            ((__u32)flow->peer_port << 16 | flow->local_port) * 0xc2b2ae35u;
  h ^= h >> 16;
  return h & (DOOR_HANDED_HINT_SLOTS - 1);
}

#define DOOR_XSKS_MAX 64
#define DOOR_HANDED_MAX (1u << 20)
#define DOOR_ADMITTED_MAX 65536
#define DOOR_ADDRS_MAX 1024
#define DOOR_REPLY_MACS_MAX 64

#endif
