// Reading and writing float tensors in the format their buffer has (FloatsIn / FloatsOut, kernels.h):
// float32, or bfloat16 where --precision bf16 keeps activations. Kernels compute in float32; a value
// written as bfloat16 is rounded to nearest, ties to even. The format test is the same for every thread
// of a launch, so it costs no divergence.
#pragma once
#include <cuda_bf16.h>
#include "kernels.h"

namespace ib {

/** Four neighbouring bfloat16 values: one 8-byte load or store. */
struct alignas(8) Bf16x4 {
  __nv_bfloat16 v[4];
};

__device__ __forceinline__ float loadFloat(FloatsIn x, long long i) {
  return x.bf16 ? __bfloat162float(static_cast<const __nv_bfloat16 *>(x.ptr)[i]) : static_cast<const float *>(x.ptr)[i];
}

__device__ __forceinline__ void storeFloat(FloatsOut y, long long i, float v) {
  if (y.bf16) static_cast<__nv_bfloat16 *>(y.ptr)[i] = __float2bfloat16_rn(v);
  else static_cast<float *>(y.ptr)[i] = v;
}

/** Elements 4·i4 … 4·i4 + 3 (the buffer holds a multiple of four). */
__device__ __forceinline__ float4 loadFloat4(FloatsIn x, long long i4) {
  if (!x.bf16) return static_cast<const float4 *>(x.ptr)[i4];
  Bf16x4 b = static_cast<const Bf16x4 *>(x.ptr)[i4];
  float4 v;
  v.x = __bfloat162float(b.v[0]);
  v.y = __bfloat162float(b.v[1]);
  v.z = __bfloat162float(b.v[2]);
  v.w = __bfloat162float(b.v[3]);
  return v;
}

__device__ __forceinline__ void storeFloat4(FloatsOut y, long long i4, float4 v) {
  if (!y.bf16) {
    static_cast<float4 *>(y.ptr)[i4] = v;
    return;
  }
  Bf16x4 b;
  b.v[0] = __float2bfloat16_rn(v.x);
  b.v[1] = __float2bfloat16_rn(v.y);
  b.v[2] = __float2bfloat16_rn(v.z);
  b.v[3] = __float2bfloat16_rn(v.w);
  static_cast<Bf16x4 *>(y.ptr)[i4] = b;
}

}  // namespace ib
