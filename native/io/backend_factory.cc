#include "io/backend_factory.h"

#include <cstring>
#include <string>
#include <vector>

#include "io/af_packet_rx_v2.h"
#include "io/af_packet_rx_v3.h"
#include "io/af_packet_tx.h"
#include "io/af_xdp_queues.h"
#include "io/af_xdp_rx.h"
#include "io/af_xdp_tx.h"
#include "io/bpf_filter.h"

namespace syncache {

namespace {

// The TX share of a socket that only reads (the smallest ring there is).
constexpr uint32_t kReadOnlyTxFrames = 64;

bool OpenPacket(const BackendConfig& config, const LocalConfig& local, Backend* out, SysError* error) {
  AfPacketConfig packet = config.packet;
  packet.iface = config.iface;
  packet.netns = config.netns;
  if (!BuildResponderFilter(local, &packet.filter))
    return ReportSysError(error, 0, "", "addrs and ports: too many for one BPF filter");
  std::unique_ptr<AfPacketRx> rx;
  if (config.lowLatency) rx = std::make_unique<AfPacketRxV2>();
  else rx = std::make_unique<AfPacketRxV3>();
  auto tx = std::make_unique<AfPacketTx>();
  AfPacketInterface found;
  if (!OpenAfPacket(packet, rx.get(), tx.get(), &found, error)) return false;
  out->rx = std::move(rx);
  out->tx = std::move(tx);
  out->ifindex = found.ifindex;
  std::memcpy(out->mac, found.mac, 6);
  out->zeroCopy = false;
  return true;
}

bool OpenXdp(const BackendConfig& config, Backend* out, SysError* error) {
  AfXdpConfig xdp = config.xdp;
  xdp.iface = config.iface;
  xdp.netns = config.netns;
  const std::vector<uint32_t> queues = config.xdpQueues.empty() ? std::vector<uint32_t>{xdp.queue} : config.xdpQueues;
  // Every queue's slot checked before any socket opens: a socket closed
  // after a later queue failed frees its queue only a moment later.
  std::string why;
  for (uint32_t queue : queues)
    if (!CheckXskMap(xdp.xskMap, queue, &why)) return ReportSysError(error, 0, "", why);
  std::vector<std::shared_ptr<XskSocket>> sockets;
  AfXdpInterface found;
  for (size_t i = 0; i < queues.size(); i++) {
    AfXdpConfig one = xdp;
    one.queue = queues[i];
    // Replies leave through the first queue's socket; the others only read.
    if (i > 0) one.txFrames = kReadOnlyTxFrames;
    std::shared_ptr<XskSocket> socket;
    if (!OpenAfXdp(one, &socket, &found, error)) return false;
    sockets.push_back(std::move(socket));
  }
  out->zeroCopy = sockets[0]->zeroCopy();
  out->tx = std::make_unique<AfXdpTx>(sockets[0]);
  if (sockets.size() == 1) {
    out->rx = std::make_unique<AfXdpRx>(sockets[0]);
  } else {
    std::vector<std::unique_ptr<AfXdpRx>> rx;
    for (const auto& socket : sockets) rx.push_back(std::make_unique<AfXdpRx>(socket));
    out->rx = AfXdpQueuesRx::Open(std::move(rx), error);
    if (out->rx == nullptr) return false;
  }
  out->ifindex = found.ifindex;
  std::memcpy(out->mac, found.mac, 6);
  return true;
}

}  // namespace

bool OpenBackend(const BackendConfig& config, const LocalConfig& local, Backend* out, SysError* error) {
  *out = Backend{};
  return config.kind == IoKind::kAfXdp ? OpenXdp(config, out, error) : OpenPacket(config, local, out, error);
}

}  // namespace syncache
