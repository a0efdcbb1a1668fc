/* TCP options of one segment in BPF C, read as native/wire/parse.cc reads
 * them: EOL ends the list, NOP is one byte, every other option has a length
 * of at least 2 that fits the header (else the segment is malformed:
 * dropBadOptionLength); a known option with the wrong length is skipped, a
 * later copy wins. MSS 0 is no MSS, below 88 it is raised to 88 (Linux's
 * TCP_MIN_MSS); a window shift above 14 is 14 (RFC 7323 2.3).
 *
 * A global function, checked once: the loop reads at most the 40 option
 * bytes a TCP header can carry, one option (at least one byte) a turn. The
 * bytes are read with bpf_xdp_load_bytes, not through a packet pointer, so
 * the position is never pointer arithmetic (which would make the verifier
 * track its exact range, see door_blur). */
#ifndef SYNCACHE_DOOR_OPTIONS_H
#define SYNCACHE_DOOR_OPTIONS_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#define DOOR_OPT_MSS 1u             /* batch.h's OptFlag bits */
#define DOOR_OPT_WSCALE 2u
#define DOOR_OPT_SACK_PERMITTED 4u
#define DOOR_OPT_TIMESTAMPS 8u

#define DOOR_OPTIONS_MAX 40
#define DOOR_MIN_MSS 88

struct door_options {
  __u32 tsval;
  __u32 tsecr;
  __u16 mss;
  __u8 wscale;
  __u8 flags;       /* DOOR_OPT_* */
};

/* `at` is at most 40 (each option fits the rest of the list); masked to 6
 * bits behind clang's back, the verifier sees it as somewhere in 0..63 on
 * every turn, never as a value it could decide `at >= length` by: deciding
 * a branch by a value makes the verifier track it exactly, and the turns
 * would then multiply instead of pruning. */
static __always_inline __u32 door_blur(__u32 at)
{
  asm volatile("" : "+r"(at));
  return at & 63;
}

/* Reads the options in frame bytes [offset, offset + length) into *out.
 * Returns 0, or -1 on an impossible length (or bytes not in the frame). */
__attribute__((noinline)) int door_options(struct xdp_md *ctx, __u64 offset, __u64 length, struct door_options *out)
{
  if (!out)
    return -1;
  out->tsval = 0;
  out->tsecr = 0;
  out->mss = 0;
  out->wscale = 0;
  out->flags = 0;
  if (length > DOOR_OPTIONS_MAX)
    return -1;
  __u32 at = 0;
#pragma clang loop unroll(disable)
  for (int turn = 0; turn < DOOR_OPTIONS_MAX; turn++) {
    if (at >= length)
      break;
    __u8 head[2];
    if (bpf_xdp_load_bytes(ctx, offset + at, head, 1) != 0)
      return -1;
    if (head[0] == 0)
      break;
    if (head[0] == 1) {
      at = door_blur(at + 1);
      continue;
    }
    if (length - at < 2 || bpf_xdp_load_bytes(ctx, offset + at, head, 2) != 0)
      return -1;
    const __u32 len = head[1];
    if (len < 2 || len > length - at)
      return -1;
    __u8 v[8];
    if (head[0] == 2 && len == 4) {
      if (bpf_xdp_load_bytes(ctx, offset + at + 2, v, 2) != 0)
        return -1;
      __u16 mss = (__u16)(v[0] << 8 | v[1]);
      if (mss != 0) {
        out->mss = mss < DOOR_MIN_MSS ? DOOR_MIN_MSS : mss;
        out->flags |= DOOR_OPT_MSS;
      }
    } else if (head[0] == 3 && len == 3) {
      if (bpf_xdp_load_bytes(ctx, offset + at + 2, v, 1) != 0)
        return -1;
      out->wscale = v[0] > 14 ? 14 : v[0];
      out->flags |= DOOR_OPT_WSCALE;
    } else if (head[0] == 4 && len == 2) {
      out->flags |= DOOR_OPT_SACK_PERMITTED;
    } else if (head[0] == 8 && len == 10) {
      if (bpf_xdp_load_bytes(ctx, offset + at + 2, v, 8) != 0)
        return -1;
      out->tsval = (__u32)v[0] << 24 | (__u32)v[1] << 16 | (__u32)v[2] << 8 | v[3];
      out->tsecr = (__u32)v[4] << 24 | (__u32)v[5] << 16 | (__u32)v[6] << 8 | v[7];
      out->flags |= DOOR_OPT_TIMESTAMPS;
    }
    at = door_blur(at + len);
  }
  return 0;
}

#endif
