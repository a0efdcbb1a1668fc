/* The door: an XDP program in front of the responder, on the interface it
 * protects. Every frame gets one verdict, cheapest first:
 *
 *   not ours                       XDP_PASS  (no map lookup but for TCP)
 *     a frame is ours once its destination address and TCP port are in
 *     `addrs` and `ports`; until then it is the kernel's, malformed or not
 *     (a truncated header, a later fragment, an extension-header chain we
 *     do not walk cannot be shown to be ours). ICMP is ours only as an
 *     unreachable quoting a segment from our address and port.
 *   a flow a kernel socket owns    XDP_PASS  skippedHandedOver (`handed`,
 *     looked up only when `handed_hint` counts an entry in the flow's slot:
 *     a flood's random flows would miss the big map's table in the caches);
 *     a SYN on it while its socket is open: synOnLiveFlow. Its ACKs and
 *     RSTs move what the peer has sent (highest sequence, newest
 *     timestamp), which the owner gives the ring's flow set when the socket
 *     closes. A SYN on one whose socket closed goes on to userspace (never
 *     answered here), whose flow set decides whether it may open a new
 *     connection there (RFC 6191; the kernel's TIME_WAIT socket would
 *     answer it with a RST: there is no listener); the flow leaves `handed`,
 *     and the owner puts it back, closed, where userspace refuses the SYN,
 *     so the old connection's stragglers are the kernel's again
 *   malformed                      XDP_DROP  the drop* counter that
 *     native/wire/parse.cc bumps for it, checked in its order from where
 *     the frame became ours (IP length, IP checksum, fragment, source;
 *     TCP length, data offset, source port)
 *   a segment but a SYN of a flow  XDP_PASS  doorKernelSocket: a socket
 *   that is not in `handed`          out of a handoff (SO_MARK socket_mark,
 *     past repair) holds its 4-tuple - a connection handed over before this
 *     door was attached (another protect() of the process, a restarted
 *     service's closing sockets). Sockets still in repair carry no mark:
 *     their segments go on to userspace, which injects them. With calm_syns
 *     set also: a request socket of the owner's calm listener holds it, or
 *     the segment is an ACK with that listener's own syncookie
 *   a SYN, calm_syns set, no       XDP_PASS  doorCalm: to the owner's calm
 *   DOOR_ANSWER_SYNS, this CPU's     listener (SO_MARK socket_mark), while
 *     window and the one before saw at most calm_syns SYNs (door_calm);
 *     and any SYN whose 4-tuple a kernel request socket holds, within
 *     DOOR_CALM_REQUEST_NS of the CPU's last such pass
 *   SYN, config DOOR_ANSWER_SYNS,  XDP_TX    the cookie SYN-ACK, built in
 *   from a MAC in `reply_macs`     place: TCP checksum (dropBadTcpChecksum),
 *     flags (dropBadFlags), options (dropBadOptionLength) first; parsedSyn
 *     cookiesMade sendcookie synackssent
 *   such a SYN from another MAC    doorSynNotViaGateway, and on to
 *     userspace as everything else ours (below), which routes its reply
 *   ACK, config DOOR_CHECK_ACKS    (owner's choice: no entry can exist)
 *     a flow whose cookie ACK passed already (`admitted`): on to userspace;
 *     else the same checksum/flags/options checks, then the cookie:
 *     invalid XDP_DROP parsedAck cookiesChecked cookiesInvalid failcookie;
 *     valid: the flow is admitted, and on to userspace
 *   everything else ours           XDP_REDIRECT into `xsks` at the frame's
 *     rx queue (doorRedirected); no socket there: XDP_PASS (doorNoSocket)
 *
 * What the door finishes itself it counts under the names userspace would
 * have used for it; what it hands on userspace counts, so the two add up to
 * what one path alone would have counted. The TCP checksum is summed only
 * where the door finishes a segment (userspace checks the rest), and only
 * up to DOOR_SUM_MAX_BYTES: a longer segment goes on unchecked.
 *
 * The SYN-ACK is the one native/wire/build.cc builds from the row the
 * engine writes for a cookie SYN (engine.ts synAckFromRow): IPv4 IHL 5, TOS
 * 0, id 0, DF, TTL 64 / IPv6 class 0, label 0, hop limit 64; seq = cookie,
 * ack = ISN + 1, config.window; options in Linux's order: MSS (config mss4 /
 * mss6), SACK-permitted and timestamps as the SYN offered them (TSval =
 * monotonic ms + config.ts_offset, even; TSecr = the SYN's TSval), window
 * scale (config.wscale) if the SYN had one. Ethernet addresses are swapped
 * and an 802.1Q tag stays: the reply goes back to the SYN's source MAC.
 *
 * Which is why a SYN is answered here only from a reply MAC: the MAC of a
 * gateway that routing sends replies through on this interface (the owner
 * writes the resolved next hops of the namespace's routes via a gateway;
 * bpf_fib_lookup would route each reply, but wants forwarding on). The
 * userspace path sends every reply to the next hop routing and neighbours
 * give for the client's address, never to the source MAC: a host on the
 * segment that spoofs another's address, or an off-link one, must not get
 * the SYN-ACK and its cookie. A SYN from an on-link host's MAC (or one we
 * do not know) therefore goes to userspace, whose reply goes where the
 * kernel's would. A SYN from a gateway's MAC has come through that router:
 * for an off-link source behind it, its MAC is the next hop routing gives
 * (the common flood case, answered here); where routing would pick another
 * gateway or the source's own MAC (an on-link address, asymmetric routes),
 * the reply still goes to a router the host already routes through, which
 * forwards it to the address's owner, not to whoever sent the SYN. (A host
 * that takes over the gateway's MAC on the switch gets what the kernel
 * sends the gateway as well.)
 *
 * Secrets: config.active_slot names the slot new cookies use; the owner
 * writes the inactive slot, then flips that one byte, so a SYN never reads a
 * slot being written. An ACK may name the slot being rewritten (the secret
 * being retired, whose cookies are expiring); a torn key then fails the MAC
 * as the new key would.
 *
 * Every read of the frame is bounded against data_end; the loops (checksum,
 * options) are bounded and live in global functions the verifier checks
 * once (door_sum.h, door_options.h, door_md5.h). */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "door_abi.h"
