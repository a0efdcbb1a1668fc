#include "io/backend_factory.h"

#include <cstring>

#include "io/af_packet_rx_v2.h"
#include "io/af_packet_rx_v3.h"
#include "io/af_packet_tx.h"
#include "io/af_xdp_rx.h"
#include "io/af_xdp_tx.h"
#include "io/bpf_filter.h"

namespace syncache {

namespace {

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
  std::shared_ptr<XskSocket> socket;
  AfXdpInterface found;
  if (!OpenAfXdp(xdp, &socket, &found, error)) return false;
  out->zeroCopy = socket->zeroCopy();
  out->rx = std::make_unique<AfXdpRx>(socket);
  out->tx = std::make_unique<AfXdpTx>(socket);
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
