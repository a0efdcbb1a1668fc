/* The SYN cookie in BPF C: the same ISS, bit for bit, as
 * native/cookie/syncookie.cc makes (its header draws the layout and says
 * where the tables come from):
 *
 *   31                   8   7   6   5    3   2    0
 *   +---------------------+---+---+--------+--------+
 *   | MAC: MD5 bytes 0..2 |sel|sak| wscale |  mss   |
 *   +---------------------+---+---+--------+--------+
 *
 * The MAC block: secret[sel] (16 bytes), peer address, local address (16
 * bytes each, IPv4 in the first 4), peer port | local port << 16, the
 * client's ISN, state | family << 8, and a zero word. */
#ifndef SYNCACHE_DOOR_COOKIE_H
#define SYNCACHE_DOOR_COOKIE_H

#include <linux/types.h>

#include "door_abi.h"
#include "door_md5.h"

#define DOOR_COOKIE_MAC_SHIFT 8
#define DOOR_COOKIE_SELECTOR_SHIFT 7
#define DOOR_COOKIE_SACK_SHIFT 6
#define DOOR_COOKIE_WSCALE_SHIFT 3

#define DOOR_DEFAULT_MSS4 536
#define DOOR_DEFAULT_MSS6 1220
#define DOOR_MAX_WSCALE 14

/* The index of the largest kMssTable entry {216, 536, 1220, 1360, 1400,
 * 1440, 1460, 8940} not above `mss` (0 below 536). */
static __always_inline __u32 door_mss_index(__u32 mss)
{
  if (mss >= 8940) return 7;
  if (mss >= 1460) return 6;
  if (mss >= 1440) return 5;
  if (mss >= 1400) return 4;
  if (mss >= 1360) return 3;
  if (mss >= 1220) return 2;
  if (mss >= 536) return 1;
  return 0;
}

/* The index of the largest kWscaleTable shift {-, 0, 1, 2, 4, 6, 7, 8} not
 * above `shift` (clamped to 14 first); 0 is "no window scale". */
static __always_inline __u32 door_wscale_index(__u32 shift)
{
  if (shift > DOOR_MAX_WSCALE) shift = DOOR_MAX_WSCALE;
  if (shift >= 8) return 7;
  if (shift >= 7) return 6;
  if (shift >= 6) return 5;
  if (shift >= 4) return 4;
  if (shift >= 2) return 3;
  if (shift >= 1) return 2;
  return 1;
}

/* The 24-bit MAC of (secret, flow, client ISN, state byte). */
static __always_inline __u32 door_cookie_mac(const struct door_secret *secret, const struct door_flow *flow,
                                             __u32 isn, __u32 state)
{
  struct door_md5_block block = {};
  block.w[0] = secret->key[0];
  block.w[1] = secret->key[1];
  block.w[2] = secret->key[2];
  block.w[3] = secret->key[3];
  block.w[4] = flow->peer[0];
  block.w[5] = flow->peer[1];
  block.w[6] = flow->peer[2];
  block.w[7] = flow->peer[3];
  block.w[8] = flow->local[0];
  block.w[9] = flow->local[1];
  block.w[10] = flow->local[2];
  block.w[11] = flow->local[3];
  block.w[12] = (__u32)flow->peer_port | (__u32)flow->local_port << 16;
  block.w[13] = isn;
  block.w[14] = state | (__u32)flow->family << 8;
  return __builtin_bswap32(door_md5_first_word(&block)) >> 8;
}

#endif
