// The addon's process-wide state: one device, one stream, the stream-ordered caching allocator
// (device_allocator.h), pinned staging buffers for host transfers, the cuDNN and cuBLAS handles, and the
// dispatch counter.
#pragma once
#include <cuda_runtime_api.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>
#include "device_allocator.h"
#include "dnn_api.h"

namespace ib {

enum class Precision : int { Fp32 = 0, Tf32 = 1, Bf16 = 2 };

/** Thrown for a failed allocation; the message starts with "CUDA out of memory" (the TS side matches it). */
struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void checkCuda(cudaError_t status, const char *what);
void checkCudnn(cudnnStatus_t status, const char *what);
void checkCublas(cublasStatus_t status, const char *what);
/** After a kernel launch: a launch error (bad configuration) surfaces here, not at the next sync. */
void checkLaunch(const char *what);

/** Page-locked host blocks for asynchronous copies; a block is free again once its event has completed. */
class PinnedPool {
 public:
  struct Block {
    void *host = nullptr;
    size_t bytes = 0;
    cudaEvent_t done = nullptr;
    bool leased = false;
  };
  /** A block of at least `bytes`, not in use and not still being copied. */
  Block *acquire(size_t bytes);
  /** Gives the block back; it is reused once `done` (recorded by the caller after its copy) completes. */
  void release(Block *block) { block->leased = false; }
  void clear();
  size_t totalBytes() const;

 private:
  std::vector<Block *> blocks_;
};

/** A pinned block leased for one call and given back however the call ends, a failed copy included
 *  (its event, recorded after a successful copy, keeps it from reuse until that copy is done). */
class PinnedLease {
 public:
  PinnedLease(PinnedPool &pool, size_t bytes) : pool_(pool), block_(pool.acquire(bytes)) {}
  ~PinnedLease() {
    if (block_) pool_.release(block_);
  }
  PinnedLease(const PinnedLease &) = delete;
  PinnedLease &operator=(const PinnedLease &) = delete;
  PinnedPool::Block *operator->() const { return block_; }
  /** Hands the block to an owner that gives it back later (an asynchronous read). */
  PinnedPool::Block *transfer() {
    PinnedPool::Block *block = block_;
    block_ = nullptr;
    return block;
  }

 private:
  PinnedPool &pool_;
  PinnedPool::Block *block_;
};

struct Runtime {
  int device = 0;
  cudaStream_t stream = nullptr;
  std::unique_ptr<DeviceAllocator> memory;
  /** Why the allocator is not CUDA's pool, when INFOBATCH_CUDA_ALLOCATOR=auto fell back (else empty). */
  std::string poolUnavailable;
  DnnApi api;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  void *cublasWorkspace = nullptr;
  Precision precision = Precision::Fp32;
  PinnedPool pinned;
  /** Kernels (and library calls, one each) enqueued since start; host↔device copies counted apart. */
  unsigned long long dispatches = 0;
  unsigned long long uploads = 0;
  unsigned long long downloads = 0;
  std::vector<cudaEvent_t> timingEvents;
  bool ready = false;

  void *allocate(size_t bytes) { return memory->allocate(bytes); }
  void release(void *ptr) { memory->release(ptr); }
  /** Adds a launcher's kernel count and checks the launch. */
  void launched(int kernels, const char *what);
};

Runtime &runtime();
/** Throws unless init() has succeeded. */
Runtime &readyRuntime();

}  // namespace ib
