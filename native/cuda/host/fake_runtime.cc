// HOST EMULATION ONLY: a fake CUDA runtime on host memory, so that native/cuda/src runs without a GPU.
// By default everything is synchronous: a copy or a kernel has finished when its call returns, so
// streams and events are always complete. In deferred mode (setDeferredDepth, fake_runtime.h) stream
// work is queued and runs behind the host, as on a GPU: events complete when the work before them has
// run, a copy from pinned memory reads it when it runs, a copy into pinned memory lands when it runs,
// while copies from and to pageable memory behave as CUDA's do (the source is taken at the call; the
// call into pageable memory waits for the stream). What it adds over a GPU is bookkeeping the GPU does not give us: every
// device allocation is in a table (device_memory.cc), and a copy, memset or free of an address that is
// not inside a live allocation (freed, never allocated, or past the end) throws ibhost::MisuseError
// with the address and what used it.
// The addon calls it from its main thread, except cudaEventSynchronize from its read workers, which may
// run queued work: one recursive lock (emulationLock) covers the state, and the last error is per
// thread as in CUDA.
//
// Memory pool model: a caching pool without fragmentation. "Reserved" is what the pool holds from the
// device (what is in use plus what freed blocks keep cached); an allocation that needs the pool to grow
// past the device's capacity fails with cudaErrorMemoryAllocation; trimming drops the cached part.
#include <cuda_runtime_api.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <vector>
#include "device_memory.h"

struct IbHostStream {
  unsigned int flags;
};
/** One cudaEventRecord: complete once the work queued before it has run. Shared with the queued marker, so
 *  an event destroyed or recorded again while a record is pending stays safe. */
struct IbHostEventRecord {
  bool complete = false;
  std::chrono::steady_clock::time_point at;
};
struct IbHostEvent {
  bool timing = true;
  std::shared_ptr<IbHostEventRecord> record;  // the latest; null if never recorded
};
struct IbHostMemPool {
  size_t used = 0, usedHigh = 0, reserved = 0, reservedHigh = 0;
  uint64_t releaseThreshold = 0;
};

namespace ibhost {
namespace {

/** 4 GiB, or $INFOBATCH_HOST_EMULATION_MIB (for a process the tests start, e.g. the CLI, which cannot call
 *  hostEmulationSetCapacity): a small device keeps dnn.cc's search workspaces, written in full, cheap. */
size_t initialCapacity() {
  const char *mib = std::getenv("INFOBATCH_HOST_EMULATION_MIB");
  long long value = mib ? std::atoll(mib) : 0;
  return value > 0 ? size_t(value) << 20 : size_t(4) << 30;
}

MemoryPools initialMemoryPools() {
  const char *value = std::getenv("INFOBATCH_HOST_EMULATION_MEMORY_POOLS");
  const Named<MemoryPools> *pools = byName(kMemoryPools, value ? value : "working");
  if (!pools) {
    std::fprintf(stderr, "host emulation: INFOBATCH_HOST_EMULATION_MEMORY_POOLS must be working, absent or refusing, got \"%s\"\n", value);
    std::exit(2);
  }
  return pools->mode;
}

struct State {
  size_t capacity = initialCapacity();
  MemoryPools memoryPools = initialMemoryPools();
  size_t directBytes = 0;  // cudaMalloc'd, outside the pool
  IbHostMemPool pool;
  std::set<IbHostStream *> streams;
  std::set<IbHostEvent *> events;
  // Deferred mode: the queued stream work, the depth it may reach, and the first error inside it.
  std::deque<std::function<void()>> queue;
  size_t depth = 0;
  std::string failure;
};

thread_local cudaError_t lastError = cudaSuccess;  // per thread, as in CUDA

State &state() {
  static State instance;
  return instance;
}

cudaError_t fail(cudaError_t error) {
  lastError = error;
  return error;
}

/** Device memory taken from the device: cudaMalloc'd blocks and what the pool holds. */
size_t deviceBytesTaken() { return state().directBytes + state().pool.reserved; }

void trimPool(size_t keep) {
  IbHostMemPool &pool = state().pool;
  size_t target = pool.used > keep ? pool.used : keep;
  if (pool.reserved > target) pool.reserved = target;
}

/** Runs queued work, oldest first, until `done()` (or the queue is empty). After an error the rest is
 *  dropped, as a GPU context with a sticky error runs nothing more. */
template <typename Done>
void runQueued(Done done) {
  State &s = state();
  while (!s.queue.empty() && !done()) {
    std::function<void()> work = std::move(s.queue.front());
    s.queue.pop_front();
    if (!s.failure.empty()) continue;
    try {
      work();
    } catch (const std::exception &error) {
      s.failure = error.what();
    }
  }
}

/** A wait of the host: throws the deferred error, once. */
void reportFailure() {
  State &s = state();
  if (s.failure.empty()) return;
  std::string failure = std::move(s.failure);
  s.failure.clear();
  throw MisuseError("host emulation: queued stream work failed (reported at the next wait, as a GPU does): " + failure);
}

using Lock = std::lock_guard<std::recursive_mutex>;

}  // namespace

std::recursive_mutex &emulationLock() {
  static std::recursive_mutex lock;
  return lock;
}

void enqueueStreamWork(std::function<void()> work) {
  Lock lock(emulationLock());
  State &s = state();
  if (s.depth == 0) return work();
  s.queue.push_back(std::move(work));
  runQueued([&] { return s.queue.size() <= s.depth; });
}

void synchronizeStreamWork() {
  Lock lock(emulationLock());
  runQueued([] { return false; });
  reportFailure();
}

size_t setDeferredDepth(size_t items) {
  Lock lock(emulationLock());
  synchronizeStreamWork();
  size_t previous = state().depth;
  state().depth = items;
  return previous;
}

void setLastError(cudaError_t error) { lastError = error; }

size_t setCapacity(size_t bytes) {
  size_t previous = state().capacity;
  state().capacity = bytes;
  return previous;
}

MemoryPools setMemoryPools(MemoryPools pools) {
  MemoryPools previous = state().memoryPools;
  state().memoryPools = pools;
  return previous;
}

}  // namespace ibhost

