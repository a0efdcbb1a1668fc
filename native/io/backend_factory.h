// Opens the packet backend a Ring reads and writes through (io/io_backend.h),
// chosen by its configuration, so the binding stays glue:
//   AF_PACKET  RX as TPACKET_V3, or V2 with lowLatency (io/af_packet_rx_v*.h),
//              TX ring (io/af_packet_tx.h); the RX socket's classic BPF
//              filter is built here from the addresses and ports;
//   AF_XDP     one XDP socket on one queue, shared by RX (io/af_xdp_rx.h)
//              and TX (io/af_xdp_tx.h); with several queues a socket each,
//              read as one RX side (io/af_xdp_queues.h), the first queue's
//              also sending; what reaches them is the XDP program's choice
//              (the pipeline still drops what is not ours).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "boundary/sys_error.h"
#include "io/af_packet.h"
#include "io/af_xdp.h"
#include "io/io_backend.h"
#include "pipeline/local_config.h"

namespace syncache {

enum class IoKind { kAfPacket, kAfXdp };

struct BackendConfig {
  IoKind kind = IoKind::kAfPacket;
  std::string iface;
  std::string netns;  // path; empty: the current namespace
  AfPacketConfig packet;    // kAfPacket (its iface, netns and filter are set by OpenBackend)
  bool lowLatency = false;  // kAfPacket: RX as TPACKET_V2
  AfXdpConfig xdp;          // kAfXdp (its iface and netns are set by OpenBackend)
  std::vector<uint32_t> xdpQueues;  // kAfXdp: the queues to read (empty: xdp.queue alone)
};

struct Backend {
  std::unique_ptr<RxSource> rx;
  std::unique_ptr<TxSink> tx;
  int ifindex = 0;
  uint8_t mac[6] = {};
  bool zeroCopy = false;  // AF_XDP bound in zero-copy mode
};

// Opens config's backend on its interface; local: the addresses and ports
// answered for (AF_PACKET's filter). On failure *error says why (err 0: the
// configuration itself, a RangeError about `what`).
bool OpenBackend(const BackendConfig& config, const LocalConfig& local, Backend* out, SysError* error);

}  // namespace syncache
