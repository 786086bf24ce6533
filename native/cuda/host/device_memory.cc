// HOST EMULATION ONLY: the fake device's memory blocks (see device_memory.h). Each block is its own
// memory mapping and ends at an inaccessible guard page; a freed block becomes inaccessible and is
// remembered for a while (quarantine), so a kernel that reads past a block or after a free faults, and
// the SIGSEGV handler below explains the fault, naming the kernel, block and thread that made it.
#include "device_memory.h"
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace ibhost {
namespace {

const char *kindName(BlockKind kind) { return kind == BlockKind::Pool ? "pool" : kind == BlockKind::Direct ? "cudaMalloc" : "pinned host"; }

struct Allocation {
  size_t bytes;
  BlockKind kind;
  char *mapping;  // the block's pages and, after them, its guard page
  size_t mappingBytes;
};

struct Table {
  std::map<uintptr_t, Allocation> live;
  // Freed blocks stay mapped but inaccessible until kQuarantine* more have been freed after them, so a
  // stale address stays recognisable and is not silently reused.
  std::deque<std::pair<uintptr_t, Allocation>> quarantine;
  size_t quarantineBytes = 0;
};

Table &table() {
  static Table instance;
  return instance;
}

constexpr size_t kQuarantineBytes = size_t(256) << 20;
constexpr size_t kQuarantineBlocks = 8192;  // each is two memory mappings; Linux allows about 65k
const size_t kPage = (size_t)sysconf(_SC_PAGESIZE);

std::string hex(const void *ptr) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", ptr);
  return text;
}

/** The live allocation holding `ptr`, or null. */
const std::pair<const uintptr_t, Allocation> *liveHolding(const void *ptr) {
  auto &live = table().live;
  uintptr_t address = reinterpret_cast<uintptr_t>(ptr);
  auto it = live.upper_bound(address);
  if (it == live.begin()) return nullptr;
  --it;
  return address < it->first + it->second.bytes ? &*it : nullptr;
}

/** Why `ptr` is not usable: freed (still remembered) or never allocated. */
std::string unknownAddress(const void *ptr, const std::string &what) {
  uintptr_t address = reinterpret_cast<uintptr_t>(ptr);
  for (const auto &[base, allocation] : table().quarantine) {
    if (address >= base && address < base + allocation.bytes) {
      return "host emulation: " + what + " uses " + hex(ptr) + ", inside a " + std::to_string(allocation.bytes) + "-byte " +
             kindName(allocation.kind) + " block that was already freed (a use after free, or a double free)";
    }
  }
  return "host emulation: " + what + " uses " + hex(ptr) + ", which is not inside any live allocation (never allocated, or freed long ago)";
}

struct sigaction previousFaultAction;

/** SIGSEGV: a fault on a guard page or a freed block is explained, then the process dies of it (the
 *  previous handler reinstated, the access faults again); any other fault goes to the previous handler
 *  (node's: V8 handles WebAssembly bounds checks this way). */
void onFault(int signal, siginfo_t *info, void *context) {
  uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr);
  const char *what = nullptr;
  const Allocation *block = nullptr;
  uintptr_t start = 0;
  for (const auto &[ptr, allocation] : table().live) {
    uintptr_t mapping = reinterpret_cast<uintptr_t>(allocation.mapping);
    if (address >= mapping && address < mapping + allocation.mappingBytes) what = "past the end of a", block = &allocation, start = ptr;
  }
  for (const auto &[ptr, allocation] : table().quarantine) {
    uintptr_t mapping = reinterpret_cast<uintptr_t>(allocation.mapping);
    if (address >= mapping && address < mapping + allocation.mappingBytes) what = "inside a freed", block = &allocation, start = ptr;
  }
  if (what) {
    char running[256], line[512];
    describeRunningThread(running, sizeof running);
    int n = std::snprintf(line, sizeof line, "host emulation: %s touched %p, %s %zu-byte %s block at %p (offset %lld)\n", running, info->si_addr, what,
                          block->bytes, kindName(block->kind), reinterpret_cast<void *>(start), (long long)(address - start));
    if (n > 0) (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  } else if ((previousFaultAction.sa_flags & SA_SIGINFO) && previousFaultAction.sa_sigaction) {
    return previousFaultAction.sa_sigaction(signal, info, context);
  } else if (!(previousFaultAction.sa_flags & SA_SIGINFO) && previousFaultAction.sa_handler != SIG_DFL && previousFaultAction.sa_handler != SIG_IGN) {
    return previousFaultAction.sa_handler(signal);
  }
  sigaction(SIGSEGV, &previousFaultAction, nullptr);
}

void installFaultHandler() {
  struct sigaction action {};
  action.sa_sigaction = onFault;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGSEGV, &action, &previousFaultAction);
}

}  // namespace

