// HOST EMULATION ONLY: a fake CUDA runtime on host memory, so that native/cuda/src runs without a GPU.
// Everything is synchronous: a copy or a kernel has finished when its call returns, so streams and
// events are always complete. What it adds over a GPU is bookkeeping the GPU does not give us: every
// device allocation is in a table, and a use of an address that is not inside a live allocation (freed,
// never allocated, or past the end) throws ibhost::MisuseError with the address and what used it.
// Kernels dereference raw pointers, so for them the memory itself is the check: each block ends at an
// inaccessible guard page, a freed block becomes inaccessible, and a kernel touching either stops the
// process with a message naming the kernel, its block and thread. New blocks are filled with 0xff
// bytes (NaN as float32, -1 as int32), so a result that is read before it is written shows.
// The addon calls it from its main thread, except cudaEventSynchronize from its read workers: only the
// event table is locked, and the last error is per thread as in CUDA.
//
// Memory pool model: a caching pool without fragmentation. "Reserved" is what the pool holds from the
// device (what is in use plus what freed blocks keep cached); an allocation that needs the pool to grow
// past the device's capacity fails with cudaErrorMemoryAllocation; trimming drops the cached part.
#include <cuda_runtime_api.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include "fake_runtime.h"

struct IbHostStream {
  unsigned int flags;
};
struct IbHostEvent {
  bool timing = true;
  bool recorded = false;
  std::chrono::steady_clock::time_point at;
};
struct IbHostMemPool {
  size_t used = 0, usedHigh = 0, reserved = 0, reservedHigh = 0;
  uint64_t releaseThreshold = 0;
};

namespace ibhost {
namespace {

enum class Kind { Pool, Direct, Pinned };
const char *kindName(Kind kind) { return kind == Kind::Pool ? "pool" : kind == Kind::Direct ? "cudaMalloc" : "pinned host"; }

struct Allocation {
  size_t bytes;
  Kind kind;
  char *mapping;  // the block's pages and, after them, its guard page
  size_t mappingBytes;
};

struct State {
  size_t capacity = size_t(4) << 30;
  size_t directBytes = 0;  // cudaMalloc'd, outside the pool
  IbHostMemPool pool;
  std::map<uintptr_t, Allocation> live;
  // Freed blocks stay mapped but inaccessible until kQuarantine* more have been freed after them, so a
  // stale address stays recognisable and is not silently reused.
  std::deque<std::pair<uintptr_t, Allocation>> quarantine;
  size_t quarantineBytes = 0;
  std::set<IbHostStream *> streams;
  // The addon waits for events on worker threads too (ReadWorker): the event table has a lock.
  std::mutex eventsLock;
  std::set<IbHostEvent *> events;
};

thread_local cudaError_t lastError = cudaSuccess;  // per thread, as in CUDA

State &state() {
  static State instance;
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

cudaError_t fail(cudaError_t error) {
  lastError = error;
  return error;
}

/** The live allocation holding `ptr`, or null. */
const std::pair<const uintptr_t, Allocation> *liveHolding(const void *ptr) {
  auto &live = state().live;
  uintptr_t address = reinterpret_cast<uintptr_t>(ptr);
  auto it = live.upper_bound(address);
  if (it == live.begin()) return nullptr;
  --it;
  return address < it->first + it->second.bytes ? &*it : nullptr;
}

/** Why `ptr` is not usable: freed (still remembered) or never allocated. */
std::string unknownAddress(const void *ptr, const std::string &what) {
  uintptr_t address = reinterpret_cast<uintptr_t>(ptr);
  for (const auto &[base, allocation] : state().quarantine) {
    if (address >= base && address < base + allocation.bytes) {
      return "host emulation: " + what + " uses " + hex(ptr) + ", inside a " + std::to_string(allocation.bytes) + "-byte " +
             kindName(allocation.kind) + " block that was already freed (a use after free, or a double free)";
    }
  }
  return "host emulation: " + what + " uses " + hex(ptr) + ", which is not inside any live allocation (never allocated, or freed long ago)";
}

void installFaultHandler();

/** A block that ends (16-byte aligned, as float4 loads need) right at a guard page. */
void *allocate(size_t bytes, Kind kind) {
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
  state().live.emplace(reinterpret_cast<uintptr_t>(ptr), Allocation{bytes, kind, base, dataBytes + kPage});
  return ptr;
}

/** Removes a live allocation of `kind` starting at `ptr` and returns its size; throws on anything else. */
size_t release(void *ptr, Kind kind, const char *what) {
  State &s = state();
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
  mprotect(allocation.mapping, allocation.mappingBytes, PROT_NONE);
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

struct sigaction previousFaultAction;

/** SIGSEGV: a fault on a guard page or a freed block is explained, then the process dies of it (the
 *  previous handler reinstated, the access faults again); any other fault goes to the previous handler
 *  (node's: V8 handles WebAssembly bounds checks this way). */
void onFault(int signal, siginfo_t *info, void *context) {
  uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr);
  const char *what = nullptr;
  const Allocation *block = nullptr;
  uintptr_t start = 0;
  for (const auto &[ptr, allocation] : state().live) {
    uintptr_t mapping = reinterpret_cast<uintptr_t>(allocation.mapping);
    if (address >= mapping && address < mapping + allocation.mappingBytes) what = "past the end of a", block = &allocation, start = ptr;
  }
  for (const auto &[ptr, allocation] : state().quarantine) {
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

/** Device memory taken from the device: cudaMalloc'd blocks and what the pool holds. */
size_t deviceBytesTaken() { return state().directBytes + state().pool.reserved; }

void trimPool(size_t keep) {
  IbHostMemPool &pool = state().pool;
  size_t target = pool.used > keep ? pool.used : keep;
  if (pool.reserved > target) pool.reserved = target;
}

}  // namespace

void checkDeviceRange(const void *ptr, size_t bytes, const std::string &what) {
  const auto *holder = liveHolding(ptr);
  if (!holder || holder->second.kind == Kind::Pinned) throw MisuseError(unknownAddress(ptr, what));
  size_t offset = reinterpret_cast<uintptr_t>(ptr) - holder->first;
  if (bytes > holder->second.bytes - offset) {
    throw MisuseError("host emulation: " + what + " uses " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) + " of a " +
                      std::to_string(holder->second.bytes) + "-byte block (past its end)");
  }
}

void checkDevicePointer(const void *ptr, const std::string &what) {
  if (ptr) checkDeviceRange(ptr, 1, what);
}

void setLastError(cudaError_t error) { lastError = error; }

size_t setCapacity(size_t bytes) {
  size_t previous = state().capacity;
  state().capacity = bytes;
  return previous;
}

}  // namespace ibhost

using ibhost::fail;
using ibhost::state;

cudaError_t cudaGetLastError() {
  cudaError_t error = ibhost::lastError;
  ibhost::lastError = cudaSuccess;
  return error;
}

const char *cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
  }
  return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory (host emulation capacity)";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
  }
  return "unknown error";
}

