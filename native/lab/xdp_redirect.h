// The lab's XDP program, until the door's lands (tests, benchmarks and
// `syncache lab` only; never the product's): it redirects TCP segments to
// an AF_XDP socket of the queue they arrived on and passes everything else
// to the kernel. Hand-written eBPF loaded with the bpf() system call, no
// libbpf:
//
//   r2 = ctx->data; r3 = ctx->data_end
//   if r2 + 24 > r3                  goto pass   (Ethernet + the L4 protocol byte)
//   ethertype = *(u16 *)(r2 + 12)
//   IPv4: proto = *(u8 *)(r2 + 23)   IPv6: proto = *(u8 *)(r2 + 20) (next header:
//                                    a segment behind extension headers passes)
//   other ethertypes (ARP, 802.1Q)   goto pass
//   if proto != TCP                  goto pass   (ICMP, neighbour discovery, UDP)
//   return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)
//   pass: return XDP_PASS
//
// bpf_redirect_map's flags give the action when the map has no socket at
// that key: XDP_PASS, so a queue nobody reads loses nothing. ARP and
// neighbour discovery stay the kernel's, so its neighbour table (which the
// responder's next-hop mirror reads) fills as before; the kernel never sees
// the TCP segments, so it sends no RST for them either (no gate needed).
//
// The map is an XSKMAP named `xsks` of `queues` entries, as the door's; the
// program is attached with a bpf_link (BPF_LINK_CREATE), which detaches it
// when its last fd closes: when close() is called or the process dies.
#pragma once

#include <cstdint>
#include <string>

#include "boundary/sys_error.h"

namespace syncache {

struct XdpRedirectConfig {
  std::string iface;
  std::string netns;      // path; empty: the current namespace
  uint32_t queues = 1;    // XSKMAP entries: queues 0 .. queues-1
  bool generic = false;   // XDP_FLAGS_SKB_MODE instead of the driver's own XDP
};

class XdpRedirect {
 public:
  XdpRedirect() = default;
  XdpRedirect(const XdpRedirect&) = delete;
  XdpRedirect& operator=(const XdpRedirect&) = delete;
  ~XdpRedirect() { Close(); }

  // Makes the map, loads the program and attaches it to config.iface
  // (inside config.netns). On failure nothing stays and *error says why.
  bool Open(const XdpRedirectConfig& config, SysError* error);
  // Idempotent: detaches the program (closing the link) and lets go of the map.
  void Close();
  int mapFd() const { return mapFd_; }
  int ifindex() const { return ifindex_; }

 private:
  int mapFd_ = -1;
  int progFd_ = -1;
  int linkFd_ = -1;
  int ifindex_ = 0;
};

}  // namespace syncache
