// Convolutions (cuDNN, dnn.cc) and matrix products (cuBLAS, blas.cc) on the addon's stream, in the runtime's precision.
#pragma once
#include <string>
#include "kernels.h"
#include "runtime.h"

namespace ib {

/** NHWC convolution, tfjs filter layout HWIO, symmetric zero padding, dilation 1. */
struct ConvShape {
  int n, h, w, c;     // input
  int k, kh, kw;      // output channels, kernel size
  int oh, ow;         // output size
  int strideH, strideW, padH, padW;
};

/** Activations and their gradients float32 or bfloat16 (converted to the precision's operand type as
 *  needed); filters and the filter gradient float32 (the master weights). */
void convForward(const ConvShape &shape, FloatsIn x, const float *filter, FloatsOut y);
void convBackwardData(const ConvShape &shape, FloatsIn dy, const float *filter, FloatsOut dx);
void convBackwardFilter(const ConvShape &shape, FloatsIn x, FloatsIn dy, float *dfilter);
/** Drops what the convolutions keep of a filter buffer (its copy in cuDNN's layout): called as it is freed. */
void forgetPreparedFilter(const void *filter);
/** How many prepared filters are kept (the addon's stats). */
size_t preparedFilterCount();
/** One line per cached algorithm choice: its shape key, the algorithm, its time and workspace. */
std::string convAlgorithms();
void clearConvCache();
/** 0: per shape, the faster of NHWC and NCHW (transposes counted) in fp32/tf32, NHWC in bf16; 1: NHWC only;
 *  2: NCHW only (bf16 stays NHWC). Clears the algorithm cache when it changes. */
void setConvLayoutMode(int mode);

/** Row-major C[b] = op(A[b])·op(B[b]) (m×k by k×n); a batch of 1 broadcasts over the other's. */
void matmul(const float *a, const float *b, float *c, int batchA, int batchB, int m, int n, int k, bool transposeA, bool transposeB);

}  // namespace ib
