#include "door/door_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <cerrno>
#include <cstdarg>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "io/netns.h"

namespace syncache::door {

namespace {

// libbpf reports through one process-wide print callback. What it says
// while we load (a verifier refusal's log, a missing map) is kept for the
// error message instead of going to stderr; the mutex keeps two threads'
// loads apart.
std::mutex gLibbpfMutex;
std::string* gLibbpfLog = nullptr;

int CollectLibbpfOutput(enum libbpf_print_level level, const char* format, va_list args) {
  if (gLibbpfLog == nullptr || level == LIBBPF_DEBUG) return 0;
  char line[1024];
  const int n = vsnprintf(line, sizeof(line), format, args);
  if (n > 0) gLibbpfLog->append(line, std::min<size_t>(static_cast<size_t>(n), sizeof(line) - 1));
  return 0;
}

// The last `bytes` of libbpf's output: a verifier log ends with the reason.
std::string Tail(const std::string& log, size_t bytes) {
  if (log.size() <= bytes) return log;
  return "..." + log.substr(log.size() - bytes);
}

// Fills *error; returns false (boundary/sys_error.h).
inline bool Fail(SysError* error, int err, const char* syscall, std::string what, std::string hint = "") {
  return ReportSysError(error, err, syscall, std::move(what), std::move(hint));
}

constexpr const char* kMapNames[] = {"config", "secrets", "ports", "addrs", "reply_macs",
                                     "handed", "handed_hint", "admitted", "counters", "xsks"};

// Makes the hash map `fd` hold exactly `keys` (value 1): the new ones are
// added first, then the ones no longer given removed, so a key both before
// and after is never missing meanwhile.
template <typename Key>
bool ReplaceKeys(int fd, const Key* keys, uint32_t count, const char* what, SysError* error) {
  const uint8_t one = 1;
  for (uint32_t i = 0; i < count; i++) {
    if (bpf_map_update_elem(fd, &keys[i], &one, BPF_ANY) != 0)
      return Fail(error, errno, "bpf_map_update_elem", std::string("cannot write the door's ") + what);
  }
  std::vector<Key> stale;
  Key key{};
  Key next{};
  const Key* previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, &next) == 0) {
    bool keep = false;
    for (uint32_t i = 0; i < count && !keep; i++) keep = std::memcmp(&keys[i], &next, sizeof(next)) == 0;
    if (!keep) stale.push_back(next);
    key = next;
    previous = &key;
  }
  for (const Key& k : stale) {
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT)
      return Fail(error, errno, "bpf_map_delete_elem", std::string("cannot remove one of the door's ") + what);
  }
  return true;
}

}  // namespace

bool DoorLoader::MapFd(const char* name, int* fd, SysError* error) {
  *fd = bpf_object__find_map_fd_by_name(object_, name);
  if (*fd < 0) return Fail(error, ENOENT, "bpf_object__find_map_fd_by_name", std::string("the door object has no map ") + name,
                           "rebuild the addon (npm run build)");
  return true;
}

bool DoorLoader::Load(const std::string& objectPath, SysError* error) {
  Close();
  std::string log;
  {
    std::lock_guard<std::mutex> lock(gLibbpfMutex);
    gLibbpfLog = &log;
    libbpf_print_fn_t previous = libbpf_set_print(CollectLibbpfOutput);
    object_ = bpf_object__open_file(objectPath.c_str(), nullptr);
    int err = object_ == nullptr ? errno : 0;
    if (err == 0) err = -bpf_object__load(object_);
    libbpf_set_print(previous);
    gLibbpfLog = nullptr;
    if (object_ == nullptr)
      return Fail(error, err, "bpf_object__open_file", "cannot open the door's BPF object " + objectPath,
                  "rebuild the addon (npm run build)");
    if (err != 0) {
      Close();
      return Fail(error, err, "bpf_object__load", "the kernel refused the door's XDP program: " + Tail(log, 1500),
                  "loading the door needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (or root)");
    }
  }
  bpf_program* program = bpf_object__find_program_by_name(object_, "door");
  if (program == nullptr) {
    Close();
    return Fail(error, ENOENT, "bpf_object__find_program_by_name", "the door object has no program 'door'",
                "rebuild the addon (npm run build)");
  }
  programFd_ = bpf_program__fd(program);
  int* fds[] = {&config_, &secrets_, &ports_, &addrs_, &replyMacs_, &handed_, &handedHint_, &admitted_, &counters_, &xsks_};
  for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
    if (!MapFd(kMapNames[i], fds[i], error)) {
      Close();
      return false;
    }
  }
  if (!flows_.Open(handed_, admitted_, handedHint_, error)) {
    Close();
    return false;
  }
  return true;
}

bool DoorLoader::Attach(const std::string& netns, const std::string& iface, SysError* error) {
  if (object_ == nullptr) return Fail(error, EBADF, "bpf_program__attach_xdp", "the door is closed");
  if (link_ != nullptr) return Fail(error, EBUSY, "bpf_program__attach_xdp", "the door is attached already",
                                    "detach() first");
  NetnsScope scope;
  const char* syscall = "";
  int err = scope.Enter(netns, &syscall);
  if (err != 0) return Fail(error, err, syscall, "cannot enter network namespace " + netns);
  const uint32_t ifindex = if_nametoindex(iface.c_str());
  if (ifindex == 0) {
    err = errno;
    scope.Leave();
    return Fail(error, err, "if_nametoindex", "no interface " + iface + (netns.empty() ? "" : " in " + netns));
  }
  bpf_program* program = bpf_object__find_program_by_name(object_, "door");
  bpf_link* link = bpf_program__attach_xdp(program, static_cast<int>(ifindex));
  err = link == nullptr ? errno : 0;
  const int leaveErr = scope.Leave();
  if (link == nullptr)
    return Fail(error, err, "bpf_program__attach_xdp", "cannot attach the door to " + iface,
                err == EBUSY || err == EEXIST ? "another XDP program is attached there" : "");
  link_ = link;
  ifindex_ = ifindex;
  if (leaveErr != 0) return Fail(error, leaveErr, "setns", "cannot return to the original network namespace");
  return true;
}