// No driver and no CUDA runtime: version 0, so nothing reads as a real CUDA version.
cudaError_t cudaDriverGetVersion(int *version) {
  *version = 0;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int *version) {
  *version = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int *count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "host emulation (no GPU)");
  prop->totalGlobalMem = state().capacity;
  // 9.0 so that the addon's bf16 and tf32 paths (which need 8.0) can be exercised.
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *freeBytes, size_t *totalBytes) {
  size_t taken = ibhost::deviceBytesTaken();
  *totalBytes = state().capacity;
  *freeBytes = taken < state().capacity ? state().capacity - taken : 0;
  return cudaSuccess;
}

static bool validStream(cudaStream_t stream) { return stream == nullptr || state().streams.count(stream) > 0; }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
  *stream = new IbHostStream{flags};
  state().streams.insert(*stream);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  // At a synchronization the pool gives back what it caches beyond its release threshold.
  IbHostMemPool &pool = state().pool;
  if (pool.reserved > pool.releaseThreshold) ibhost::trimPool(pool.releaseThreshold);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, 0); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags) {
  *event = new IbHostEvent();
  (*event)->timing = (flags & cudaEventDisableTiming) == 0;
  std::lock_guard<std::mutex> lock(state().eventsLock);
  state().events.insert(*event);
  return cudaSuccess;
}

static bool validEvent(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(state().eventsLock);
  return state().events.count(event) > 0;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!validEvent(event) || !validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  event->recorded = true;
  event->at = std::chrono::steady_clock::now();
  return cudaSuccess;
}

// Work is done when its call returns: every recorded event has completed.
cudaError_t cudaEventQuery(cudaEvent_t event) { return validEvent(event) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle); }
cudaError_t cudaEventSynchronize(cudaEvent_t event) { return validEvent(event) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle); }

