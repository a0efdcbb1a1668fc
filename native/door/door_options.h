/* TCP options of one segment in BPF C, read as native/wire/parse.cc reads
 * them: EOL ends the list, NOP is one byte, every other option has a length
 * of at least 2 that fits the header (else the segment is malformed:
 * dropBadOptionLength); a known option with the wrong length is skipped, a
 * later copy wins. MSS 0 is no MSS, below 88 it is raised to 88 (Linux's
 * TCP_MIN_MSS); a window shift above 14 is 14 (RFC 7323 2.3).
 *
 * Linux's own SYN layout is read in place first (door_options_linux_syn),
 * any other by a global function, checked once: the list (at most the 40 bytes a TCP
 * header can carry) is copied to the stack with one bpf_xdp_load_bytes, and
 * the loop reads one option (at least one byte) a turn from there. */
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
#define DOOR_OPTIONS_BUFFER 80
#define DOOR_MIN_MSS 88

struct door_options {
  __u32 tsval;
  __u32 tsecr;
  __u16 mss;
  __u8 wscale;
  __u8 flags;       /* DOOR_OPT_* */
};

/* The loop's position goes through this per-CPU word on every turn. `at`
 * is at most 40 (each option fits the rest of the list), but a value the
 * verifier knows exactly is one it tracks exactly: at each turn it would
 * walk the rest of the loop once for every position it could be at. A
 * value read back from map memory is one the verifier does not know, and
 * masked to 6 bits it is "somewhere in 0..63" on every turn, so the turns'
 * states prune instead of multiplying. (Reading each option with its own
 * bpf_xdp_load_bytes also keeps the position unknown to the verifier, at
 * two or three helper calls an option.) */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} door_options_position SEC(".maps");

static __always_inline __u32 door_blur(volatile __u32 *slot, __u32 at)
{
  *slot = at;
  return *slot & 63;
}

/* The layout Linux sends in a SYN, and so most SYNs carry: MSS,
 * SACK-permitted, timestamps, NOP, window scale (20 bytes). Read in place,
 * without door_options' copy and loop, into what door_options would read
 * from it; 0 (and *out untouched) for any other list. `p` is the list, of
 * `length` bytes, in the frame that ends at `end`. */
static __always_inline int door_options_linux_syn(const __u8 *p, __u32 length, void *end, struct door_options *out)
{
  if (length != 20 || (void *)(p + 20) > end)
    return 0;
  if (p[0] != 2 || p[1] != 4 || p[4] != 4 || p[5] != 2 || p[6] != 8 || p[7] != 10 || p[16] != 1 || p[17] != 3 ||
      p[18] != 3)
    return 0;
  const __u16 mss = (__u16)(p[2] << 8 | p[3]);
  out->flags = DOOR_OPT_SACK_PERMITTED | DOOR_OPT_TIMESTAMPS | DOOR_OPT_WSCALE;
  out->mss = 0;
  if (mss != 0) {
    out->mss = mss < DOOR_MIN_MSS ? DOOR_MIN_MSS : mss;
    out->flags |= DOOR_OPT_MSS;
  }
  out->tsval = (__u32)p[8] << 24 | (__u32)p[9] << 16 | (__u32)p[10] << 8 | p[11];
  out->tsecr = (__u32)p[12] << 24 | (__u32)p[13] << 16 | (__u32)p[14] << 8 | p[15];
  out->wscale = p[19] > 14 ? 14 : p[19];
  return 1;
}

/* Reads the options in frame bytes [offset, offset + length) into *out.
 * Returns 0, or -1 on an impossible length (or bytes not in the frame). */
__attribute__((noinline)) int door_options(struct xdp_md *ctx, __u64 offset, __u64 length, struct door_options *out)
{
  /* The list, copied once; every index the loop can form (door_blur's 63,
   * plus the 9 bytes after it an option reads) lies within it. */
  __u8 list[DOOR_OPTIONS_BUFFER] = {};
  const __u32 zero = 0;
  volatile __u32 *position = bpf_map_lookup_elem(&door_options_position, &zero);
  if (!out || !position)
    return -1;
  out->tsval = 0;
  out->tsecr = 0;
  out->mss = 0;
  out->wscale = 0;
  out->flags = 0;
  if (length > DOOR_OPTIONS_MAX)
    return -1;
  if (length > 0 && bpf_xdp_load_bytes(ctx, offset, list, length) != 0)
    return -1;
  __u32 at = 0;
#pragma clang loop unroll(disable)
  for (int turn = 0; turn < DOOR_OPTIONS_MAX; turn++) {
    if (at >= length)
      break;
    const __u8 *p = list + at;
    const __u8 kind = p[0];
    if (kind == 0)
      break;
    if (kind == 1) {
      at = door_blur(position, at + 1);
      continue;
    }
    if (length - at < 2)
      return -1;
    const __u32 len = p[1];
    if (len < 2 || len > length - at)
      return -1;
    if (kind == 2 && len == 4) {
      const __u16 mss = (__u16)(p[2] << 8 | p[3]);
      if (mss != 0) {
        out->mss = mss < DOOR_MIN_MSS ? DOOR_MIN_MSS : mss;
        out->flags |= DOOR_OPT_MSS;
      }
    } else if (kind == 3 && len == 3) {
      out->wscale = p[2] > 14 ? 14 : p[2];
      out->flags |= DOOR_OPT_WSCALE;
    } else if (kind == 4 && len == 2) {
      out->flags |= DOOR_OPT_SACK_PERMITTED;
    } else if (kind == 8 && len == 10) {
      out->tsval = (__u32)p[2] << 24 | (__u32)p[3] << 16 | (__u32)p[4] << 8 | p[5];
      out->tsecr = (__u32)p[6] << 24 | (__u32)p[7] << 16 | (__u32)p[8] << 8 | p[9];
      out->flags |= DOOR_OPT_TIMESTAMPS;
    }
    at = door_blur(position, at + len);
  }
  return 0;
}

#endif