#include "door_cookie.h"
#include "door_options.h"
#include "door_sum.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct door_config);
} config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct door_secret);
} secrets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct door_ports);
} ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, DOOR_ADDRS_MAX);
  __type(key, struct door_addr);
  __type(value, __u8);
} addrs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, DOOR_REPLY_MACS_MAX);
  __type(key, struct door_mac);
  __type(value, __u8);
} reply_macs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, DOOR_HANDED_MAX);
  __type(key, struct door_flow);
  __type(value, struct door_handed);
} handed SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct door_handed_hint);
} handed_hint SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, DOOR_ADMITTED_MAX);
  __type(key, struct door_flow);
  __type(value, __u8);
} admitted SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct door_counters);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct door_calm);
} calm SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, DOOR_XSKS_MAX);
  __type(key, __u32);
  __type(value, __u32);
} xsks SEC(".maps");

#define ETHER_IPV4 0x0800
#define ETHER_IPV6 0x86dd
#define ETHER_VLAN 0x8100

#define PROTO_HOP_BY_HOP 0
#define PROTO_ICMPV6 58
#define PROTO_ROUTING 43
#define PROTO_FRAGMENT 44
#define PROTO_DEST_OPTIONS 60
#define MAX_EXTENSION_HEADERS 8
/* Extension headers past this many bytes are not walked: the frame stays
 * the kernel's (door_sum.h's DOOR_SUM_MAX_OFFSET leaves room for them). */
#define MAX_EXTENSION_BYTES 512

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define TCP_ECE 0x40
#define TCP_CWR 0x80

#define DEFAULT_TTL 64

/* A segment that is ours, as far as it has been read. */
struct segment {
  struct door_flow flow; /* peer = the frame's source */
  __u64 addresses;       /* both addresses summed (pseudo-header part) */
  __u32 l2;              /* 14, or 18 with an 802.1Q tag */
  __u32 l4;              /* where the TCP header starts */
  __u32 l4_length;       /* TCP bytes by the IP header's lengths */
  __u32 reopen;          /* a SYN on a handed-over flow whose socket closed */
};

static __always_inline void bump(enum door_counter c)
{
  __u32 zero = 0;
  struct door_counters *counts = bpf_map_lookup_elem(&counters, &zero);
  if (counts)
    counts->value[c]++;
}

static __always_inline int drop(enum door_counter reason)
{
  bump(reason);
  return XDP_DROP;
}

static __always_inline int hand_on(struct xdp_md *ctx)
{
  int verdict = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
  bump(verdict == XDP_REDIRECT ? DOOR_C_doorRedirected : DOOR_C_doorNoSocket);
  return verdict;
}

static __always_inline __u16 load16(const __u8 *p)
{
  return (__u16)(p[0] << 8 | p[1]);
}

