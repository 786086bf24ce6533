// Shared helpers of the native backend: the oneDNN engine and stream, reusable scratch buffers and the
// thread count. Every entry point runs synchronously on Node's main thread, so none of this needs locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ib {

dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();

// Grows-only aligned buffers for oneDNN's blocked copies of tensors (one slot per role in a call), so
// a training step does not allocate and page-fault fresh tens of megabytes for every convolution.
float* scratch(int slot, size_t bytes);
void release_scratch();
size_t scratch_bytes();

int num_threads();
void set_num_threads(int n);

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;

}  // namespace ib