/** Host time between the two records (the work itself ran inside the calls in between). */
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
  if (!validEvent(start) || !validEvent(end) || !start->timing || !end->timing || !start->recorded || !end->recorded) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::unique_lock<std::mutex> lock(state().eventsLock);
  if (!state().events.erase(event)) return fail(cudaErrorInvalidResourceHandle);
  lock.unlock();
  delete event;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
  if (ibhost::deviceBytesTaken() + bytes > state().capacity) return fail(cudaErrorMemoryAllocation);
  *ptr = ibhost::allocate(bytes, ibhost::Kind::Direct);
  if (!*ptr) return fail(cudaErrorMemoryAllocation);
  state().directBytes += bytes;
  return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
  if (!ptr) return cudaSuccess;
  state().directBytes -= ibhost::release(ptr, ibhost::Kind::Direct, "cudaFree");
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned int) {
  *ptr = ibhost::allocate(bytes, ibhost::Kind::Pinned);
  return *ptr ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

cudaError_t cudaFreeHost(void *ptr) {
  if (ptr) ibhost::release(ptr, ibhost::Kind::Pinned, "cudaFreeHost");
  return cudaSuccess;
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  *pool = &state().pool;
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value) {
  if (pool != &state().pool) return fail(cudaErrorInvalidResourceHandle);
  uint64_t v = *static_cast<uint64_t *>(value);
  switch (attr) {
    case cudaMemPoolAttrReleaseThreshold: pool->releaseThreshold = v; return cudaSuccess;
    // The high watermarks can only be reset to zero (as in CUDA); they restart from the current value.
    case cudaMemPoolAttrUsedMemHigh:
      if (v != 0) return fail(cudaErrorInvalidValue);
      pool->usedHigh = pool->used;
      return cudaSuccess;
    case cudaMemPoolAttrReservedMemHigh:
      if (v != 0) return fail(cudaErrorInvalidValue);
      pool->reservedHigh = pool->reserved;
      return cudaSuccess;
    default: return fail(cudaErrorInvalidValue);
  }
}

cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value) {
  if (pool != &state().pool) return fail(cudaErrorInvalidResourceHandle);
  uint64_t *out = static_cast<uint64_t *>(value);
  switch (attr) {
    case cudaMemPoolAttrReleaseThreshold: *out = pool->releaseThreshold; return cudaSuccess;
    case cudaMemPoolAttrReservedMemCurrent: *out = pool->reserved; return cudaSuccess;
    case cudaMemPoolAttrReservedMemHigh: *out = pool->reservedHigh; return cudaSuccess;
    case cudaMemPoolAttrUsedMemCurrent: *out = pool->used; return cudaSuccess;
    case cudaMemPoolAttrUsedMemHigh: *out = pool->usedHigh; return cudaSuccess;
  }
  return fail(cudaErrorInvalidValue);
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t minBytesToKeep) {
  if (pool != &state().pool) return fail(cudaErrorInvalidResourceHandle);
  ibhost::trimPool(minBytesToKeep);
  return cudaSuccess;
}

cudaError_t cudaMallocFromPoolAsync(void **ptr, size_t bytes, cudaMemPool_t pool, cudaStream_t stream) {
  if (pool != &state().pool || !validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  size_t needed = pool->used + bytes;
  if (needed > pool->reserved && state().directBytes + needed > state().capacity) return fail(cudaErrorMemoryAllocation);
  *ptr = ibhost::allocate(bytes, ibhost::Kind::Pool);
  if (!*ptr) return fail(cudaErrorMemoryAllocation);
  pool->used = needed;
  if (pool->used > pool->usedHigh) pool->usedHigh = pool->used;
  if (pool->used > pool->reserved) pool->reserved = pool->used;
  if (pool->reserved > pool->reservedHigh) pool->reservedHigh = pool->reserved;
  return cudaSuccess;
}

cudaError_t cudaFreeAsync(void *ptr, cudaStream_t stream) {
  if (!validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (!ptr) return cudaSuccess;
  state().pool.used -= ibhost::release(ptr, ibhost::Kind::Pool, "cudaFreeAsync");
  return cudaSuccess;
}

/** A host-side operand: a pinned block must be used within its bounds; other host memory is pageable. */
static void checkHostRange(const void *ptr, size_t bytes, const char *what) {
  const auto *holder = ibhost::liveHolding(ptr);
  if (!holder) return;
  if (holder->second.kind != ibhost::Kind::Pinned) throw ibhost::MisuseError(std::string("host emulation: ") + what + " names device memory " + ibhost::hex(ptr) + " as host memory");
  size_t offset = reinterpret_cast<uintptr_t>(ptr) - holder->first;
  if (bytes > holder->second.bytes - offset) throw ibhost::MisuseError(std::string("host emulation: ") + what + " runs past the end of a pinned block");
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  const char *what = "cudaMemcpyAsync";
  switch (kind) {
    case cudaMemcpyHostToDevice: checkHostRange(src, bytes, what); ibhost::checkDeviceRange(dst, bytes, "cudaMemcpyAsync (destination)"); break;
    case cudaMemcpyDeviceToHost: ibhost::checkDeviceRange(src, bytes, "cudaMemcpyAsync (source)"); checkHostRange(dst, bytes, what); break;
    case cudaMemcpyDeviceToDevice:
      ibhost::checkDeviceRange(src, bytes, "cudaMemcpyAsync (source)");
      ibhost::checkDeviceRange(dst, bytes, "cudaMemcpyAsync (destination)");
      break;
    default: return fail(cudaErrorInvalidValue);
  }
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t stream) {
  if (!validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  ibhost::checkDeviceRange(ptr, bytes, "cudaMemsetAsync");
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}