/** 16-byte aligned at its end (as float4 loads need), which is right at the guard page. */
void *allocateBlock(size_t bytes, BlockKind kind) {
  std::lock_guard<std::recursive_mutex> lock(emulationLock());
  static bool handlerInstalled = (installFaultHandler(), true);
  (void)handlerInstalled;
  size_t rounded = bytes < 16 ? 16 : (bytes + 15) / 16 * 16;
  size_t dataBytes = (rounded + kPage - 1) / kPage * kPage;
  void *mapping = mmap(nullptr, dataBytes + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) return nullptr;
  char *base = static_cast<char *>(mapping);
  mprotect(base + dataBytes, kPage, PROT_NONE);
  char *ptr = base + dataBytes - rounded;
  std::memset(ptr, 0xff, rounded);
  table().live.emplace(reinterpret_cast<uintptr_t>(ptr), Allocation{bytes, kind, base, dataBytes + kPage});
  return ptr;
}

size_t releaseBlock(void *ptr, BlockKind kind, const char *what) {
  std::lock_guard<std::recursive_mutex> lock(emulationLock());
  Table &s = table();
  auto it = s.live.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == s.live.end()) {
    const auto *holder = liveHolding(ptr);
    if (holder) throw MisuseError("host emulation: " + std::string(what) + " of " + hex(ptr) + ", which points inside a live block (at offset " +
                                  std::to_string(reinterpret_cast<uintptr_t>(ptr) - holder->first) + ") rather than at its start");
    throw MisuseError(unknownAddress(ptr, what));
  }
  if (it->second.kind != kind) throw MisuseError("host emulation: " + std::string(what) + " of " + hex(ptr) + ", a " + kindName(it->second.kind) + " block");
  Allocation allocation = it->second;
  s.live.erase(it);
  // Inaccessible from now on, and its pages given back to the system (the addresses stay reserved).
  mprotect(allocation.mapping, allocation.mappingBytes, PROT_NONE);
  madvise(allocation.mapping, allocation.mappingBytes, MADV_DONTNEED);
  s.quarantine.emplace_back(reinterpret_cast<uintptr_t>(ptr), allocation);
  s.quarantineBytes += allocation.mappingBytes;
  while ((s.quarantineBytes > kQuarantineBytes || s.quarantine.size() > kQuarantineBlocks) && s.quarantine.size() > 1) {
    const Allocation &oldest = s.quarantine.front().second;
    s.quarantineBytes -= oldest.mappingBytes;
    munmap(oldest.mapping, oldest.mappingBytes);
    s.quarantine.pop_front();
  }
  return allocation.bytes;
}

void checkDeviceRange(const void *ptr, size_t bytes, const std::string &what) {
  std::lock_guard<std::recursive_mutex> lock(emulationLock());
  const auto *holder = liveHolding(ptr);
  if (!holder || holder->second.kind == BlockKind::Pinned) throw MisuseError(unknownAddress(ptr, what));
  size_t offset = reinterpret_cast<uintptr_t>(ptr) - holder->first;
  if (bytes > holder->second.bytes - offset) {
    throw MisuseError("host emulation: " + what + " uses " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) + " of a " +
                      std::to_string(holder->second.bytes) + "-byte block (past its end)");
  }
}

void checkDevicePointer(const void *ptr, const std::string &what) {
  if (ptr) checkDeviceRange(ptr, 1, what);
}

bool insidePinnedBlock(const void *ptr, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(emulationLock());
  const auto *holder = liveHolding(ptr);
  return holder && holder->second.kind == BlockKind::Pinned && bytes <= holder->second.bytes - (reinterpret_cast<uintptr_t>(ptr) - holder->first);
}

/** A host-side operand: a pinned block must be used within its bounds; other host memory is pageable. */
void checkHostRange(const void *ptr, size_t bytes, const char *what) {
  std::lock_guard<std::recursive_mutex> lock(emulationLock());
  const auto *holder = liveHolding(ptr);
  if (!holder) return;
  if (holder->second.kind != BlockKind::Pinned) throw MisuseError(std::string("host emulation: ") + what + " names device memory " + hex(ptr) + " as host memory");
  size_t offset = reinterpret_cast<uintptr_t>(ptr) - holder->first;
  if (bytes > holder->second.bytes - offset) throw MisuseError(std::string("host emulation: ") + what + " runs past the end of a pinned block");
}

}  // namespace ibhost