using ibhost::fail;
using ibhost::state;
using Lock = std::lock_guard<std::recursive_mutex>;

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
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
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
    case cudaErrorNotSupported: return "operation not supported";
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
  Lock lock(ibhost::emulationLock());
  size_t taken = ibhost::deviceBytesTaken();
  *totalBytes = state().capacity;
  *freeBytes = taken < state().capacity ? state().capacity - taken : 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  if (attr != cudaDevAttrMemoryPoolsSupported) return fail(cudaErrorInvalidValue);
  *value = state().memoryPools == ibhost::MemoryPools::Absent ? 0 : 1;
  return cudaSuccess;
}

static bool validStream(cudaStream_t stream) { return stream == nullptr || state().streams.count(stream) > 0; }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
  Lock lock(ibhost::emulationLock());
  *stream = new IbHostStream{flags};
  state().streams.insert(*stream);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  Lock lock(ibhost::emulationLock());
  if (!validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  ibhost::synchronizeStreamWork();
  // At a synchronization the pool gives back what it caches beyond its release threshold.
  IbHostMemPool &pool = state().pool;
  if (pool.reserved > pool.releaseThreshold) ibhost::trimPool(pool.releaseThreshold);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, 0); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags) {
  Lock lock(ibhost::emulationLock());
  *event = new IbHostEvent();
  (*event)->timing = (flags & cudaEventDisableTiming) == 0;
  state().events.insert(*event);
  return cudaSuccess;
}

static bool validEvent(cudaEvent_t event) { return state().events.count(event) > 0; }

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  Lock lock(ibhost::emulationLock());
  if (!validEvent(event) || !validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  auto record = std::make_shared<IbHostEventRecord>();
  event->record = record;
  ibhost::enqueueStreamWork([record] {
    record->complete = true;
    record->at = std::chrono::steady_clock::now();
  });
  return cudaSuccess;
}

/** Complete when never recorded, or once the work before its latest record has run. cudaErrorNotReady is
 *  not an error: it does not become the last error (as in CUDA). */
cudaError_t cudaEventQuery(cudaEvent_t event) {
  Lock lock(ibhost::emulationLock());
  if (!validEvent(event)) return fail(cudaErrorInvalidResourceHandle);
  return !event->record || event->record->complete ? cudaSuccess : cudaErrorNotReady;
}

/** Runs the queue up to the event's latest record (and no further). */
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  Lock lock(ibhost::emulationLock());
  if (!validEvent(event)) return fail(cudaErrorInvalidResourceHandle);
  if (std::shared_ptr<IbHostEventRecord> record = event->record) ibhost::runQueued([&] { return record->complete; });
  ibhost::reportFailure();
  return cudaSuccess;
}

/** Host time between the two records' runs (the work itself ran in between). */
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
  Lock lock(ibhost::emulationLock());
  if (!validEvent(start) || !validEvent(end) || !start->timing || !end->timing || !start->record || !end->record) {
    return fail(cudaErrorInvalidResourceHandle);
  }
  if (!start->record->complete || !end->record->complete) return cudaErrorNotReady;
  *ms = std::chrono::duration<float, std::milli>(end->record->at - start->record->at).count();
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  Lock lock(ibhost::emulationLock());
  if (!state().events.erase(event)) return fail(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
  Lock lock(ibhost::emulationLock());
  if (ibhost::deviceBytesTaken() + bytes > state().capacity) return fail(cudaErrorMemoryAllocation);
  *ptr = ibhost::allocateBlock(bytes, ibhost::BlockKind::Direct);
  if (!*ptr) return fail(cudaErrorMemoryAllocation);
  state().directBytes += bytes;
  return cudaSuccess;
}

