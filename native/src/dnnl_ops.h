// oneDNN primitives for the heavy kernels: convolution (forward, input gradient, filter gradient),
// average pooling and its gradient, and matrix multiplication. Tensors are the tfjs CPU backend's
// NHWC float32 arrays; primitives are created once per shape and cached.
#pragma once

#include <cstdint>
#include <string>

namespace ib {

struct ConvShape {
  int64_t n, h, w, c;          // input, NHWC
  int64_t k, r, s;             // output channels, filter height and width (filter is HWIO: r, s, c, k)
  int64_t oh, ow;              // output height and width
  int64_t stride_h, stride_w;  // strides
  int64_t dil_h, dil_w;        // dilations, 1 = none (tfjs convention)
  int64_t pad_t, pad_b, pad_l, pad_r;
};

void conv2d_forward(const ConvShape& p, const float* x, const float* filter, const float* bias, bool relu, float* y);
void conv2d_backward_data(const ConvShape& p, const float* dy, const float* filter, float* dx);
void conv2d_backward_filter(const ConvShape& p, const float* x, const float* dy, float* dfilter);

struct PoolShape {
  int64_t n, h, w, c;
  int64_t oh, ow;
  int64_t kh, kw;
  int64_t stride_h, stride_w;
  int64_t pad_t, pad_b, pad_l, pad_r;
};

void avg_pool_forward(const PoolShape& p, const float* x, float* y);
void avg_pool_backward(const PoolShape& p, const float* dy, float* dx);

// C[b] = op(A[b]) * op(B[b]) for b < batch, row-major; a_stride/b_stride 0 broadcast one matrix.
void matmul(const float* a, const float* b, float* c, int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
            int64_t a_stride, int64_t b_stride);

// Which implementations oneDNN picked for the primitives created so far (for profiling and reports).
std::string primitive_report();
size_t cached_primitive_count();
void clear_primitive_cache();

}  // namespace ib
