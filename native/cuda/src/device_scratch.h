// Temporaries of the cuDNN and cuBLAS calls (dnn.cc, blas.cc): stream-ordered device buffers from the
// runtime's pool, and operands converted to bf16.
#pragma once
#include <memory>
#include "kernels.h"
#include "runtime.h"

namespace ib {

/** A temporary device buffer, freed (stream-ordered) when it goes out of scope. */
struct Scratch {
  void *ptr = nullptr;
  explicit Scratch(size_t bytes) : ptr(runtime().allocate(bytes)) {}
  ~Scratch() {
    try {
      runtime().release(ptr);
    } catch (...) {
    }
  }
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;
};

/** In bf16 the operand is converted into a temporary that `holder` keeps; otherwise x is used as it is. */
inline const void *asOperand(const float *x, long long n, Precision p, std::unique_ptr<Scratch> &holder) {
  if (p != Precision::Bf16) return x;
  Runtime &rt = runtime();
  holder = std::make_unique<Scratch>((size_t)n * 2);
  rt.launched(launchToBf16(rt.stream, x, holder->ptr, n), "to bf16");
  return holder->ptr;
}

/** α = 1 and β = 0 for the library calls (float scalars: every precision accumulates in float). */
inline const void *one() {
  static const float v = 1.f;
  return &v;
}
inline const void *zero() {
  static const float v = 0.f;
  return &v;
}

}  // namespace ib
