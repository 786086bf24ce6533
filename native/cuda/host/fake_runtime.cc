// HOST EMULATION ONLY: a fake CUDA runtime on host memory, so that native/cuda/src runs without a GPU.
// Everything is synchronous: a copy or a kernel has finished when its call returns, so streams and
// events are always complete. What it adds over a GPU is bookkeeping the GPU does not give us: every
// device allocation is in a table (device_memory.cc), and a copy, memset or free of an address that is
// not inside a live allocation (freed, never allocated, or past the end) throws ibhost::MisuseError
// with the address and what used it.
// The addon calls it from its main thread, except cudaEventSynchronize from its read workers: only the
// event table is locked, and the last error is per thread as in CUDA.
//
// Memory pool model: a caching pool without fragmentation. "Reserved" is what the pool holds from the
// device (what is in use plus what freed blocks keep cached); an allocation that needs the pool to grow
// past the device's capacity fails with cudaErrorMemoryAllocation; trimming drops the cached part.
#include <cuda_runtime_api.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include "device_memory.h"

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

struct State {
  size_t capacity = size_t(4) << 30;
  size_t directBytes = 0;  // cudaMalloc'd, outside the pool
  IbHostMemPool pool;
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

}  // namespace

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
  *ptr = ibhost::allocateBlock(bytes, ibhost::BlockKind::Direct);
  if (!*ptr) return fail(cudaErrorMemoryAllocation);
  state().directBytes += bytes;
  return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
  if (!ptr) return cudaSuccess;
  state().directBytes -= ibhost::releaseBlock(ptr, ibhost::BlockKind::Direct, "cudaFree");
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned int) {
  *ptr = ibhost::allocateBlock(bytes, ibhost::BlockKind::Pinned);
  return *ptr ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

cudaError_t cudaFreeHost(void *ptr) {
  if (ptr) ibhost::releaseBlock(ptr, ibhost::BlockKind::Pinned, "cudaFreeHost");
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
  *ptr = ibhost::allocateBlock(bytes, ibhost::BlockKind::Pool);
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
  state().pool.used -= ibhost::releaseBlock(ptr, ibhost::BlockKind::Pool, "cudaFreeAsync");
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!validStream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  const char *what = "cudaMemcpyAsync";
  switch (kind) {
    case cudaMemcpyHostToDevice: ibhost::checkHostRange(src, bytes, what); ibhost::checkDeviceRange(dst, bytes, "cudaMemcpyAsync (destination)"); break;
    case cudaMemcpyDeviceToHost: ibhost::checkDeviceRange(src, bytes, "cudaMemcpyAsync (source)"); ibhost::checkHostRange(dst, bytes, what); break;
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
