// A flow as JavaScript hands it to native code (ring.handOver/takeBack/peek,
// repairSocketWords): 32-bit words in a Uint32Array. Addresses are 16 bytes
// in network order (IPv4 in the first 4), as the batch holds them. Published
// to JavaScript as addon.flowLayout.
#pragma once

#include <cstddef>

namespace syncache {

enum FlowWord : size_t {
  kFlowWordFamily = 0,        // 4 or 6
  kFlowWordPeerAddress = 1,   // 4 words
  kFlowWordLocalAddress = 5,  // 4 words
  kFlowWordPeerPort = 9,
  kFlowWordLocalPort = 10,
  kFlowWords = 11,
};

}  // namespace syncache
