#!/bin/sh
# Compiles the door's XDP program (door.bpf.c) into $1, for binding.gyp.
# -g keeps the BTF that libbpf needs for the maps' definitions and the
# verifier for the global functions; the multiarch include directory holds
# <asm/types.h>, which <linux/types.h> wants and -target bpf does not find.
set -e
here=$(dirname "$0")
multiarch=$(clang -print-multiarch 2>/dev/null)
exec clang -O2 -g -target bpf -Wall -Werror ${multiarch:+-I/usr/include/$multiarch} \
  -c "$here/door.bpf.c" -o "$1"
