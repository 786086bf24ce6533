// Device memory for tensors and workspaces, on the addon's one stream: a caching allocator, so that a
// training step in the steady state allocates and frees without touching the driver or waiting for the GPU.
// Two implementations behind one interface:
// - CUDA's stream-ordered memory pool (cudaMallocFromPoolAsync with no release threshold), where the
//   device has pools and a first allocation from one works;
// - our own cache of cudaMalloc'd blocks, where it does not: vGPU profiles report
//   cudaDevAttrMemoryPoolsSupported = 0 and fail cudaMallocAsync with cudaErrorNotSupported, and a
//   sandboxed driver may refuse the virtual-memory calls pools are built on. PyTorch's default allocator
//   is of this kind (cudaMalloc underneath), so a machine where PyTorch allocates should allocate here.
// Both are stream-ordered in the same sense: a block freed by the host may serve the next allocation at
// once, because every kernel that uses either allocation runs on the one stream, in the order enqueued.
#pragma once
#include <cuda_runtime_api.h>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ib {

struct MemoryStats {
  uint64_t inUse = 0;
  /** Taken from the device: what is in use and what freed blocks keep cached. */
  uint64_t reserved = 0;
  /** The most in use at once since the start or the last resetPeak. */
  uint64_t peakInUse = 0;
};

class DeviceAllocator {
 public:
  virtual ~DeviceAllocator() = default;
  /** At least `bytes` (0 allowed) for work enqueued on the stream from now on. When the device is full it
   *  gives back what it caches and tries once more (as PyTorch's allocator does), then throws OutOfMemory. */
  virtual void *allocate(size_t bytes) = 0;
  /** Stream-ordered: the block may serve any later allocation, whose work runs after what is enqueued now. */
  virtual void release(void *ptr) = 0;
  virtual MemoryStats stats() const = 0;
  /** The peak restarts from what is in use now. */
  virtual void resetPeak() = 0;
  /** Gives every cached block back to the device. The caller has synchronized the stream. */
  virtual void releaseCached() = 0;
  /** For the backend's log line. */
  virtual const char *name() const = 0;
};

/** INFOBATCH_CUDA_ALLOCATOR's modes (src/backend/cuda/addon.ts ALLOCATORS has the same codes). */
enum class AllocatorMode : int { Auto = 0, Pool = 1, Caching = 2 };

struct ChosenAllocator {
  std::unique_ptr<DeviceAllocator> allocator;
  /** Auto only: why the pool was not taken (empty when it was). */
  std::string poolUnavailable;
};

/** Auto: the pool where it works, else the caching allocator. Pool: the pool, or a runtime_error saying
 *  why it cannot be used. Caching: the caching allocator. */
ChosenAllocator chooseAllocator(AllocatorMode mode, int device, cudaStream_t stream);

}  // namespace ib
