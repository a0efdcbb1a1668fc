// Picks a function's AVX2 build when the CPU has AVX2, once at load time.
// SYNCACHE_NO_AVX2 in the environment forces the baseline (SSE2) build, so
// tests can check that both give the same answers.
#pragma once

#include <cstdlib>

namespace syncache::cookie {

#if defined(__x86_64__) && defined(__GNUC__)
template <typename Fn>
Fn PickForCpu(Fn baseline, Fn avx2) {
  __builtin_cpu_init();
  if (std::getenv("SYNCACHE_NO_AVX2") != nullptr) return baseline;
  return __builtin_cpu_supports("avx2") ? avx2 : baseline;
}
#endif

}  // namespace syncache::cookie
