#include "runtime.h"

namespace ib {

Runtime &runtime() {
  static Runtime instance;
  return instance;
}

Runtime &readyRuntime() {
  Runtime &rt = runtime();
  if (!rt.ready) throw std::runtime_error("the cuda addon is not initialized (call init first)");
  return rt;
}

void checkCuda(cudaError_t status, const char *what) {
  if (status == cudaSuccess) return;
  std::string message = std::string(what) + ": " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")";
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so the process can go on (and write its one line)
    throw OutOfMemory("CUDA out of memory: " + message);
  }
  throw std::runtime_error("CUDA error in " + message);
}

void checkCudnn(cudnnStatus_t status, const char *what) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  const char *text = runtime().api.cudnnGetErrorString ? runtime().api.cudnnGetErrorString(status) : "unknown";
  std::string message = std::string("cuDNN error in ") + what + ": " + text + " (" + std::to_string(status) + ")";
  // cuDNN 9's CUDNN_STATUS_ALLOC_FAILED is 2000; a failed workspace allocation comes through allocate() instead.
  throw std::runtime_error(message);
}

void checkCublas(cublasStatus_t status, const char *what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  // CUBLAS_STATUS_ALLOC_FAILED = 3
  if (status == 3) throw OutOfMemory(std::string("CUDA out of memory: cuBLAS could not allocate in ") + what);
  throw std::runtime_error(std::string("cuBLAS error in ") + what + ": status " + std::to_string(status));
}

void checkLaunch(const char *what) { checkCuda(cudaGetLastError(), what); }

void Runtime::launched(int kernels, const char *what) {
  if (kernels < 0) throw std::runtime_error(std::string(what) + ": bad arguments");
  dispatches += (unsigned long long)kernels;
  checkLaunch(what);
}

PinnedPool::Block *PinnedPool::acquire(size_t bytes) {
  for (Block *block : blocks_) {
    if (block->leased || block->bytes < bytes || block->bytes > 4 * bytes + 65536) continue;
    if (cudaEventQuery(block->done) != cudaSuccess) continue;
    block->leased = true;
    return block;
  }
  size_t size = 65536;
  while (size < bytes) size *= 2;
  auto *block = new Block();
  checkCuda(cudaHostAlloc(&block->host, size, cudaHostAllocDefault), "cudaHostAlloc");
  checkCuda(cudaEventCreateWithFlags(&block->done, cudaEventDisableTiming), "cudaEventCreate");
  block->bytes = size;
  block->leased = true;
  blocks_.push_back(block);
  return block;
}

void PinnedPool::clear() {
  std::vector<Block *> kept;
  for (Block *block : blocks_) {
    if (block->leased) {
      kept.push_back(block);
      continue;
    }
    cudaEventSynchronize(block->done);
    cudaEventDestroy(block->done);
    cudaFreeHost(block->host);
    delete block;
  }
  blocks_.swap(kept);
}

size_t PinnedPool::totalBytes() const {
  size_t total = 0;
  for (const Block *block : blocks_) total += block->bytes;
  return total;
}

}  // namespace ib
