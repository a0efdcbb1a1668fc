// Handing a userspace-completed handshake to the kernel: TCP_REPAIR builds an
// ESTABLISHED socket whose sequence numbers, options, windows and timestamp
// clock are the ones both sides agreed on, without a packet on the wire.
//
//   socket(SOCK_NONBLOCK)   TCP_REPAIR = 1       (CAP_NET_ADMIN)
//   [v6: IPV6_V6ONLY]       bind local addr:port (repair forces reuse, so
//                                                 many sockets share port 80)
//   REPAIR_QUEUE send; QUEUE_SEQ = iss + 1       (our next byte)
//   REPAIR_QUEUE recv; QUEUE_SEQ = irs + 1       (the peer's next byte)
//   REPAIR_QUEUE none
//   TCP_TIMESTAMP = tsNow   (timestamps only; bit 0 is the usec-clock flag:
//                            0 keeps a millisecond clock that continues the
//                            SYN-ACK's TSval, so the peer's PAWS keeps it)
//   TCP_MAXSEG = peer mss   (without it connect() sizes segments from the
//                            536 default: 524-byte segments forever)
//   connect                 (in repair mode: ESTABLISHED, nothing sent)
//   REPAIR_OPTIONS          MAXSEG mss; WINDOW peer | ours << 16 (or 0 | 0
//                           when either side did not scale: connect() picked
//                           a receive shift of its own, which the peer would
//                           not apply); SACK_PERM; TIMESTAMP
//   REPAIR_WINDOW           snd_wl1 = irs+1, snd_wnd = max_window = the peer's
//                           window << its shift, rcv_wnd = the window of our
//                           SYN-ACK (never scaled), rcv_wup = irs+1
//   [payload]               REPAIR_QUEUE recv; send() lands in the receive
//                           queue and moves rcv_nxt past it
//   SO_MARK = mark          the nftables gate lets marked sockets through
//   TCP_REPAIR = OFF_NO_WP  (or OFF, which sends a window probe: an ACK for
//                            the peer to answer; the peer already has our
//                            window from the SYN-ACK)
//   SO_REUSEADDR = 1        (leaving repair clears the forced reuse: without
//                            it no listener could bind beside the socket or
//                            its TIME_WAIT - protect()'s calm listener)
//
// connect() fails with EADDRNOTAVAIL when the 4-tuple is taken: by a socket
// already made for it (a duplicate handshake: with cookies, every segment
// with seq == irs+1 validates, and the ring sees them even once the kernel
// serves the flow), or by a TIME_WAIT that it may not take over (it does so
// only with timestamps). Any failure closes the socket while still in repair mode (close() then
// sends nothing) and reports the errno, the call and a hint. The whole thing
// optionally runs inside another network namespace (setns on this thread,
// always back). No Node-API here: it runs on any thread.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "boundary/flow_words.h"
#include "boundary/sys_error.h"

namespace syncache {

struct RepairParams {
  int family = 4;  // 4 or 6
  in6_addr localAddress{};   // IPv4: the first 4 bytes
  in6_addr remoteAddress{};
  uint16_t localPort = 0;
  uint16_t remotePort = 0;
  uint32_t iss = 0;
  uint32_t irs = 0;
  uint32_t mss = 0;       // the peer's
  int wscale = -1;        // the peer's shift, -1: none
  int ourWscale = -1;     // ours as advertised, -1: none
  bool sackPermitted = false;
  bool timestamps = false;
  uint32_t tsNow = 0;     // our timestamp clock now (even)
  uint32_t window = 0;    // the peer's raw window from its ACK
  uint32_t ourWindow = 65535;
  uint32_t mark = 0;      // 0: leave SO_MARK alone
  bool windowProbe = false;  // TCP_REPAIR_OFF instead of OFF_NO_WP
  bool stayInRepair = false;  // stop before SO_MARK: FinishRepair does the rest (with the data)
  std::string netns;      // empty: the calling thread's namespace
};

// RepairParams as 32-bit words, for the handoff's hot path: one typed array
// read in one call, where an object costs ~20 named-property reads a socket. The flow's words come first (boundary/flow_words.h), as the
// ring's flow set takes them; the peer is the remote end.
enum RepairWord : size_t {
  kWordIss = kFlowWords,  // then one word each, in this order
  kWordIrs,
  kWordMss,
  kWordWscale,     // the peer's shift + 1 (0: none)
  kWordOurWscale,  // ours + 1 (0: none)
  kWordFlags,      // RepairFlag bits
  kWordTsNow,
  kWordWindow,
  kWordOurWindow,
  kWordMark,
  kRepairWords,
};
enum RepairFlag : uint32_t {
  kFlagSackPermitted = 1,
  kFlagTimestamps = 2,
  kFlagWindowProbe = 4,
  kFlagStayInRepair = 8,
};

// Returns a connected, non-blocking, close-on-exec TCP socket, or -1 with
// *error filled in. Expects validated params (see handoff_binding.cc).
// Without stayInRepair it also sets SO_MARK and leaves repair (no data).
int RepairSocket(const RepairParams& params, SysError* error);

// The last step for a socket made with stayInRepair, or put back by
// ReopenRepair (both leave the receive queue selected; DESIGN step 3): inject
// `payload` into the receive queue, set SO_MARK (0: leave it), leave repair.
// Cheap (a few setsockopts): the caller drains what arrived meanwhile first.
bool FinishRepair(int fd, const uint8_t* payload, size_t payloadLength, uint32_t mark,
                  bool windowProbe, SysError* error);

// For data that reached the ring between the last read and the gate opening
// (the gate dropped it; the socket never saw it): closes the gate to the
// socket again (SO_MARK = 0), puts it back in repair and returns its rcv_nxt
// in *rcvNxt, so the caller, having read the ring once more, injects exactly
// what the socket lacks with FinishRepair.
bool ReopenRepair(int fd, uint32_t* rcvNxt, SysError* error);

// The kernel's view of a TCP socket (getsockopt TCP_MAXSEG, TCP_INFO,
// TCP_NODELAY and SO_KEEPALIVE).
struct TcpSocketInfo {
  int maxseg = 0;  // TCP_MAXSEG: the current send MSS
  uint8_t state = 0;
  uint8_t options = 0;  // TCPI_OPT_*
  uint8_t sndWscale = 0;
  uint8_t rcvWscale = 0;
  uint32_t sndMss = 0;
  uint32_t rcvMss = 0;
  uint32_t advmss = 0;
  uint32_t totalRetrans = 0;
  bool noDelay = false;
  bool keepAlive = false;
};

// 0 or an errno (getsockopt's).
int ReadTcpSocketInfo(int fd, TcpSocketInfo* info);

}  // namespace syncache
