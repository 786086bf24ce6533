// Host-side launchers of the addon's own CUDA kernels (kernels.cu, reduce.cu). A tensor is a device buffer
// of 4-byte elements — float32, or int32 (tfjs int32 and bool, bool as 0/1) — except that with
// --precision bf16 a float tensor that is an activation or its gradient is kept as bfloat16 (FloatsIn /
// FloatsOut say which), as PyTorch's autocast keeps them: half the memory and traffic. Kernels compute
// in float32 either way. Each launcher enqueues on `stream` and returns the number of kernels it launched
// (for the counter).
#pragma once
#include <cstdint>
#include <cuda_runtime_api.h>

namespace ib {

constexpr int kMaxRank = 6;

/** The most blocks a launch asks for along x, and along y and z, where the kernel's grid-stride loop
 *  covers the rest: 65535·16 along x (enough to fill any GPU) and CUDA's limit of 65535 along y and z.
 *  Only the host emulation's tests lower them (hostEmulationSetGridCaps), so that those loops, and the
 *  barriers that end each of their rounds, run on small tensors. */
struct GridCaps {
  long long x = 65535LL * 16;
  long long yz = 65535;
};
extern GridCaps gridCaps;

/** Element types of buffers; BFloat16 only for launchCast's conversions to and from Float32. */
enum class DType : int { Float32 = 0, Int32 = 1, BFloat16 = 2 };

/** A float tensor's buffer as a kernel reads it: float32 or bfloat16 elements (null ptr: none). */
struct FloatsIn {
  const void *ptr;
  bool bf16;
};
/** A float tensor's buffer as a kernel writes it. */
struct FloatsOut {
  void *ptr;
  bool bf16;
};
/** Bit k of a `bf16Operands` mask: the k-th of the buffers a launcher's comment lists for it is bfloat16. */
constexpr bool bf16Operand(int mask, int k) { return (mask >> k) & 1; }

/** Element-wise unary ops (codes shared with src/backend/cuda/addon.ts). */
enum class UnaryOp : int {
  Relu = 0, Relu6 = 1, Step = 2, Neg = 3, Square = 4, Sqrt = 5, Rsqrt = 6, Exp = 7, Log = 8, Reciprocal = 9,
  Abs = 10, Sigmoid = 11, Tanh = 12, Log1p = 13, Floor = 14, Ceil = 15, LeakyRelu = 16, Elu = 17, Softplus = 18,
  ClipByValue = 19, LogicalNot = 20, Sign = 21, Expm1 = 22, Round = 23, Sin = 24, Cos = 25,
};

/** Broadcasting binary ops. Comparisons and logical ops write int32 0/1 (tfjs bool). */
enum class BinaryOp : int {
  Add = 0, Sub = 1, Mul = 2, Div = 3, Maximum = 4, Minimum = 5, SquaredDifference = 6, Pow = 7,
  Equal = 8, NotEqual = 9, Greater = 10, GreaterEqual = 11, Less = 12, LessEqual = 13,
  LogicalAnd = 14, LogicalOr = 15, ReluGradFromOutput = 16, FloorDiv = 17, Mod = 18, ReluGradFromInput = 19,
  EluGrad = 20,  // a = dy, b = y: y ≥ 0 ? dy : dy·(y + 1), as tfjs's EluGrad
};

enum class ReduceOp : int { Sum = 0, Max = 1, Min = 2, Prod = 3, Any = 4, All = 5 };

/** An index space of up to kMaxRank dims and the strides (in elements) of operands over it. */
struct Strided {
  int rank;
  int shape[kMaxRank];
  long long strides[kMaxRank];
};

int launchFill(cudaStream_t s, void *out, long long n, uint32_t bits);
/** bf16Operands (float32 only): bit 0 x, bit 1 y. */
int launchUnary(cudaStream_t s, UnaryOp op, DType dtype, const void *x, void *y, long long n, float alpha, float beta, int bf16Operands);
/** out[i] = a[i·aStrides] op b[i·bStrides] over outShape (rank ≤ kMaxRank; a stride of 0 broadcasts).
 *  bf16Operands (float32 only): bit 0 a, bit 1 b, bit 2 out (never for comparisons, which write int32). */
int launchBinary(cudaStream_t s, BinaryOp op, DType dtype, const void *a, const void *b, void *out, int rank,
                 const int *outShape, const long long *aStrides, const long long *bStrides, int bf16Operands);
/** out[i] = condition[i / inner] ? a[i] : b[i] (inner = 1: same shape; else a rank-1 condition over the first axis). */
int launchSelect(cudaStream_t s, const int *condition, const void *a, const void *b, void *out, long long n, long long inner);
int launchCast(cudaStream_t s, DType from, DType to, bool toBool, const void *x, void *y, long long n);
/**
 * dst[dstOffset + Σ i_k·dstStrides_k] = src[srcOffset + Σ (i_k mod srcModulo_k)·srcStrides_k] over the
 * box `shape`. srcModulo_k = shape_k means no wrap-around (Tile wraps, Slice/Pad/Concat/Transpose don't).
 */
int launchCopyStrided(cudaStream_t s, const void *src, long long srcOffset, const long long *srcStrides, const int *srcModulo,
                      void *dst, long long dstOffset, const long long *dstStrides, const int *shape, int rank);
/** out [batch, cols, rows] = x [batch, rows, cols] of 4-byte elements, through shared-memory tiles (both
 *  sides coalesced): NHWC ↔ NCHW, filter layouts, 2-D transposes. */
int launchBatchedTranspose(cudaStream_t s, const void *x, void *out, long long batch, long long rows, long long cols);
/** x viewed as [outer, reduce, inner] → out [outer, inner]; `scale` multiplies the result (Mean). */
int launchReduce(cudaStream_t s, ReduceOp op, DType dtype, const void *x, void *out, long long outer, long long reduce,
                 long long inner, float scale, void *scratch, size_t scratchBytes);
size_t reduceScratchBytes(long long outer, long long reduce, long long inner);
/** Index (int32) of the max (or min) along the middle axis of [outer, reduce, inner]; first one on ties. */
int launchArgReduce(cudaStream_t s, bool isMax, DType dtype, const void *x, int *out, long long outer, long long reduce, long long inner);
int launchOneHot(cudaStream_t s, const int *indices, void *out, long long n, int depth, uint32_t onBits, uint32_t offBits);
/** out [outer, m, inner] = x [outer, axisSize, inner] gathered at indices [m] along the middle axis. */
int launchGather(cudaStream_t s, const void *x, const int *indices, void *out, long long outer, long long axisSize, long long inner, long long m);
/** Softmax (or log-softmax) over the last axis of [rows, cols]. */
int launchSoftmax(cudaStream_t s, const float *x, float *y, long long rows, int cols, bool logSoftmax);
/** NHWC average pooling; p: n h w c oh ow kh kw strideH strideW padTop padLeft. The forward divides by the
 *  in-bounds count, the gradient by kh·kw (both as tfjs). */
int launchAvgPool(cudaStream_t s, const float *x, float *y, const int *p);
int launchAvgPoolGrad(cudaStream_t s, const float *dy, float *dx, const int *p);
/** NHWC max pooling over the in-bounds part of each window (−∞ where none; NaN never wins), and its
 *  gradient: each dy goes to the first maximum of its window in row-major order, as tfjs's cpu kernels. */
int launchMaxPool(cudaStream_t s, const float *x, float *y, const int *p);
int launchMaxPoolGrad(cudaStream_t s, const float *x, const float *dy, float *dx, const int *p);
int launchToBf16(cudaStream_t s, const float *x, void *y, long long n);
int launchFromBf16(cudaStream_t s, const void *x, float *y, long long n);

// ---- batch norm over rows × channels (NHWC flattened: every axis but the last is a row)
size_t batchNormScratchBytes(long long rows, int channels);
/** PyTorch's running-statistics update: meanOut = (1 − momentum)·mean + momentum·batchMean, varianceOut
 *  likewise towards the UNBIASED batch variance (×rows/(rows − 1)). */
struct RunningStats {
  const float *mean;
  const float *variance;
  float *meanOut;
  float *varianceOut;
  float momentum;
};
/** mean, variance (biased) of x per channel; y = (x − mean)·γ/√(var + ε) + β, plus `residual` (null ptr:
 *  none), then max(·, 0) if `relu`; the running update. Any of x, residual and y may be bfloat16. */
int launchBatchNormTrain(cudaStream_t s, FloatsIn x, const float *gamma, const float *beta, FloatsIn residual, bool relu, FloatsOut y,
                         float *mean, float *variance, RunningStats running, long long rows, int channels, float epsilon, void *scratch);
int launchBatchNormTrainGrad(cudaStream_t s, FloatsIn x, FloatsIn dy, const float *gamma, const float *mean,
                             const float *variance, FloatsOut dx, float *dgamma, float *dbeta, long long rows, int channels,
                             float epsilon, void *scratch);
/** Inference: y = (x − mean)·scale/√(var + ε) + offset; any of the four per-channel vectors may be null
 *  (offset 0, scale 1). */
int launchBatchNormInference(cudaStream_t s, FloatsIn x, const float *mean, const float *variance, const float *offset,
                             const float *scale, FloatsOut y, long long rows, int channels, float epsilon, void *scratch);

// ---- multi-tensor SGD with momentum (torch.optim.SGD semantics)
struct SgdTensor {
  const float *param;
  const float *grad;
  const float *buffer;
  float *paramOut;
  float *bufferOut;
  long long size;
  long long firstBlock;  // prefix sum of the blocks of earlier tensors
};
constexpr int kSgdChunk = 4096;  // elements per block
/** `table` is in device memory (count entries); totalBlocks = Σ ceil(size / kSgdChunk). */
int launchSgdMomentum(cudaStream_t s, const SgdTensor *table, int count, long long totalBlocks, float lr, float momentum,
                      float weightDecay, bool firstStep);

}  // namespace ib
