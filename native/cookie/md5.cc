// MD5 (RFC 1321), written for the SYN-cookie MAC: every cookie is exactly one
// 64-byte block, so the hot path is the compression function alone.
//
// The 64 steps are written out straight-line (no tables, no loops, no
// allocation) once, as a template over the word type:
//   - uint32_t: the ordinary one-message compression (Md5, Md5Compress);
//   - a GCC vector of kMd5Lanes uint32_t: kMd5Lanes independent messages in
//     lockstep, one per SIMD lane (Md5CompressLanes). Input comes transposed
//     (word i of every lane side by side) so no shuffles are needed.
// MD5's steps form one serial dependency chain, so a single message leaves
// most of a modern core idle; lanes fill it. kMd5Lanes = 16 is two 256-bit
// AVX2 operations per step (four 128-bit ones with SSE2): two independent
// chains per core, which hides the latency of each step (bench/cookie.ts
// compares the lanes with one message at a time). The vector code is
// compiled twice, for the x86-64 baseline (SSE2) and with target("avx2"),
// and the AVX2 copy is chosen once at load time when the CPU has it
// (SYNCACHE_NO_AVX2 in the environment forces the baseline, for tests).
//
// Step functions use the usual equivalent forms with fewer operations:
// F = d ^ (b & (c ^ d)), G = c ^ (d & (b ^ c)), H = b ^ c ^ d, I = c ^ (b | ~d).
#include "cookie/md5.h"
#include "cookie/cpu_dispatch.h"

#include <cstdlib>
#include <cstring>

