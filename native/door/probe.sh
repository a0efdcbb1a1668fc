#!/bin/sh
# What the door's build needs and this machine lacks, for binding.gyp: prints
# nothing when clang can compile BPF with libbpf's headers and the linker
# finds libbpf, else the missing packages (e.g. "clang libbpf-dev"). Never
# fails: without the door the addon builds as before.
missing=""
dir=$(mktemp -d 2>/dev/null || echo /tmp/syncache-door-probe.$$)
mkdir -p "$dir"
multiarch=$(clang -print-multiarch 2>/dev/null)
printf '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("xdp") int probe(struct xdp_md *ctx) { return XDP_PASS; }\nchar LICENSE[] SEC("license") = "GPL";\n' > "$dir/probe.bpf.c"
if ! command -v clang >/dev/null 2>&1; then
  missing="clang"
elif ! clang -O2 -target bpf ${multiarch:+-I/usr/include/$multiarch} -c "$dir/probe.bpf.c" -o "$dir/probe.bpf.o" >/dev/null 2>&1; then
  if [ -f /usr/include/bpf/bpf_helpers.h ]; then missing="clang (with the bpf target)"; else missing="libbpf-dev"; fi
fi
printf '#include <bpf/libbpf.h>\nint main(void) { return libbpf_major_version() == 0; }\n' > "$dir/probe.c"
if ! ${CC:-cc} "$dir/probe.c" -o "$dir/probe" -lbpf >/dev/null 2>&1; then
  case "$missing" in
    *libbpf-dev*) ;;
    "") missing="libbpf-dev" ;;
    *) missing="$missing libbpf-dev" ;;
  esac
fi
rm -rf "$dir"
printf '%s' "$missing"