void DoorLoader::Detach() {
  if (link_ != nullptr) bpf_link__destroy(link_);
  link_ = nullptr;
  ifindex_ = 0;
}

bool DoorLoader::SetConfig(const door_config& config, SysError* error) {
  const uint32_t zero = 0;
  if (bpf_map_update_elem(config_, &zero, &config, BPF_ANY) != 0)
    return Fail(error, errno, "bpf_map_update_elem", "cannot write the door's config");
  return true;
}

bool DoorLoader::SetSecret(uint32_t slot, const uint8_t* key, SysError* error) {
  door_secret secret{};
  if (key != nullptr) {
    secret.valid = 1;
    std::memcpy(secret.key, key, sizeof(secret.key));
  }
  if (bpf_map_update_elem(secrets_, &slot, &secret, BPF_ANY) != 0)
    return Fail(error, errno, "bpf_map_update_elem", "cannot write cookie secret slot " + std::to_string(slot));
  return true;
}

bool DoorLoader::SetPorts(const door_ports& ports, SysError* error) {
  const uint32_t zero = 0;
  if (bpf_map_update_elem(ports_, &zero, &ports, BPF_ANY) != 0)
    return Fail(error, errno, "bpf_map_update_elem", "cannot write the door's ports");
  return true;
}

bool DoorLoader::SetAddresses(const door_addr* addrs, uint32_t count, SysError* error) {
  return ReplaceKeys(addrs_, addrs, count, "addresses", error);
}

bool DoorLoader::SetReplyMacs(const door_mac* macs, uint32_t count, SysError* error) {
  return ReplaceKeys(replyMacs_, macs, count, "reply MACs", error);
}

bool DoorLoader::SetSocket(uint32_t queue, int fd, SysError* error) {
  const uint32_t value = static_cast<uint32_t>(fd);
  if (bpf_map_update_elem(xsks_, &queue, &value, BPF_ANY) != 0)
    return Fail(error, errno, "bpf_map_update_elem", "cannot put an AF_XDP socket at rx queue " + std::to_string(queue),
                errno == EOPNOTSUPP ? "the descriptor is not an AF_XDP socket" : "");
  return true;
}

bool DoorLoader::ClearSocket(uint32_t queue, SysError* error) {
  if (bpf_map_delete_elem(xsks_, &queue) != 0 && errno != ENOENT)
    return Fail(error, errno, "bpf_map_delete_elem", "cannot clear rx queue " + std::to_string(queue));
  return true;
}

bool DoorLoader::ReadCounters(uint64_t* out, SysError* error) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return Fail(error, -cpus, "libbpf_num_possible_cpus", "cannot count the CPUs");
  std::vector<door_counters> perCpu(static_cast<size_t>(cpus));
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(counters_, &zero, perCpu.data()) != 0)
    return Fail(error, errno, "bpf_map_lookup_elem", "cannot read the door's counters");
  for (uint32_t c = 0; c < DOOR_COUNTER_COUNT; c++) {
    uint64_t total = 0;
    for (const door_counters& cpu : perCpu) total += cpu.value[c];
    out[c] = total;
  }
  return true;
}

bool DoorLoader::Info(ProgramInfo* info, SysError* error) {
  bpf_prog_info raw{};
  uint32_t length = sizeof(raw);
  if (bpf_obj_get_info_by_fd(programFd_, &raw, &length) != 0)
    return Fail(error, errno, "bpf_obj_get_info_by_fd", "cannot read the door program's info");
  info->id = raw.id;
  info->xlatedInsns = raw.xlated_prog_len / 8;
  info->jitedBytes = raw.jited_prog_len;
  info->verifiedInsns = raw.verified_insns;
  return true;
}

bool DoorLoader::TestRun(const uint8_t* frame, uint32_t length, uint8_t* out, uint32_t capacity, uint32_t repeat,
                         TestRunResult* result, SysError* error) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_out = out, .data_size_in = length,
              .data_size_out = capacity, .repeat = static_cast<int>(repeat));
  if (bpf_prog_test_run_opts(programFd_, &opts) != 0)
    return Fail(error, errno, "bpf_prog_test_run_opts", "cannot run the door on a test frame",
                errno == ENOSPC ? "the output buffer is too small" : "");
  result->verdict = opts.retval;
  result->length = opts.data_size_out;
  result->durationNs = opts.duration;
  return true;
}

void DoorLoader::Close() {
  Detach();
  if (object_ != nullptr) bpf_object__close(object_);
  object_ = nullptr;
  programFd_ = -1;
  flows_.Close();
  config_ = secrets_ = ports_ = addrs_ = replyMacs_ = handed_ = handedHint_ = admitted_ = counters_ = xsks_ = -1;
}

}  // namespace syncache::door
