// A small, seedable random source for the sanitizer programs (splitmix64):
// the same seed gives the same run, so a failure can be replayed. And the
// ring checks' flags, which name that seed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

struct Random {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(Next() % n); }
};

// The ring checks' flags: --rounds N --seed S.
struct RunFlags {
  uint32_t rounds = 20000;
  uint64_t seed = 1;
};

// False (after saying why on stderr) for a flag other than those.
inline bool ReadRunFlags(int argc, char** argv, const char* program, RunFlags* flags) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--rounds") flags->rounds = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    else if (flag == "--seed") flags->seed = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "%s: unknown flag %s\n", program, argv[i]);
      return false;
    }
  }
  return true;
}
