// The bpf() system call, without libbpf: a union bpf_attr zeroed and filled
// by the caller, the command, and errno on failure. (The AF_XDP backend
// puts its socket into an XSKMAP with it; the lab loads its redirect
// program with it.)
#pragma once

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace syncache {

// Returns the call's result (an fd for commands that make one), or -1 with errno set.
inline long BpfCall(int cmd, bpf_attr* attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

inline uint64_t BpfPointer(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

// Map `fd`'s key -> value (4-byte key and value, BPF_ANY). Returns 0 or an errno.
inline int BpfMapPut(int fd, uint32_t key, uint32_t value) {
  bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.map_fd = static_cast<uint32_t>(fd);
  attr.key = BpfPointer(&key);
  attr.value = BpfPointer(&value);
  attr.flags = BPF_ANY;
  return BpfCall(BPF_MAP_UPDATE_ELEM, &attr) == 0 ? 0 : errno;
}

// What the kernel says about map `fd` (BPF_OBJ_GET_INFO_BY_FD). Returns 0 or an errno.
inline int BpfMapInfo(int fd, bpf_map_info* info) {
  std::memset(info, 0, sizeof(*info));
  bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.info.bpf_fd = static_cast<uint32_t>(fd);
  attr.info.info_len = sizeof(*info);
  attr.info.info = BpfPointer(info);
  return BpfCall(BPF_OBJ_GET_INFO_BY_FD, &attr) == 0 ? 0 : errno;
}

}  // namespace syncache