/** Synchronizes first, as CUDA's cudaFree does. */
cudaError_t cudaFree(void *ptr) {
  Lock lock(ibhost::emulationLock());
  ibhost::synchronizeStreamWork();
  if (!ptr) return cudaSuccess;
  state().directBytes -= ibhost::releaseBlock(ptr, ibhost::BlockKind::Direct, "cudaFree");
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned int) {
  *ptr = ibhost::allocateBlock(bytes, ibhost::BlockKind::Pinned);
  return *ptr ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

cudaError_t cudaFreeHost(void *ptr) {
  Lock lock(ibhost::emulationLock());
  ibhost::synchronizeStreamWork();
  if (ptr) ibhost::releaseBlock(ptr, ibhost::BlockKind::Pinned, "cudaFreeHost");
  return cudaSuccess;
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  if (state().memoryPools == ibhost::MemoryPools::Absent) return fail(cudaErrorNotSupported);
  *pool = &state().pool;
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value) {
  Lock lock(ibhost::emulationLock());
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
  Lock lock(ibhost::emulationLock());
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
  Lock lock(ibhost::emulationLock());
  if (pool != &state().pool) return fail(cudaErrorInvalidResourceHandle);
  ibhost::trimPool(minBytesToKeep);
  return cudaSuccess;
}

cudaError_t cudaMallocFromPoolAsync(void **ptr, size_t bytes, cudaMemPool_t pool, cudaStream_t stream) {
  Lock lock(ibhost::emulationLock());
  if (pool != &state().pool || !validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (state().memoryPools != ibhost::MemoryPools::Working) return fail(cudaErrorNotSupported);
  size_t needed = pool->used + bytes;
  if (needed > pool->reserved && state().directBytes + needed > state().capacity) return fail(cudaErrorMemoryAllocation);
  *ptr = ibhost::allocateBlock(bytes, ibhost::BlockKind::Pool);
  if (!*ptr) return fail(cudaErrorMemoryAllocation);
  pool->used = needed;
  if (pool->used > pool->usedHigh) pool->usedHigh = pool->used;
  if (pool->used > pool->reserved) pool->reserved = pool->used;
  if (pool->reserved > pool->reservedHigh) pool->reservedHigh = pool->reserved;
  return cudaSuccess;
}

/** Stream-ordered: the block is freed (and its bytes back in the pool) when the queue reaches it. */
cudaError_t cudaFreeAsync(void *ptr, cudaStream_t stream) {
  Lock lock(ibhost::emulationLock());
  if (!validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (!ptr) return cudaSuccess;
  ibhost::checkDevicePointer(ptr, "cudaFreeAsync");  // a double free is reported at the call, deferred or not
  ibhost::enqueueStreamWork([ptr] { state().pool.used -= ibhost::releaseBlock(ptr, ibhost::BlockKind::Pool, "cudaFreeAsync"); });
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  Lock lock(ibhost::emulationLock());
  if (!validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  const char *what = "cudaMemcpyAsync";
  switch (kind) {
    case cudaMemcpyHostToDevice: {
      ibhost::checkHostRange(src, bytes, what);
      ibhost::checkDeviceRange(dst, bytes, "cudaMemcpyAsync (destination)");
      if (ibhost::insidePinnedBlock(src, bytes)) break;
      // From pageable memory CUDA stages the source before the call returns: the caller may reuse it.
      auto staged = std::make_shared<std::vector<char>>(static_cast<const char *>(src), static_cast<const char *>(src) + bytes);
      ibhost::enqueueStreamWork([dst, staged] {
        ibhost::checkDeviceRange(dst, staged->size(), "cudaMemcpyAsync (destination, when it ran)");
        std::memcpy(dst, staged->data(), staged->size());
      });
      return cudaSuccess;
    }
    case cudaMemcpyDeviceToHost:
      ibhost::checkDeviceRange(src, bytes, "cudaMemcpyAsync (source)");
      ibhost::checkHostRange(dst, bytes, what);
      if (ibhost::insidePinnedBlock(dst, bytes)) break;
      // Into pageable memory the call returns once the copy is done.
      ibhost::synchronizeStreamWork();
      std::memcpy(dst, src, bytes);
      return cudaSuccess;
    case cudaMemcpyDeviceToDevice:
      ibhost::checkDeviceRange(src, bytes, "cudaMemcpyAsync (source)");
      ibhost::checkDeviceRange(dst, bytes, "cudaMemcpyAsync (destination)");
      break;
    default: return fail(cudaErrorInvalidValue);
  }
  // Checked again when it runs: in deferred mode a buffer may have been freed, in stream order, since the call.
  ibhost::enqueueStreamWork([dst, src, bytes, kind] {
    if (kind != cudaMemcpyHostToDevice) ibhost::checkDeviceRange(src, bytes, "cudaMemcpyAsync (source, when it ran)");
    if (kind != cudaMemcpyDeviceToHost) ibhost::checkDeviceRange(dst, bytes, "cudaMemcpyAsync (destination, when it ran)");
    std::memmove(dst, src, bytes);
  });
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t stream) {
  Lock lock(ibhost::emulationLock());
  if (!validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  ibhost::checkDeviceRange(ptr, bytes, "cudaMemsetAsync");
  ibhost::enqueueStreamWork([ptr, value, bytes] {
    ibhost::checkDeviceRange(ptr, bytes, "cudaMemsetAsync (when it ran)");
    std::memset(ptr, value, bytes);
  });
  return cudaSuccess;
}
