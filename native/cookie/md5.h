#pragma once

#include <cstddef>
#include <cstdint>

namespace syncache::cookie {

// MD5 (RFC 1321) of `length` bytes.
void Md5(const uint8_t* data, size_t length, uint8_t digest[16]);

// The MD5 initial chaining value (RFC 1321 3.3: A, B, C, D).
extern const uint32_t kMd5Init[4];

// One MD5 compression of a 64-byte block into `state`, for callers that
// define their own single-block message (the cookie MAC).
void Md5Compress(uint32_t state[4], const uint8_t block[64]);

// kMd5Lanes independent one-block compressions from kMd5Init, interleaved so
// that the compiler runs them as SIMD lanes (AVX2 when the CPU has it, SSE2
// otherwise). Transposed: words[i][lane] is message word i (MD5's little-
// endian reading of bytes 4i..4i+3) of `lane`; out[j][lane] is its state word
// j after the compression (digest bytes 4j..4j+3, little-endian).
constexpr uint32_t kMd5Lanes = 16;
void Md5CompressLanes(const uint32_t words[16][kMd5Lanes], uint32_t out[4][kMd5Lanes]);

// Same result, one lane at a time with Md5Compress (reference and fallback).
void Md5CompressLanesScalar(const uint32_t words[16][kMd5Lanes], uint32_t out[4][kMd5Lanes]);

// True when Md5CompressLanes runs the AVX2 variant on this CPU.
bool Md5LanesUseAvx2();

}  // namespace syncache::cookie
