#include "io/af_packet.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/af_packet_rx.h"
#include "io/af_packet_tx.h"
#include "io/netns.h"

namespace syncache {

namespace {

constexpr uint64_t kMaxRingBytes = 1ull << 30;

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

namespace afpacket {

std::string Where(const AfPacketConfig& config) {
  return "interface " + config.iface +
         (config.netns.empty() ? std::string(" in the current network namespace")
                               : " in network namespace " + config.netns);
}

}  // namespace afpacket

using afpacket::Fail;
using afpacket::PermissionHint;
using afpacket::Where;

bool CheckAfPacketLayout(const AfPacketConfig& config, std::string* why) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (config.rx) {
    if (config.blockSize < page || config.blockSize % page != 0 || !IsPowerOfTwo(config.blockSize)) {
      *why = "blockSize must be a power of two multiple of the page size (" + std::to_string(page) +
             "), got " + std::to_string(config.blockSize);
      return false;
    }
    if (config.blockSize < afpacket::kRxFrameSize) {
      *why = "blockSize must be at least " + std::to_string(afpacket::kRxFrameSize);
      return false;
    }
    if (config.blockCount < 1 || config.blockCount > 1024 ||
        static_cast<uint64_t>(config.blockSize) * config.blockCount > kMaxRingBytes) {
      *why = "blockCount must be from 1 to 1024 and blockSize x blockCount at most 1 GiB";
      return false;
    }
    if (config.retireMs < 1 || config.retireMs > 60000) {
      *why = "retireMs must be from 1 to 60000";
      return false;
    }
  }
  if (config.tx && config.txRing) {
    uint32_t f = config.txFrameSize;
    if (f % TPACKET_ALIGNMENT != 0 || f < afpacket::TxDataOffset() + 128 || afpacket::kTxBlockSize % f != 0) {
      *why = "txFrameSize must be a multiple of " + std::to_string(TPACKET_ALIGNMENT) +
             " that divides " + std::to_string(afpacket::kTxBlockSize);
      return false;
    }
    uint32_t perBlock = afpacket::kTxBlockSize / f;
    if (config.txFrames < perBlock || config.txFrames > 65536 || config.txFrames % perBlock != 0) {
      *why = "txFrames must be a multiple of " + std::to_string(perBlock) + " from " +
             std::to_string(perBlock) + " to 65536, got " + std::to_string(config.txFrames);
      return false;
    }
  }
  return true;
}

bool OpenAfPacket(const AfPacketConfig& config, AfPacketRx* rx, AfPacketTx* tx, AfPacketInterface* out,
                  SysError* error) {
  if (rx != nullptr) rx->Close();
  if (tx != nullptr) tx->Close();
  std::string why;
  if (!CheckAfPacketLayout(config, &why)) return Fail(error, 0, "", why);
  const bool wantRx = config.rx && rx != nullptr;
  const bool wantTx = config.tx && tx != nullptr;

  NetnsScope netns;
  int ifindex = 0;
  if (!netns.EnterAndFind(config.netns, config.iface, Where(config), &ifindex, error)) return false;
  int err = 0;
  auto closeAll = [&]() {
    if (rx != nullptr) rx->Close();
    if (tx != nullptr) tx->Close();
  };
  if ((wantRx && !rx->Open(config, ifindex, error)) || (wantTx && !tx->Open(config, ifindex, error))) {
    closeAll();
    return false;
  }
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, config.iface.c_str(), IFNAMSIZ - 1);
  if (ioctl(wantRx ? rx->pollFd() : wantTx ? tx->fd() : -1, SIOCGIFHWADDR, &ifr) != 0) {
    err = errno;
    closeAll();
    return Fail(error, err, "ioctl", "cannot read the MAC address of " + Where(config));
  }
  err = netns.Leave();
  if (err != 0) {
    closeAll();
    return Fail(error, err, "setns", "cannot return to the original network namespace",
                PermissionHint(err, "CAP_SYS_ADMIN"));
  }
  out->ifindex = ifindex;
  std::memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
  return true;
}

}  // namespace syncache
