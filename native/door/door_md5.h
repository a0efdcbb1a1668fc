/* MD5's compression (RFC 1321) for the door's cookie MAC, in BPF C: one
 * 64-byte block from the standard IV, as native/cookie/md5.cc computes it
 * for one lane. The cookie takes only digest bytes 0..2, which are the first
 * state word A, and A is last written by step 61: steps 62..64 (which write
 * D, C and B) are left out.
 *
 * A global (noinline, non-static) function: the verifier checks it once, on
 * its own, however many places call it. Its argument is a pointer to a sized
 * struct, which the verifier lets be NULL, hence the check. */
#ifndef SYNCACHE_DOOR_MD5_H
#define SYNCACHE_DOOR_MD5_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct door_md5_block {
  __u32 w[16]; /* message words, MD5's little-endian reading of the bytes */
};

#define DOOR_MD5_F(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define DOOR_MD5_G(b, c, d) ((c) ^ ((d) & ((b) ^ (c))))
#define DOOR_MD5_H(b, c, d) ((b) ^ (c) ^ (d))
#define DOOR_MD5_I(b, c, d) ((c) ^ ((b) | ~(d)))
#define DOOR_MD5_STEP(f, a, b, c, d, k, t, s) \
  a += f(b, c, d) + x[k] + (__u32)(t);        \
  a = (a << (s)) | (a >> (32 - (s)));         \
  a += b;

/* The digest's first word (bytes 0..3, little-endian) of one compression of
 * `block` from the IV; 0 for NULL. */