static __always_inline __u32 load32(const __u8 *p)
{
  return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

static __always_inline void store16(__u8 *p, __u16 v)
{
  p[0] = v >> 8;
  p[1] = v;
}

static __always_inline void store32(__u8 *p, __u32 v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static __always_inline int port_ours(__u16 port)
{
  __u32 zero = 0;
  struct door_ports *p = bpf_map_lookup_elem(&ports, &zero);
  return p && (p->bits[(port >> 6) & (DOOR_PORT_WORDS - 1)] >> (port & 63)) & 1;
}

static __always_inline int address_ours(__u32 family, const __u32 *addr)
{
  struct door_addr key = {.family = family};
  key.addr[0] = addr[0];
  key.addr[1] = addr[1];
  key.addr[2] = addr[2];
  key.addr[3] = addr[3];
  return bpf_map_lookup_elem(&addrs, &key) != NULL;
}

/* Whether the frame's source MAC is a gateway's that routing sends replies
 * through (see the header). */
static __always_inline int from_reply_mac(struct xdp_md *ctx)
{
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  __u8 *eth = data;
  if ((void *)(eth + 12) > end)
    return 0;
  struct door_mac source;
  __builtin_memcpy(source.addr, eth + 6, 6);
  return bpf_map_lookup_elem(&reply_macs, &source) != NULL;
}

/* How many `handed` entries share the flow's hint slot (door_abi.h). */
static __always_inline __u32 *handed_count(const struct door_flow *flow)
{
  __u32 zero = 0;
  struct door_handed_hint *hint = bpf_map_lookup_elem(&handed_hint, &zero);
  if (!hint)
    return NULL;
  return &hint->count[door_handed_slot(flow) & (DOOR_HANDED_HINT_SLOTS - 1)];
}

static __always_inline int handed_over(const struct door_flow *flow)
{
  const __u32 *count = handed_count(flow);
  if (count && *(volatile const __u32 *)count == 0)
    return 0;
  return bpf_map_lookup_elem(&handed, flow) != NULL;
}

/* How far from the highest sequence a peer's segment may lie and still move
 * it (native/pipeline/flow_set.h, PeerProgress::kPlausible). */
#define DOOR_PLAUSIBLE (1 << 20)

/* A handed-over flow's ACK or RST (TCP header at `tcp`, `l4_length` TCP
 * bytes by the IP lengths) moves what its peer has sent (door_handed), as
 * PeerProgress::Observe does in the ring for the packet backend: a segment
 * further than DOOR_PLAUSIBLE from the highest sequence so far is not taken
 * in (a blind spoofer must not move the old connection's clock). The
 * timestamp is read where every stack puts it after the SYN (NOP, NOP,
 * TS at the options' start); a segment with another layout moves only the
 * sequence. */
static __always_inline void observe(struct door_handed *h, const __u8 *tcp, void *end, __u32 l4_length)
{
  if ((void *)(tcp + 20) > end)
    return;
  const __u8 flags = tcp[13];
  if (!(flags & 0x14))
    return;
  const __u32 doff = (tcp[12] >> 4) * 4;
  if (doff < 20 || doff > l4_length)
    return;
  const __u32 seq = load32(tcp + 4);
  const __s32 offset = (__s32)(seq - h->seq_end);
  if (offset > DOOR_PLAUSIBLE || offset < -DOOR_PLAUSIBLE)
    return;
  const __u32 seq_end = seq + (l4_length - doff) + (flags & 0x01);
  if ((__s32)(seq_end - h->seq_end) > 0)
    h->seq_end = seq_end;
  if (doff < 32 || (void *)(tcp + 32) > end)
    return;
  if (tcp[20] != 1 || tcp[21] != 1 || tcp[22] != 8 || tcp[23] != 10)
    return;
  const __u32 tsval = load32(tcp + 24);
  if (!h->timestamps || (__s32)(tsval - h->ts_recent) > 0)
    h->ts_recent = tsval;
  h->timestamps = 1;
}

/* What a segment of `flow` (TCP header at `tcp`) is to the handed-over
 * flows: NOT_HANDED; HANDED, the socket's own; or REOPEN, a SYN on one whose
 * socket closed. Such a SYN goes to userspace, never answered here, and the
 * flow leaves `handed`: whichever shard the SYN reaches decides the reopen
 * (RFC 6191), and one that refuses it marks the flow closed here again. */
enum { NOT_HANDED, HANDED, REOPEN };
static __always_inline int handed_over_segment(const struct door_flow *flow, const __u8 *tcp, void *end, __u32 l4_length)
{
  __u32 *count = handed_count(flow);
  if (count && *(volatile __u32 *)count == 0)
    return NOT_HANDED; /* no entry in its slot: none for this flow */
  struct door_handed *h = bpf_map_lookup_elem(&handed, flow);
  if (!h)
    return NOT_HANDED;
  const int syn = (void *)(tcp + 14) <= end && (tcp[13] & 0x02);
  if (syn && h->closed) {
    if (bpf_map_delete_elem(&handed, flow) == 0 && count)
      __sync_fetch_and_add(count, -1); /* after the delete: never fewer than the slot holds */
    return REOPEN;
  }
  if (syn) {
    /* A SYN on an open connection (RFC 5961 4: the socket answers it with
     * a challenge ACK), counted as userspace counts it. */
    bump((tcp[13] & 0x17) == 0x02 ? DOOR_C_synOnLiveFlow : DOOR_C_skippedHandedOver);
    return HANDED;
  }
  bump(DOOR_C_skippedHandedOver);
  observe(h, tcp, end, l4_length);
  return HANDED;
}

/* A 16-bit value in network order, added as the native load of its bytes. */
static __always_inline __u64 be16_word(__u16 v)
{
  return bpf_htons(v);
}

static __always_inline __u64 pseudo_header(__u64 addresses, __u32 length)
{
  return addresses + be16_word(IPPROTO_TCP) + be16_word(length >> 16) + be16_word(length & 0xffff);
}

/* The SYN's answer, written over it: Ethernet addresses swapped (a tag
 * stays where it is), then IP and TCP from `s` and the cookie. */
static __always_inline int answer_syn(struct xdp_md *ctx, const struct segment *s, const struct door_config *cfg,
                                      const struct door_options *o, __u32 isn, __u32 cookie)
{
  const int v6 = s->flow.family == 6;
  const int ts = o->flags & DOOR_OPT_TIMESTAMPS;
  const int sack = o->flags & DOOR_OPT_SACK_PERMITTED;
  const int ws = o->flags & DOOR_OPT_WSCALE;
  const __u32 l3 = v6 ? 40 : 20;
  const __u32 tcp_length = 20 + 4 + (ts ? 12 : sack ? 4 : 0) + (ws ? 4 : 0);
  const __u32 l2 = s->l2 == 18 ? 18 : 14;
  const int delta = (int)(l2 + l3 + tcp_length) - (int)bpf_xdp_get_buff_len(ctx);
  if (delta != 0 && bpf_xdp_adjust_tail(ctx, delta) != 0)
    return hand_on(ctx); /* no room to grow it here: userspace answers */

  /* The frame was sized for what follows: the bounds checks below are the
   * verifier's, none fails. */
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  __u8 *eth = data;
  if ((void *)(eth + 12) > end)
    return XDP_DROP;
  __u8 mac[6];
  __builtin_memcpy(mac, eth, 6);
  __builtin_memcpy(eth, eth + 6, 6);
  __builtin_memcpy(eth + 6, mac, 6);
  __u8 *ip = data + l2;
  if ((void *)(ip + 20) > end)
    return XDP_DROP;
  if (v6) {
    if ((void *)(ip + 40) > end)
      return XDP_DROP;
    store32(ip, 0x60000000u);
    store16(ip + 4, tcp_length);
    ip[6] = IPPROTO_TCP;
    ip[7] = DEFAULT_TTL;
    __u32 *saddr = (__u32 *)(ip + 8);
    __u32 *daddr = (__u32 *)(ip + 24);
    saddr[0] = s->flow.local[0];
    saddr[1] = s->flow.local[1];
    saddr[2] = s->flow.local[2];
    saddr[3] = s->flow.local[3];
    daddr[0] = s->flow.peer[0];
    daddr[1] = s->flow.peer[1];
    daddr[2] = s->flow.peer[2];
    daddr[3] = s->flow.peer[3];
  } else {
    ip[0] = 0x45;
    ip[1] = 0;
    store16(ip + 2, 20 + tcp_length);
    store16(ip + 4, 0);
    store16(ip + 6, 0x4000); /* DF */
    ip[8] = DEFAULT_TTL;
    ip[9] = IPPROTO_TCP;
    store16(ip + 10, 0);
    *(__u32 *)(ip + 12) = s->flow.local[0];
    *(__u32 *)(ip + 16) = s->flow.peer[0];
  }

  __u8 *tcp = ip + l3;
  if ((void *)(tcp + 24) > end)
    return XDP_DROP;
  store16(tcp, s->flow.local_port);
  store16(tcp + 2, s->flow.peer_port);
  store32(tcp + 4, cookie);
  store32(tcp + 8, isn + 1);
  tcp[12] = (tcp_length / 4) << 4;
  tcp[13] = TCP_SYN | TCP_ACK;
  store16(tcp + 14, cfg->window);
  store16(tcp + 16, 0);
  store16(tcp + 18, 0);
  tcp[20] = 2; /* MSS */
  tcp[21] = 4;
  store16(tcp + 22, v6 ? cfg->mss6 : cfg->mss4);
  __u8 *opt = tcp + 24;
  if (ts) {
    if ((void *)(opt + 12) > end)
      return XDP_DROP;
    if (sack) {
      opt[0] = 4;
      opt[1] = 2;
    } else {
      opt[0] = 1;
      opt[1] = 1;
    }
    opt[2] = 8;
    opt[3] = 10;
    __u32 now = (__u32)(bpf_ktime_get_ns() / 1000000) + cfg->ts_offset;
    store32(opt + 4, now & ~1u);
    store32(opt + 8, o->tsval);
    opt += 12;
  } else if (sack) {
    if ((void *)(opt + 4) > end)
      return XDP_DROP;
    opt[0] = 1;
    opt[1] = 1;
    opt[2] = 4;
    opt[3] = 2;
    opt += 4;
  }
  if (ws) {
    if ((void *)(opt + 4) > end)
      return XDP_DROP;
    opt[0] = 1;
    opt[1] = 3;
    opt[2] = 3;
    opt[3] = cfg->wscale;
  }

  if (!v6) {
    __u32 sum = door_sum(ctx, l2, 20, 0);
    data = (void *)(long)ctx->data;
    end = (void *)(long)ctx->data_end;
    ip = data + l2;
    if ((void *)(ip + 20) > end || sum == DOOR_SUM_REFUSED)
      return XDP_DROP;
    *(__u16 *)(ip + 10) = (__u16)~sum;
  }
  __u32 sum = door_sum(ctx, l2 + l3, tcp_length, pseudo_header(s->addresses, tcp_length));
  data = (void *)(long)ctx->data;
  end = (void *)(long)ctx->data_end;
  tcp = data + l2 + l3;
  if ((void *)(tcp + 20) > end || sum == DOOR_SUM_REFUSED)
    return XDP_DROP;
  *(__u16 *)(tcp + 16) = (__u16)~sum;

  bump(DOOR_C_parsedSyn);
  bump(DOOR_C_cookiesMade);
  bump(DOOR_C_sendcookie);
  bump(DOOR_C_synackssent);
  return XDP_TX;
}

enum calm_verdict {
  CALM_NO,     /* the responder's */
  CALM_PASS,   /* the kernel's listener's */
  CALM_RECENT, /* the responder's unless the kernel has a request socket on it */
};

/* Counts a SYN of ours in this CPU's window and judges it: the listener's
 * while `may_pass` and neither this window nor the one before saw more
 * than `limit` (this SYN counted); else CALM_RECENT for DOOR_CALM_REQUEST_NS
 * after the CPU last passed one. */
static __always_inline enum calm_verdict calm_syn(__u32 limit, int may_pass)
{
  __u32 zero = 0;
  struct door_calm *c = bpf_map_lookup_elem(&calm, &zero);
  if (!c)
    return CALM_NO;
  const __u64 now = bpf_ktime_get_ns();
  const __u64 age = now - c->start;
  if (age >= DOOR_CALM_WINDOW_NS) {
    c->previous = age >= 2 * DOOR_CALM_WINDOW_NS ? 0 : c->count;
    c->start = now;
    c->count = 0;
  }
  c->count++;
  if (may_pass && c->count <= limit && c->previous <= limit) {
    c->last_pass = now;
    return CALM_PASS;
  }
  return now - c->last_pass < DOOR_CALM_REQUEST_NS ? CALM_RECENT : CALM_NO;
}

/* The flow as the kernel's socket lookup takes it; returns its size. */
static __always_inline __u32 flow_tuple(const struct door_flow *flow, struct bpf_sock_tuple *t)
{
  if (flow->family == 4) {
    t->ipv4.saddr = flow->peer[0];
    t->ipv4.daddr = flow->local[0];
    t->ipv4.sport = bpf_htons(flow->peer_port);
    t->ipv4.dport = bpf_htons(flow->local_port);
    return sizeof(t->ipv4);
  }
  __builtin_memcpy(t->ipv6.saddr, flow->peer, 16);
  __builtin_memcpy(t->ipv6.daddr, flow->local, 16);
  t->ipv6.sport = bpf_htons(flow->peer_port);
  t->ipv6.dport = bpf_htons(flow->local_port);
  return sizeof(t->ipv6);
}

/* Whether a request socket (SYN-RECV) of the kernel's holds the flow. */
static __always_inline int kernel_request(struct xdp_md *ctx, const struct door_flow *flow)
{
  struct bpf_sock_tuple t = {};
  const __u32 size = flow_tuple(flow, &t);
  struct bpf_sock *skc = bpf_skc_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
  if (!skc)
    return 0;
  const int request = skc->state == BPF_TCP_NEW_SYN_RECV;
  bpf_sk_release(skc);
  return request;
}

/* Whether the kernel's syncookies made the cookie this ACK carries, for the
 * listener `sk` (it answers with cookies once its SYN queue overflows). */
static __always_inline int kernel_cookie(struct xdp_md *ctx, const struct segment *s, struct bpf_sock *sk)
{
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  const __u32 l2 = s->l2;
  const __u32 l4 = s->l4;
  if (l2 > 18 || l4 > DOOR_SUM_MAX_OFFSET)
    return 0;
  __u8 *ip = (__u8 *)data + l2;
  __u8 *tcp = (__u8 *)data + l4;
  if ((void *)(tcp + 20) > end)
    return 0;
  if (s->flow.family == 4) {
    if ((void *)(ip + 20) > end)
      return 0;
    return bpf_tcp_check_syncookie(sk, ip, 20, (struct tcphdr *)tcp, 20) == 0;
  }
  if ((void *)(ip + 40) > end)
    return 0;
  return bpf_tcp_check_syncookie(sk, ip, 40, (struct tcphdr *)tcp, 20) == 0;
}

/* Whether a kernel socket outside `handed` holds the flow (see the header):
 * the kernel's own lookup, as its receive path makes it, finds
 *   a full socket, not a listener, that carries the handoffs' mark: ours;
 *   a request socket (SYN-RECV): ours while calm_syns is set - no SYN of
 *     ours reaches the kernel but one the door passed while calm;
 *   our listener (the mark), calm_syns set: ours if the ACK carries the
 *     kernel's own cookie;
 * and nothing else: a TIME_WAIT is no full socket (userspace decides a SYN
 * on it, RFC 6191, and may open a new connection there whose segments must
 * reach it). */
static __always_inline int kernel_socket(struct xdp_md *ctx, const struct segment *s, const struct door_config *cfg)
{
  struct bpf_sock_tuple t = {};
  const __u32 size = flow_tuple(&s->flow, &t);
  /* A full socket: an established one, or the listener when no socket
   * holds the 4-tuple or a request socket does (the kernel's lookup gives
   * the request socket's listener; bpf_sk_fullsock is not XDP's). */
  const __u32 mark = cfg->socket_mark;
  const __u32 calm_on = cfg->calm_syns != 0;
  struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
  if (sk) {
    /* Read once each, as loads at fixed offsets (the verifier allows no
     * pointer arithmetic on a socket, which a shared field address is). */
    const __u32 state = *(volatile __u32 *)&sk->state;
    const __u32 sk_mark = *(volatile __u32 *)&sk->mark;
    if (state != BPF_TCP_LISTEN) {
      bpf_sk_release(sk);
      return sk_mark == mark;
    }
    const int cookie = calm_on && sk_mark == mark && kernel_cookie(ctx, s, sk);
    bpf_sk_release(sk);
    if (cookie)
      return 1;
  }
  return calm_on && kernel_request(ctx, &s->flow);
}

/* A segment that is ours, its IP layer checked: TCP from here. */
static __always_inline int door_tcp(struct xdp_md *ctx, struct segment *s)
{
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  if (s->l4 > DOOR_SUM_MAX_OFFSET)
    return XDP_PASS;
  if (s->l4_length < 20)
    return drop(DOOR_C_dropTruncatedTcp);
  __u8 *tcp = data + s->l4;
  if ((void *)(tcp + 20) > end)
    return XDP_PASS;
  const __u32 doff = (tcp[12] >> 4) * 4;
  if (doff < 20 || doff > s->l4_length)
    return drop(DOOR_C_dropBadDataOffset);
  if (s->flow.peer_port == 0)
    return drop(DOOR_C_dropBadSource); /* no socket can have port 0 */

  __u32 zero = 0;
  const struct door_config *cfg = bpf_map_lookup_elem(&config, &zero);
  if (!cfg)
    return XDP_PASS;
  const __u8 flags = tcp[13];
  const __u32 seq = load32(tcp + 4);
  const __u32 ack = load32(tcp + 8);
  const int syn = flags & TCP_SYN;
  if (!syn && cfg->socket_mark != 0 && kernel_socket(ctx, s, cfg)) {
    bump(DOOR_C_doorKernelSocket);
    return XDP_PASS;
  }
  /* Calm: the kernel's listener takes the handshake (the owner sets
   * calm_syns only while it listens; no SYN is passed while cookies are all
   * there is, DOOR_ANSWER_SYNS), and a resent SYN of one it has. */
  if (syn && !s->reopen && cfg->calm_syns != 0) {
    const enum calm_verdict v = calm_syn(cfg->calm_syns, !(cfg->flags & DOOR_ANSWER_SYNS));
    if (v == CALM_PASS || (v == CALM_RECENT && kernel_request(ctx, &s->flow))) {
      bump(DOOR_C_doorCalm);
      return XDP_PASS;
    }
  }
  /* A SYN that may reopen a closed flow is userspace's to judge (RFC 6191). */
  const int answer = syn && !s->reopen && (cfg->flags & DOOR_ANSWER_SYNS);
  if (answer && !from_reply_mac(ctx)) {
    bump(DOOR_C_doorSynNotViaGateway);
    return hand_on(ctx); /* userspace routes its reply */
  }
  const int check = !syn && !(flags & TCP_RST) && (cfg->flags & DOOR_CHECK_ACKS);
  if (!answer && !check)
    return hand_on(ctx);
  if (check && bpf_map_lookup_elem(&admitted, &s->flow))
    return hand_on(ctx);

  const __u32 sum = door_sum(ctx, s->l4, s->l4_length, pseudo_header(s->addresses, s->l4_length));
  if (sum == DOOR_SUM_REFUSED)
    return hand_on(ctx); /* too long to sum here */
  if (sum != 0xffff)
    return drop(DOOR_C_dropBadTcpChecksum);
  if (syn ? (flags & ~(TCP_SYN | TCP_ECE | TCP_CWR)) != 0 : !(flags & TCP_ACK))
    return drop(DOOR_C_dropBadFlags);
  struct door_options o = {};
  /* The frame's pointers again (a call took ctx since they were read),
   * and the offset bounded again for the verifier (checked at the top). */
  data = (void *)(long)ctx->data;
  end = (void *)(long)ctx->data_end;
  const __u32 l4 = s->l4;
  if (l4 > DOOR_SUM_MAX_OFFSET)
    return XDP_PASS;
  if (!door_options_linux_syn((__u8 *)data + l4 + 20, doff - 20, end, &o) && door_options(ctx, l4 + 20, doff - 20, &o) != 0)
    return drop(DOOR_C_dropBadOptionLength);

  if (answer) {
    const __u32 slot = cfg->active_slot & 1;
    const struct door_secret *secret = bpf_map_lookup_elem(&secrets, &slot);
    if (!secret || secret->valid != 1)
      return hand_on(ctx); /* no secret to make it with: userspace counts cookiesNoSecret */
    const __u16 peer_mss = (o.flags & DOOR_OPT_MSS) ? o.mss : s->flow.family == 6 ? DOOR_DEFAULT_MSS6 : DOOR_DEFAULT_MSS4;
    const __u32 wscale_index = (o.flags & DOOR_OPT_WSCALE) ? door_wscale_index(o.wscale) : 0;
    const __u32 state = slot << DOOR_COOKIE_SELECTOR_SHIFT |
                        ((o.flags & DOOR_OPT_SACK_PERMITTED) ? 1u : 0u) << DOOR_COOKIE_SACK_SHIFT |
                        wscale_index << DOOR_COOKIE_WSCALE_SHIFT | door_mss_index(peer_mss);
    const __u32 cookie = door_cookie_mac(secret, &s->flow, seq, state) << DOOR_COOKIE_MAC_SHIFT | state;
    return answer_syn(ctx, s, cfg, &o, seq, cookie);
  }

  const __u32 cookie = ack - 1;
  const __u32 state = cookie & 0xff;
  const __u32 slot = state >> DOOR_COOKIE_SELECTOR_SHIFT;
  const struct door_secret *secret = bpf_map_lookup_elem(&secrets, &slot);
  if (secret && secret->valid == 1 &&
      door_cookie_mac(secret, &s->flow, seq - 1, state) == cookie >> DOOR_COOKIE_MAC_SHIFT) {
    __u8 one = 1;
    bpf_map_update_elem(&admitted, &s->flow, &one, BPF_ANY);
    return hand_on(ctx);
  }
  bump(DOOR_C_parsedAck);
  bump(DOOR_C_cookiesChecked);
  bump(DOOR_C_cookiesInvalid);
  bump(DOOR_C_failcookie);
  return XDP_DROP;
}

/* An ICMP error quoting a segment we sent: `quote_tcp` is the quoted TCP
 * header (8 bytes readable), `us`/`peer` the quoted source/destination. */
static __always_inline int door_unreach(struct xdp_md *ctx, __u32 family, const __u32 *us, const __u32 *peer,
                                        const __u8 *quote_tcp)
{
  const __u16 our_port = load16(quote_tcp);
  if (!port_ours(our_port) || !address_ours(family, us))
    return XDP_PASS;
  struct door_flow flow = {.family = family, .peer_port = load16(quote_tcp + 2), .local_port = our_port};
  for (int k = 0; k < 4; k++) {
    flow.peer[k] = peer[k];
    flow.local[k] = us[k];
  }
  if (handed_over(&flow)) {
    bump(DOOR_C_skippedHandedOver);
    return XDP_PASS;
  }
  return hand_on(ctx);
}

static __always_inline int door_icmp4(struct xdp_md *ctx, __u32 l2, __u32 ihl)
{
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  __u8 *ip = data + l2;
  __u8 *icmp = ip + ihl;
  if ((void *)(icmp + 8 + 20) > end)
    return XDP_PASS;
  if (icmp[0] != 3 || icmp[1] == 4) /* unreachable, but not "fragmentation needed" */
    return XDP_PASS;
  const __u32 outer[4] = {*(__u32 *)(ip + 16), 0, 0, 0};
  if (!address_ours(4, outer))
    return XDP_PASS;
  __u8 *quote = icmp + 8;
  const __u32 qihl = (quote[0] & 0x0f) * 4;
  if ((quote[0] >> 4) != 4 || qihl < 20 || quote[9] != IPPROTO_TCP || (load16(quote + 6) & 0x1fff))
    return XDP_PASS;
  __u8 *quote_tcp = quote + qihl;
  if ((void *)(quote_tcp + 8) > end)
    return XDP_PASS;
  const __u32 us[4] = {*(__u32 *)(quote + 12), 0, 0, 0};
  const __u32 peer[4] = {*(__u32 *)(quote + 16), 0, 0, 0};
  return door_unreach(ctx, 4, us, peer, quote_tcp);
}

static __always_inline int door_icmp6(struct xdp_md *ctx, __u32 l2, __u32 l4)
{
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  if (l4 > DOOR_SUM_MAX_OFFSET)
    return XDP_PASS;
  __u8 *ip = data + l2;
  __u8 *icmp = data + l4;
  if ((void *)(ip + 40) > end || (void *)(icmp + 8 + 40 + 8) > end)
    return XDP_PASS;
  if (icmp[0] != 1) /* destination unreachable */
    return XDP_PASS;
  __u32 outer[4];
  __builtin_memcpy(outer, ip + 24, 16);
  if (!address_ours(6, outer))
    return XDP_PASS;
  __u8 *quote = icmp + 8;
  if ((quote[0] >> 4) != 6 || quote[6] != IPPROTO_TCP)
    return XDP_PASS; /* our segments carry no extension headers */
  __u32 us[4], peer[4];
  __builtin_memcpy(us, quote + 8, 16);
  __builtin_memcpy(peer, quote + 24, 16);
  return door_unreach(ctx, 6, us, peer, quote + 40);
}

/* The flow of a TCP segment at `tcp` (`l4_length` bytes by the IP lengths,
 * unchecked) between `peer` and `local` (4 or 16 bytes, already within the
 * packet): XDP_PASS unless it is ours and no kernel socket's, in which case
 * -1 and s->flow is filled in. */
static __always_inline int our_flow(struct segment *s, __u32 family, const __u8 *tcp, void *end,
                                    const __u8 *peer, const __u8 *local, __u32 l4_length)
{
  if ((void *)(tcp + 4) > end)
    return XDP_PASS;
  const __u16 dport = load16(tcp + 2);
  if (!port_ours(dport))
    return XDP_PASS;
  s->flow.family = family;
  s->flow.peer_port = load16(tcp);
  s->flow.local_port = dport;
  if (family == 4) {
    s->flow.peer[0] = *(const __u32 *)peer;
    s->flow.local[0] = *(const __u32 *)local;
  } else {
    __builtin_memcpy(s->flow.peer, peer, 16);
    __builtin_memcpy(s->flow.local, local, 16);
  }
  if (!address_ours(family, s->flow.local))
    return XDP_PASS;
  const int handed = handed_over_segment(&s->flow, tcp, end, l4_length);
  if (handed == HANDED)
    return XDP_PASS;
  s->reopen = handed == REOPEN;
  return -1;
}

static __always_inline int door_v4(struct xdp_md *ctx, __u32 l2)
{
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  __u8 *ip = data + l2;
  if ((void *)(ip + 20) > end || (ip[0] >> 4) != 4)
    return XDP_PASS;
  const __u32 ihl = (ip[0] & 0x0f) * 4;
  if (ihl < 20)
    return XDP_PASS;
  const __u16 fragment = load16(ip + 6);
  if (ip[9] == IPPROTO_ICMP)
    return door_icmp4(ctx, l2, ihl);
  if (ip[9] != IPPROTO_TCP || (fragment & 0x1fff))
    return XDP_PASS; /* a later fragment shows no port */
  struct segment s = {};
  const __u32 total = load16(ip + 2);
  const int verdict = our_flow(&s, 4, ip + ihl, end, ip + 12, ip + 16, total > ihl ? total - ihl : 0);
  if (verdict >= 0)
    return verdict;

  if (total < ihl || (void *)(ip + total) > end)
    return drop(DOOR_C_dropBadIpLength);
  if (door_sum(ctx, l2, ihl, 0) != 0xffff)
    return drop(DOOR_C_dropBadIpChecksum);
  if (fragment & 0x2000)
    return drop(DOOR_C_dropFragment); /* the first of several */
  const __u8 first = s.flow.peer[0] & 0xff;
  if (first == 0 || first == 127 || first >= 224 || address_ours(4, s.flow.peer))
    return drop(DOOR_C_dropBadSource);
  s.addresses = (__u64)s.flow.peer[0] + s.flow.local[0];
  s.l2 = l2;
  s.l4 = l2 + ihl;
  s.l4_length = total - ihl;
  return door_tcp(ctx, &s);
}

static __always_inline int bad_source6(const __u32 *w)
{
  if ((w[0] & 0xff) == 0xff)
    return 1; /* multicast */
  if (w[0] == 0 && w[1] == 0) {
    if (w[2] == 0 && (w[3] == 0 || w[3] == bpf_htonl(1)))
      return 1; /* :: and ::1 */
    if (w[2] == bpf_htonl(0x0000ffff))
      return 1; /* ::ffff:a.b.c.d */
  }
  return address_ours(6, w);
}

static __always_inline int door_v6(struct xdp_md *ctx, __u32 l2)
{
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  __u8 *ip = data + l2;
  if ((void *)(ip + 40) > end || (ip[0] >> 4) != 6)
    return XDP_PASS;
  __u8 next = ip[6];
  __u32 l4 = l2 + 40;
  int first_fragment = 0;
#pragma unroll
  for (int n = 0; n < MAX_EXTENSION_HEADERS; n++) {
    if (next == IPPROTO_TCP || next == PROTO_ICMPV6)
      break;
    if (next != PROTO_HOP_BY_HOP && next != PROTO_ROUTING && next != PROTO_DEST_OPTIONS && next != PROTO_FRAGMENT)
      return XDP_PASS;
    if (next == PROTO_HOP_BY_HOP && n != 0)
      return XDP_PASS;
    if (l4 > l2 + 40 + MAX_EXTENSION_BYTES)
      return XDP_PASS;
    __u8 *h = data + l4;
    if ((void *)(h + 8) > end)
      return XDP_PASS;
    if (next == PROTO_FRAGMENT) {
      if ((load16(h + 2) & 0xfff8) != 0 || h[0] != IPPROTO_TCP)
        return XDP_PASS; /* a later fragment shows no port */
      first_fragment = 1;
      next = IPPROTO_TCP;
      l4 += 8;
      break;
    }
    if (next == PROTO_ROUTING && h[3] != 0)
      return XDP_PASS; /* segments left: not for us to take */
    next = h[0];
    l4 += (h[1] + 1) * 8;
  }
  if (l4 > l2 + 40 + MAX_EXTENSION_BYTES)
    return XDP_PASS;
  if (next == PROTO_ICMPV6)
    return door_icmp6(ctx, l2, l4);
  if (next != IPPROTO_TCP)
    return XDP_PASS;
  struct segment s = {};
  const __u32 payload = load16(ip + 4);
  const __u32 headers = l4 - (l2 + 40);
  const int verdict = our_flow(&s, 6, (__u8 *)data + l4, end, ip + 8, ip + 24, payload > headers ? payload - headers : 0);
  if (verdict >= 0)
    return verdict;

  if (payload == 0 || (void *)(ip + 40 + payload) > end)
    return drop(DOOR_C_dropBadIpLength);
  const __u32 extensions = l4 - (l2 + 40);
  if (extensions > payload)
    return drop(DOOR_C_dropBadExtensionHeader);
  if (first_fragment)
    return drop(DOOR_C_dropFragment);
  if (bad_source6(s.flow.peer))
    return drop(DOOR_C_dropBadSource);
  __u64 addresses = 0;
  for (int k = 0; k < 4; k++)
    addresses += (__u64)s.flow.peer[k] + s.flow.local[k];
  s.addresses = addresses;
  s.l2 = l2;
  s.l4 = l4;
  s.l4_length = payload - extensions;
  return door_tcp(ctx, &s);
}

SEC("xdp")
int door(struct xdp_md *ctx)
{
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  __u8 *eth = data;
  if ((void *)(eth + 14) > end)
    return XDP_PASS;
  __u16 type = load16(eth + 12);
  __u32 l2 = 14;
  if (type == ETHER_VLAN) {
    if ((void *)(eth + 18) > end)
      return XDP_PASS;
    type = load16(eth + 16);
    l2 = 18;
  }
  if (type == ETHER_IPV4)
    return door_v4(ctx, l2);
  if (type == ETHER_IPV6)
    return door_v6(ctx, l2);
  return XDP_PASS;
}
