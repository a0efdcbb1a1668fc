/* The Internet checksum (RFC 1071) over bytes of an XDP frame, in BPF C, as
 * native/wire/checksum.h computes it: 32-bit words as they lie in memory
 * into a 64-bit sum, then 16 bits, then a last byte as {byte, 0}, folded at
 * the end. The sum does not depend on byte order, so the folded result is
 * stored back as it is and comes out in network order.
 *
 * A global function, checked by the verifier once (its scalar arguments are
 * 64-bit so that the bounds it checks are the registers it uses): the loop
 * over words is
 * bounded by DOOR_SUM_MAX_BYTES; longer ranges are refused (the caller then
 * leaves the frame to userspace, which checks any length). */
#ifndef SYNCACHE_DOOR_SUM_H
#define SYNCACHE_DOOR_SUM_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* A 1500-byte MTU's TCP segment with IPv4 (1480) or IPv6 (1460). */
#define DOOR_SUM_MAX_BYTES 1480
/* Where a summed range may start: past Ethernet, a tag, IPv6 and the
 * extension headers the door walks (door.bpf.c bounds them). */
#define DOOR_SUM_MAX_OFFSET 1024
#define DOOR_SUM_REFUSED 0xffffffffu

static __always_inline __u32 door_fold(__u64 sum)
{
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return (__u32)sum;
}

/* The folded sum of `seed` and frame bytes [offset, offset + length), or
 * DOOR_SUM_REFUSED if the range is too long or not all in the frame. A
 * range whose checksum field holds the right value folds to 0xffff. */
__attribute__((noinline)) __u32 door_sum(struct xdp_md *ctx, __u64 offset, __u64 length, __u64 seed)
{
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  if (offset > DOOR_SUM_MAX_OFFSET || length > DOOR_SUM_MAX_BYTES)
    return DOOR_SUM_REFUSED;
  __u8 *base = data + offset;
  __u64 sum = seed;
  __u32 words = length / 4;
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < DOOR_SUM_MAX_BYTES / 4; i++) {
    if (i >= words)
      break;
    __u32 *w = (__u32 *)(base + i * 4);
    if ((void *)(w + 1) > end)
      return DOOR_SUM_REFUSED;
    sum += *w;
  }
  __u8 *p = base + words * 4;
  if (length & 2) {
    if ((void *)(p + 2) > end)
      return DOOR_SUM_REFUSED;
    sum += *(__u16 *)p;
    p += 2;
  }
  if (length & 1) {
    if ((void *)(p + 1) > end)
      return DOOR_SUM_REFUSED;
    sum += *p; /* {byte, 0} read as a little-endian 16-bit word */
  }
  return door_fold(sum);
}

#endif