namespace syncache::cookie {

const uint32_t kMd5Init[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};

namespace {

#define MD5_F(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define MD5_G(b, c, d) ((c) ^ ((d) & ((b) ^ (c))))
#define MD5_H(b, c, d) ((b) ^ (c) ^ (d))
#define MD5_I(b, c, d) ((c) ^ ((b) | ~(d)))
#define MD5_STEP(f, a, b, c, d, k, t, s) \
  a += f(b, c, d) + x[k] + static_cast<uint32_t>(t); \
  a = (a << (s)) | (a >> (32 - (s)));                 \
  a += b;

// state[0..3] += compress(x[0..15]) where W is uint32_t or a lane vector.
template <typename W>
inline __attribute__((always_inline)) void Rounds(W state[4], const W x[16]) {
  W a = state[0], b = state[1], c = state[2], d = state[3];

  MD5_STEP(MD5_F, a, b, c, d, 0, 0xd76aa478, 7)
  MD5_STEP(MD5_F, d, a, b, c, 1, 0xe8c7b756, 12)
  MD5_STEP(MD5_F, c, d, a, b, 2, 0x242070db, 17)
  MD5_STEP(MD5_F, b, c, d, a, 3, 0xc1bdceee, 22)
  MD5_STEP(MD5_F, a, b, c, d, 4, 0xf57c0faf, 7)
  MD5_STEP(MD5_F, d, a, b, c, 5, 0x4787c62a, 12)
  MD5_STEP(MD5_F, c, d, a, b, 6, 0xa8304613, 17)
  MD5_STEP(MD5_F, b, c, d, a, 7, 0xfd469501, 22)
  MD5_STEP(MD5_F, a, b, c, d, 8, 0x698098d8, 7)
  MD5_STEP(MD5_F, d, a, b, c, 9, 0x8b44f7af, 12)
  MD5_STEP(MD5_F, c, d, a, b, 10, 0xffff5bb1, 17)
  MD5_STEP(MD5_F, b, c, d, a, 11, 0x895cd7be, 22)
  MD5_STEP(MD5_F, a, b, c, d, 12, 0x6b901122, 7)
  MD5_STEP(MD5_F, d, a, b, c, 13, 0xfd987193, 12)
  MD5_STEP(MD5_F, c, d, a, b, 14, 0xa679438e, 17)
  MD5_STEP(MD5_F, b, c, d, a, 15, 0x49b40821, 22)

  MD5_STEP(MD5_G, a, b, c, d, 1, 0xf61e2562, 5)
  MD5_STEP(MD5_G, d, a, b, c, 6, 0xc040b340, 9)
  MD5_STEP(MD5_G, c, d, a, b, 11, 0x265e5a51, 14)
  MD5_STEP(MD5_G, b, c, d, a, 0, 0xe9b6c7aa, 20)
  MD5_STEP(MD5_G, a, b, c, d, 5, 0xd62f105d, 5)
  MD5_STEP(MD5_G, d, a, b, c, 10, 0x02441453, 9)
  MD5_STEP(MD5_G, c, d, a, b, 15, 0xd8a1e681, 14)
  MD5_STEP(MD5_G, b, c, d, a, 4, 0xe7d3fbc8, 20)
  MD5_STEP(MD5_G, a, b, c, d, 9, 0x21e1cde6, 5)
  MD5_STEP(MD5_G, d, a, b, c, 14, 0xc33707d6, 9)
  MD5_STEP(MD5_G, c, d, a, b, 3, 0xf4d50d87, 14)
  MD5_STEP(MD5_G, b, c, d, a, 8, 0x455a14ed, 20)
  MD5_STEP(MD5_G, a, b, c, d, 13, 0xa9e3e905, 5)
  MD5_STEP(MD5_G, d, a, b, c, 2, 0xfcefa3f8, 9)
  MD5_STEP(MD5_G, c, d, a, b, 7, 0x676f02d9, 14)
  MD5_STEP(MD5_G, b, c, d, a, 12, 0x8d2a4c8a, 20)

  MD5_STEP(MD5_H, a, b, c, d, 5, 0xfffa3942, 4)
  MD5_STEP(MD5_H, d, a, b, c, 8, 0x8771f681, 11)
  MD5_STEP(MD5_H, c, d, a, b, 11, 0x6d9d6122, 16)
  MD5_STEP(MD5_H, b, c, d, a, 14, 0xfde5380c, 23)
  MD5_STEP(MD5_H, a, b, c, d, 1, 0xa4beea44, 4)
  MD5_STEP(MD5_H, d, a, b, c, 4, 0x4bdecfa9, 11)
  MD5_STEP(MD5_H, c, d, a, b, 7, 0xf6bb4b60, 16)
  MD5_STEP(MD5_H, b, c, d, a, 10, 0xbebfbc70, 23)
  MD5_STEP(MD5_H, a, b, c, d, 13, 0x289b7ec6, 4)
  MD5_STEP(MD5_H, d, a, b, c, 0, 0xeaa127fa, 11)
  MD5_STEP(MD5_H, c, d, a, b, 3, 0xd4ef3085, 16)
  MD5_STEP(MD5_H, b, c, d, a, 6, 0x04881d05, 23)
  MD5_STEP(MD5_H, a, b, c, d, 9, 0xd9d4d039, 4)
  MD5_STEP(MD5_H, d, a, b, c, 12, 0xe6db99e5, 11)
  MD5_STEP(MD5_H, c, d, a, b, 15, 0x1fa27cf8, 16)
  MD5_STEP(MD5_H, b, c, d, a, 2, 0xc4ac5665, 23)

  MD5_STEP(MD5_I, a, b, c, d, 0, 0xf4292244, 6)
  MD5_STEP(MD5_I, d, a, b, c, 7, 0x432aff97, 10)
  MD5_STEP(MD5_I, c, d, a, b, 14, 0xab9423a7, 15)
  MD5_STEP(MD5_I, b, c, d, a, 5, 0xfc93a039, 21)
  MD5_STEP(MD5_I, a, b, c, d, 12, 0x655b59c3, 6)
  MD5_STEP(MD5_I, d, a, b, c, 3, 0x8f0ccc92, 10)
  MD5_STEP(MD5_I, c, d, a, b, 10, 0xffeff47d, 15)
  MD5_STEP(MD5_I, b, c, d, a, 1, 0x85845dd1, 21)
  MD5_STEP(MD5_I, a, b, c, d, 8, 0x6fa87e4f, 6)
  MD5_STEP(MD5_I, d, a, b, c, 15, 0xfe2ce6e0, 10)
  MD5_STEP(MD5_I, c, d, a, b, 6, 0xa3014314, 15)
  MD5_STEP(MD5_I, b, c, d, a, 13, 0x4e0811a1, 21)
  MD5_STEP(MD5_I, a, b, c, d, 4, 0xf7537e82, 6)
  MD5_STEP(MD5_I, d, a, b, c, 11, 0xbd3af235, 10)
  MD5_STEP(MD5_I, c, d, a, b, 2, 0x2ad7d2bb, 15)
  MD5_STEP(MD5_I, b, c, d, a, 9, 0xeb86d391, 21)

  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
}

#undef MD5_STEP
#undef MD5_F
#undef MD5_G
#undef MD5_H
#undef MD5_I

inline uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

inline void StoreLe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

typedef uint32_t LaneVector __attribute__((vector_size(kMd5Lanes * 4)));

inline __attribute__((always_inline)) void LanesBody(const uint32_t words[16][kMd5Lanes],
                                                     uint32_t out[4][kMd5Lanes]) {
  LaneVector x[16];
  for (int i = 0; i < 16; i++) std::memcpy(&x[i], words[i], sizeof(LaneVector));
  LaneVector state[4];
  for (int j = 0; j < 4; j++) state[j] = LaneVector{} + kMd5Init[j];
  Rounds(state, x);
  for (int j = 0; j < 4; j++) std::memcpy(out[j], &state[j], sizeof(LaneVector));
}

void LanesBaseline(const uint32_t words[16][kMd5Lanes], uint32_t out[4][kMd5Lanes]) {
  LanesBody(words, out);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) void LanesAvx2(const uint32_t words[16][kMd5Lanes],
                                              uint32_t out[4][kMd5Lanes]) {
  LanesBody(words, out);
}

using LanesFn = void (*)(const uint32_t[16][kMd5Lanes], uint32_t[4][kMd5Lanes]);

const LanesFn gLanes = PickForCpu<LanesFn>(LanesBaseline, LanesAvx2);
#else
constexpr auto gLanes = LanesBaseline;
#endif

// Out of line, so that a loop over messages is not vectorised into lanes
// behind our back (GCC does that to Md5CompressLanesScalar otherwise).
__attribute__((noinline)) void RoundsOne(uint32_t state[4], const uint32_t x[16]) {
  Rounds(state, x);
}

}  // namespace

void Md5Compress(uint32_t state[4], const uint8_t block[64]) {
  uint32_t x[16];
  for (int i = 0; i < 16; i++) x[i] = LoadLe32(block + 4 * i);
  RoundsOne(state, x);
}

void Md5(const uint8_t* data, size_t length, uint8_t digest[16]) {
  uint32_t state[4] = {kMd5Init[0], kMd5Init[1], kMd5Init[2], kMd5Init[3]};
  size_t whole = length & ~static_cast<size_t>(63);
  for (size_t at = 0; at < whole; at += 64) Md5Compress(state, data + at);
  // The tail, 0x80, zeros and the bit length fit in one or two blocks.
  uint8_t tail[128] = {};
  size_t rest = length - whole;
  if (rest != 0) std::memcpy(tail, data + whole, rest);
  tail[rest] = 0x80;
  size_t tailBytes = rest < 56 ? 64 : 128;
  uint64_t bits = static_cast<uint64_t>(length) << 3;
  StoreLe32(tail + tailBytes - 8, static_cast<uint32_t>(bits));
  StoreLe32(tail + tailBytes - 4, static_cast<uint32_t>(bits >> 32));
  Md5Compress(state, tail);
  if (tailBytes == 128) Md5Compress(state, tail + 64);
  for (int j = 0; j < 4; j++) StoreLe32(digest + 4 * j, state[j]);
}

void Md5CompressLanes(const uint32_t words[16][kMd5Lanes], uint32_t out[4][kMd5Lanes]) {
  gLanes(words, out);
}

void Md5CompressLanesScalar(const uint32_t words[16][kMd5Lanes], uint32_t out[4][kMd5Lanes]) {
  for (uint32_t lane = 0; lane < kMd5Lanes; lane++) {
    uint32_t x[16];
    for (int i = 0; i < 16; i++) x[i] = words[i][lane];
    uint32_t state[4] = {kMd5Init[0], kMd5Init[1], kMd5Init[2], kMd5Init[3]};
    RoundsOne(state, x);
    for (int j = 0; j < 4; j++) out[j][lane] = state[j];
  }
}

bool Md5LanesUseAvx2() {
#if defined(__x86_64__) && defined(__GNUC__)
  return gLanes == LanesAvx2;
#else
  return false;
#endif
}

}  // namespace syncache::cookie