__attribute__((noinline)) __u32 door_md5_first_word(const struct door_md5_block *block)
{
  if (!block)
    return 0;
  const __u32 *x = block->w;
  __u32 a = 0x67452301u, b = 0xefcdab89u, c = 0x98badcfeu, d = 0x10325476u;

  DOOR_MD5_STEP(DOOR_MD5_F, a, b, c, d, 0, 0xd76aa478, 7)
  DOOR_MD5_STEP(DOOR_MD5_F, d, a, b, c, 1, 0xe8c7b756, 12)
  DOOR_MD5_STEP(DOOR_MD5_F, c, d, a, b, 2, 0x242070db, 17)
  DOOR_MD5_STEP(DOOR_MD5_F, b, c, d, a, 3, 0xc1bdceee, 22)
  DOOR_MD5_STEP(DOOR_MD5_F, a, b, c, d, 4, 0xf57c0faf, 7)
  DOOR_MD5_STEP(DOOR_MD5_F, d, a, b, c, 5, 0x4787c62a, 12)
  DOOR_MD5_STEP(DOOR_MD5_F, c, d, a, b, 6, 0xa8304613, 17)
  DOOR_MD5_STEP(DOOR_MD5_F, b, c, d, a, 7, 0xfd469501, 22)
  DOOR_MD5_STEP(DOOR_MD5_F, a, b, c, d, 8, 0x698098d8, 7)
  DOOR_MD5_STEP(DOOR_MD5_F, d, a, b, c, 9, 0x8b44f7af, 12)
  DOOR_MD5_STEP(DOOR_MD5_F, c, d, a, b, 10, 0xffff5bb1, 17)
  DOOR_MD5_STEP(DOOR_MD5_F, b, c, d, a, 11, 0x895cd7be, 22)
  DOOR_MD5_STEP(DOOR_MD5_F, a, b, c, d, 12, 0x6b901122, 7)
  DOOR_MD5_STEP(DOOR_MD5_F, d, a, b, c, 13, 0xfd987193, 12)
  DOOR_MD5_STEP(DOOR_MD5_F, c, d, a, b, 14, 0xa679438e, 17)
  DOOR_MD5_STEP(DOOR_MD5_F, b, c, d, a, 15, 0x49b40821, 22)
  DOOR_MD5_STEP(DOOR_MD5_G, a, b, c, d, 1, 0xf61e2562, 5)
  DOOR_MD5_STEP(DOOR_MD5_G, d, a, b, c, 6, 0xc040b340, 9)
  DOOR_MD5_STEP(DOOR_MD5_G, c, d, a, b, 11, 0x265e5a51, 14)
  DOOR_MD5_STEP(DOOR_MD5_G, b, c, d, a, 0, 0xe9b6c7aa, 20)
  DOOR_MD5_STEP(DOOR_MD5_G, a, b, c, d, 5, 0xd62f105d, 5)
  DOOR_MD5_STEP(DOOR_MD5_G, d, a, b, c, 10, 0x02441453, 9)
  DOOR_MD5_STEP(DOOR_MD5_G, c, d, a, b, 15, 0xd8a1e681, 14)
  DOOR_MD5_STEP(DOOR_MD5_G, b, c, d, a, 4, 0xe7d3fbc8, 20)
  DOOR_MD5_STEP(DOOR_MD5_G, a, b, c, d, 9, 0x21e1cde6, 5)
  DOOR_MD5_STEP(DOOR_MD5_G, d, a, b, c, 14, 0xc33707d6, 9)
  DOOR_MD5_STEP(DOOR_MD5_G, c, d, a, b, 3, 0xf4d50d87, 14)
  DOOR_MD5_STEP(DOOR_MD5_G, b, c, d, a, 8, 0x455a14ed, 20)
  DOOR_MD5_STEP(DOOR_MD5_G, a, b, c, d, 13, 0xa9e3e905, 5)
  DOOR_MD5_STEP(DOOR_MD5_G, d, a, b, c, 2, 0xfcefa3f8, 9)
  DOOR_MD5_STEP(DOOR_MD5_G, c, d, a, b, 7, 0x676f02d9, 14)
  DOOR_MD5_STEP(DOOR_MD5_G, b, c, d, a, 12, 0x8d2a4c8a, 20)
  DOOR_MD5_STEP(DOOR_MD5_H, a, b, c, d, 5, 0xfffa3942, 4)
  DOOR_MD5_STEP(DOOR_MD5_H, d, a, b, c, 8, 0x8771f681, 11)
  DOOR_MD5_STEP(DOOR_MD5_H, c, d, a, b, 11, 0x6d9d6122, 16)
  DOOR_MD5_STEP(DOOR_MD5_H, b, c, d, a, 14, 0xfde5380c, 23)
  DOOR_MD5_STEP(DOOR_MD5_H, a, b, c, d, 1, 0xa4beea44, 4)
  DOOR_MD5_STEP(DOOR_MD5_H, d, a, b, c, 4, 0x4bdecfa9, 11)
  DOOR_MD5_STEP(DOOR_MD5_H, c, d, a, b, 7, 0xf6bb4b60, 16)
  DOOR_MD5_STEP(DOOR_MD5_H, b, c, d, a, 10, 0xbebfbc70, 23)
  DOOR_MD5_STEP(DOOR_MD5_H, a, b, c, d, 13, 0x289b7ec6, 4)
  DOOR_MD5_STEP(DOOR_MD5_H, d, a, b, c, 0, 0xeaa127fa, 11)
  DOOR_MD5_STEP(DOOR_MD5_H, c, d, a, b, 3, 0xd4ef3085, 16)
  DOOR_MD5_STEP(DOOR_MD5_H, b, c, d, a, 6, 0x04881d05, 23)
  DOOR_MD5_STEP(DOOR_MD5_H, a, b, c, d, 9, 0xd9d4d039, 4)
  DOOR_MD5_STEP(DOOR_MD5_H, d, a, b, c, 12, 0xe6db99e5, 11)
  DOOR_MD5_STEP(DOOR_MD5_H, c, d, a, b, 15, 0x1fa27cf8, 16)
  DOOR_MD5_STEP(DOOR_MD5_H, b, c, d, a, 2, 0xc4ac5665, 23)
  DOOR_MD5_STEP(DOOR_MD5_I, a, b, c, d, 0, 0xf4292244, 6)
  DOOR_MD5_STEP(DOOR_MD5_I, d, a, b, c, 7, 0x432aff97, 10)
  DOOR_MD5_STEP(DOOR_MD5_I, c, d, a, b, 14, 0xab9423a7, 15)
  DOOR_MD5_STEP(DOOR_MD5_I, b, c, d, a, 5, 0xfc93a039, 21)
  DOOR_MD5_STEP(DOOR_MD5_I, a, b, c, d, 12, 0x655b59c3, 6)
  DOOR_MD5_STEP(DOOR_MD5_I, d, a, b, c, 3, 0x8f0ccc92, 10)
  DOOR_MD5_STEP(DOOR_MD5_I, c, d, a, b, 10, 0xffeff47d, 15)
  DOOR_MD5_STEP(DOOR_MD5_I, b, c, d, a, 1, 0x85845dd1, 21)
  DOOR_MD5_STEP(DOOR_MD5_I, a, b, c, d, 8, 0x6fa87e4f, 6)
  DOOR_MD5_STEP(DOOR_MD5_I, d, a, b, c, 15, 0xfe2ce6e0, 10)
  DOOR_MD5_STEP(DOOR_MD5_I, c, d, a, b, 6, 0xa3014314, 15)
  DOOR_MD5_STEP(DOOR_MD5_I, b, c, d, a, 13, 0x4e0811a1, 21)
  DOOR_MD5_STEP(DOOR_MD5_I, a, b, c, d, 4, 0xf7537e82, 6)

  return a + 0x67452301u;
}

#endif
