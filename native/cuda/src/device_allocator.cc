#include "device_allocator.h"
#include <cstdio>
#include <map>
#include <stdexcept>
#include <unordered_map>
#include "runtime.h"

namespace ib {
namespace {

[[noreturn]] void throwOutOfMemory(size_t bytes) {
  size_t freeBytes = 0, totalBytes = 0;
  cudaGetLastError();  // not sticky: clear it so the process can go on (and write its one line)
  cudaMemGetInfo(&freeBytes, &totalBytes);
  char text[200];
  std::snprintf(text, sizeof text, "CUDA out of memory: could not allocate %.1f MiB (%.1f MiB free of %.1f MiB)", bytes / 1048576.0,
                freeBytes / 1048576.0, totalBytes / 1048576.0);
  throw OutOfMemory(text);
}

std::string errorText(const char *call, cudaError_t status) {
  cudaGetLastError();
  return std::string(call) + " failed: " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")";
}

class PoolAllocator final : public DeviceAllocator {
 public:
  PoolAllocator(cudaMemPool_t pool, cudaStream_t stream) : pool_(pool), stream_(stream) {}

  void *allocate(size_t bytes) override {
    if (bytes == 0) bytes = 4;
    void *ptr = nullptr;
    cudaError_t status = cudaMallocFromPoolAsync(&ptr, bytes, pool_, stream_);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      cudaStreamSynchronize(stream_);
      cudaMemPoolTrimTo(pool_, 0);
      status = cudaMallocFromPoolAsync(&ptr, bytes, pool_, stream_);
    }
    if (status == cudaErrorMemoryAllocation) throwOutOfMemory(bytes);
    checkCuda(status, "cudaMallocFromPoolAsync");
    return ptr;
  }
  void release(void *ptr) override {
    if (ptr) checkCuda(cudaFreeAsync(ptr, stream_), "cudaFreeAsync");
  }
  MemoryStats stats() const override {
    MemoryStats out;
    cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemCurrent, &out.inUse);
    cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &out.reserved);
    cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemHigh, &out.peakInUse);
    return out;
  }
  void resetPeak() override {
    uint64_t zero = 0;  // the only value CUDA accepts: the mark restarts from the current use
    checkCuda(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrUsedMemHigh, &zero), "cudaMemPoolSetAttribute");
  }
  void releaseCached() override { checkCuda(cudaMemPoolTrimTo(pool_, 0), "cudaMemPoolTrimTo"); }
  const char *name() const override { return "CUDA memory pool"; }

 private:
  cudaMemPool_t pool_;
  cudaStream_t stream_;
};

/**
 * The device's default pool set up to cache (CUDA gives freed memory back at each synchronization
 * otherwise), after one allocation from it has worked; or why it cannot be used.
 */
std::string openPool(int device, cudaStream_t stream, cudaMemPool_t *pool) {
  int supported = 0;
  cudaError_t status = cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device);
  if (status != cudaSuccess) return errorText("cudaDeviceGetAttribute(cudaDevAttrMemoryPoolsSupported)", status);
  if (!supported) return "the device has no memory pools (cudaDevAttrMemoryPoolsSupported is 0)";
  if ((status = cudaDeviceGetDefaultMemPool(pool, device)) != cudaSuccess) return errorText("cudaDeviceGetDefaultMemPool", status);
  uint64_t threshold = UINT64_MAX;
  status = cudaMemPoolSetAttribute(*pool, cudaMemPoolAttrReleaseThreshold, &threshold);
  if (status != cudaSuccess) return errorText("cudaMemPoolSetAttribute(cudaMemPoolAttrReleaseThreshold)", status);
  void *probe = nullptr;
  if ((status = cudaMallocFromPoolAsync(&probe, 256, *pool, stream)) != cudaSuccess) return errorText("cudaMallocFromPoolAsync", status);
  if ((status = cudaFreeAsync(probe, stream)) != cudaSuccess) return errorText("cudaFreeAsync", status);
  if ((status = cudaStreamSynchronize(stream)) != cudaSuccess) return errorText("cudaStreamSynchronize after a pool allocation", status);
  return "";
}

/**
 * Freed blocks are kept by size and handed out again best fit. There is no splitting: a cached block
 * serves a request of at least half its size, so an epoch's smaller last batch (its size changes every
 * epoch under InfoBatch's pruning) reuses the full batch's blocks instead of growing the cache each epoch.
 * A step repeats the same allocations, so after the first one every request finds its own block again.
 */
class CachingAllocator final : public DeviceAllocator {
 public:
  explicit CachingAllocator(cudaStream_t stream) : stream_(stream) {}

  void *allocate(size_t bytes) override {
    size_t size = (bytes + kGranule - 1) / kGranule * kGranule;
    if (size == 0) size = kGranule;
    void *ptr;
    auto best = cached_.lower_bound(size);
    if (best != cached_.end() && best->first / 2 <= size) {
      size = best->first;
      ptr = best->second;
      cached_.erase(best);
      cachedBytes_ -= size;
    } else {
      ptr = fresh(size);
    }
    live_.emplace(ptr, size);
    inUse_ += size;
    if (inUse_ > peak_) peak_ = inUse_;
    return ptr;
  }
  void release(void *ptr) override {
    if (!ptr) return;
    auto block = live_.find(ptr);
    if (block == live_.end()) throw std::runtime_error("cuda addon: release of a device address the allocator did not hand out");
    cached_.emplace(block->second, ptr);
    cachedBytes_ += block->second;
    inUse_ -= block->second;
    live_.erase(block);
  }
  MemoryStats stats() const override { return MemoryStats{inUse_, inUse_ + cachedBytes_, peak_}; }
  void resetPeak() override { peak_ = inUse_; }
  void releaseCached() override {
    for (const auto &[size, ptr] : cached_) checkCuda(cudaFree(ptr), "cudaFree");
    cached_.clear();
    cachedBytes_ = 0;
  }
  const char *name() const override { return "caching allocator on cudaMalloc"; }

 private:
  /** PyTorch's smallest block: sizes in multiples of it keep the cache's keys few. */
  static constexpr size_t kGranule = 512;

  void *fresh(size_t size) {
    void *ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation && !cached_.empty()) {
      // cudaFree waits for the device, which only this path (the device full) pays.
      cudaGetLastError();
      checkCuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
      releaseCached();
      status = cudaMalloc(&ptr, size);
    }
    if (status == cudaErrorMemoryAllocation) throwOutOfMemory(size);
    checkCuda(status, "cudaMalloc");
    return ptr;
  }

  cudaStream_t stream_;
  std::multimap<size_t, void *> cached_;     // free blocks by size
  std::unordered_map<void *, size_t> live_;  // blocks handed out, by address
  uint64_t inUse_ = 0, cachedBytes_ = 0, peak_ = 0;
};

}  // namespace

ChosenAllocator chooseAllocator(AllocatorMode mode, int device, cudaStream_t stream) {
  ChosenAllocator out;
  if (mode != AllocatorMode::Caching) {
    cudaMemPool_t pool = nullptr;
    std::string unavailable = openPool(device, stream, &pool);
    if (unavailable.empty()) {
      out.allocator = std::make_unique<PoolAllocator>(pool, stream);
      return out;
    }
    if (mode == AllocatorMode::Pool) throw std::runtime_error("the CUDA memory pool cannot be used: " + unavailable);
    out.poolUnavailable = unavailable;
  }
  out.allocator = std::make_unique<CachingAllocator>(stream);
  return out;
}

}  // namespace ib
