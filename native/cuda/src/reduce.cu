// Reductions over the middle axis of [outer, reduce, inner], batch norm's fused passes, and the
// multi-tensor SGD update.
#include <cfloat>
#include <climits>
#include "float_access.cuh"
#include "kernels.h"

namespace ib {
namespace {

template <typename T> struct Limits;
template <> struct Limits<float> { __device__ static float lowest() { return -INFINITY; } __device__ static float highest() { return INFINITY; } };
template <> struct Limits<int> { __device__ static int lowest() { return INT_MIN; } __device__ static int highest() { return INT_MAX; } };

template <typename T>
__device__ __forceinline__ T identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return T(0);
    case ReduceOp::Max: return Limits<T>::lowest();
    case ReduceOp::Min: return Limits<T>::highest();
    case ReduceOp::Prod: return T(1);
    case ReduceOp::Any: return T(0);
    case ReduceOp::All: return T(1);
  }
  return T(0);
}

template <typename T>
__device__ __forceinline__ T combine(ReduceOp op, T a, T b) {
  switch (op) {
    case ReduceOp::Sum: return a + b;
    // NaN wins, as in tfjs's cpu kernels.
    case ReduceOp::Max: return (a > b || a != a) ? a : b;
    case ReduceOp::Min: return (a < b || a != a) ? a : b;
    case ReduceOp::Prod: return a * b;
    case ReduceOp::Any: return T((a != T(0)) || (b != T(0)));
    case ReduceOp::All: return T((a != T(0)) && (b != T(0)));
  }
  return a;
}

template <typename T>
__device__ __forceinline__ T warpCombine(ReduceOp op, T v) {
  for (int off = 16; off > 0; off /= 2) v = combine(op, v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

/** Each thread's own pass over its elements accumulates float in double: a long float32 sum otherwise
 *  drifts past what tfjs's cpu backend (which sums in float64) gives, e.g. by 1e-5 on 300k values. */
template <typename T> struct Wide { using type = T; };
template <> struct Wide<float> { using type = double; };

/** inner == 1: one block per row (grid-stride over rows); `splits` > 1 reduces a slice of each row. */
template <typename T>
__global__ void rowReduceKernel(ReduceOp op, const T *x, T *out, long long outer, long long reduce, int splits, float scale, bool applyScale) {
  __shared__ T warpResults[32];
  long long slice = (reduce + splits - 1) / splits;
  for (long long job = blockIdx.x; job < outer * splits; job += gridDim.x) {
    long long row = job / splits;
    long long begin = (job % splits) * slice, end = min(reduce, begin + slice);
    const T *in = x + row * reduce;
    using W = typename Wide<T>::type;
    W wide = W(identity<T>(op));
    for (long long r = begin + threadIdx.x; r < end; r += blockDim.x) wide = combine<W>(op, wide, W(in[r]));
    T acc = warpCombine(op, T(wide));
    if (threadIdx.x % 32 == 0) warpResults[threadIdx.x / 32] = acc;
    __syncthreads();
    if (threadIdx.x < 32) {
      int warps = blockDim.x / 32;
      T v = threadIdx.x < warps ? warpResults[threadIdx.x] : identity<T>(op);
      v = warpCombine(op, v);
      if (threadIdx.x == 0) out[job] = applyScale ? T(float(v) * scale) : v;
    }
    __syncthreads();
  }
}

/** inner > 1: a 32×8 block covers 32 consecutive inner positions (coalesced) and a slice of the rows. */
template <typename T>
__global__ void columnReduceKernel(ReduceOp op, const T *x, T *out, long long outer, long long reduce, long long inner, int splits,
                                   float scale, bool applyScale) {
  __shared__ T partial[8][33];
  long long col = blockIdx.x * 32LL + threadIdx.x;
  long long slice = (reduce + splits - 1) / splits;
  int split = blockIdx.z;
  long long begin = split * slice, end = min(reduce, begin + slice);
  for (long long o = blockIdx.y; o < outer; o += gridDim.y) {
    using W = typename Wide<T>::type;
    W wide = W(identity<T>(op));
    if (col < inner) {
      const T *in = x + o * reduce * inner + col;
      for (long long r = begin + threadIdx.y; r < end; r += 8) wide = combine<W>(op, wide, W(in[r * inner]));
    }
    partial[threadIdx.y][threadIdx.x] = T(wide);
    __syncthreads();
    if (threadIdx.y == 0 && col < inner) {
      T v = partial[0][threadIdx.x];
      for (int k = 1; k < 8; ++k) v = combine(op, v, partial[k][threadIdx.x]);
      // Partials are laid out [outer, splits, inner] so the second pass is the same kernel.
      long long at = (o * splits + split) * inner + col;
      out[at] = applyScale ? T(float(v) * scale) : v;
    }
    __syncthreads();
  }
}

int splitsFor(long long outer, long long reduce, long long perSplit) {
  // Enough blocks to fill the GPU (~132 SMs × 8), each reducing at least perSplit elements.
  long long wanted = 1024 / (outer < 1 ? 1 : outer);
  long long bySize = reduce / perSplit;
  long long splits = wanted < bySize ? wanted : bySize;
  return (int)(splits < 1 ? 1 : (splits > 1024 ? 1024 : splits));
}

template <typename T>
int reduceTyped(cudaStream_t s, ReduceOp op, const T *x, T *out, long long outer, long long reduce, long long inner, float scale, T *scratch) {
  bool scaled = scale != 1.f;
  if (inner == 1) {
    int splits = splitsFor(outer, reduce, 16384);
    unsigned grid = (unsigned)min(outer * splits, gridCaps.x);
    if (splits == 1) {
      rowReduceKernel<T><<<grid, 256, 0, s>>>(op, x, out, outer, reduce, 1, scale, scaled);
      return 1;
    }
    rowReduceKernel<T><<<grid, 256, 0, s>>>(op, x, scratch, outer, reduce, splits, 1.f, false);
    rowReduceKernel<T><<<(unsigned)min(outer, gridCaps.x), 256, 0, s>>>(op, scratch, out, outer, splits, 1, scale, scaled);
    return 2;
  }
  int splits = splitsFor(outer * ((inner + 31) / 32), reduce, 2048);
  dim3 block(32, 8);
  dim3 grid((unsigned)((inner + 31) / 32), (unsigned)min(outer, gridCaps.yz), (unsigned)splits);
  if (splits == 1) {
    columnReduceKernel<T><<<grid, block, 0, s>>>(op, x, out, outer, reduce, inner, 1, scale, scaled);
    return 1;
  }
  columnReduceKernel<T><<<grid, block, 0, s>>>(op, x, scratch, outer, reduce, inner, splits, 1.f, false);
  dim3 grid2(grid.x, grid.y, 1);
  columnReduceKernel<T><<<grid2, block, 0, s>>>(op, scratch, out, outer, splits, inner, 1, scale, scaled);
  return 2;
}

// ---- batch norm: per-channel sums in double over [rows, channels], split over row slices

constexpr int kBnRowsPerBlock = 8;  // threadIdx.y
constexpr int kBnMaxSplits = 256;

int bnSplits(long long rows, int channels) {
  long long columnBlocks = (channels + 31) / 32;
  long long wanted = 1024 / columnBlocks;
  long long bySize = rows / 256;
  long long splits = wanted < bySize ? wanted : bySize;
  return (int)(splits < 1 ? 1 : (splits > kBnMaxSplits ? kBnMaxSplits : splits));
}

/** mode 0: (Σx, Σx²); mode 1: (Σdy, Σdy·(x − mean)). Writes partial[split][2][channels]. */
__global__ void bnSumsKernel(int mode, FloatsIn x, FloatsIn dy, const float *mean, long long rows, int channels, int splits, double *partial) {
  __shared__ double s0[kBnRowsPerBlock][33], s1[kBnRowsPerBlock][33];
  int c = blockIdx.x * 32 + threadIdx.x;
  int split = blockIdx.y;
  long long slice = (rows + splits - 1) / splits;
  long long begin = split * slice, end = min(rows, begin + slice);
  double a = 0, b = 0;
  if (c < channels) {
    float m = mode == 1 ? mean[c] : 0.f;
    for (long long r = begin + threadIdx.y; r < end; r += kBnRowsPerBlock) {
      float v = loadFloat(x, r * channels + c);
      if (mode == 0) {
        a += v;
        b += (double)v * v;
      } else {
        float g = loadFloat(dy, r * channels + c);
        a += g;
        b += (double)g * (v - m);
      }
    }
  }
  s0[threadIdx.y][threadIdx.x] = a;
  s1[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    for (int k = 1; k < kBnRowsPerBlock; ++k) {
      a += s0[k][threadIdx.x];
      b += s1[k][threadIdx.x];
    }
    partial[(long long)split * 2 * channels + c] = a;
    partial[(long long)split * 2 * channels + channels + c] = b;
  }
}

/** Training forward, second pass: mean, biased variance, the running update and the affine coefficients
 *  y = x·k + t. */
__global__ void bnStatsKernel(const double *partial, int splits, long long rows, int channels, const float *gamma, const float *beta,
                              float epsilon, float *mean, float *variance, RunningStats running, float *coefficients) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  double sum = 0, sumSq = 0;
  for (int k = 0; k < splits; ++k) {
    sum += partial[(long long)k * 2 * channels + c];
    sumSq += partial[(long long)k * 2 * channels + channels + c];
  }
  double m = sum / rows;
  double var = sumSq / rows - m * m;
  if (var < 0) var = 0;
  mean[c] = (float)m;
  variance[c] = (float)var;
  float momentum = running.momentum;
  running.meanOut[c] = (1.f - momentum) * running.mean[c] + momentum * (float)m;
  running.varianceOut[c] = (1.f - momentum) * running.variance[c] + momentum * (float)(var * rows / (rows - 1));
  float k = gamma[c] * rsqrtf((float)var + epsilon);
  coefficients[c] = k;
  coefficients[channels + c] = beta[c] - (float)m * k;
}

/** y = x·k[c] + t[c] (+ residual) (then max(·, 0)); four channels per thread where the channel count allows. */
__device__ __forceinline__ float bnOut(float v, float residual, bool relu) {
  v += residual;
  return relu && v < 0.f ? 0.f : v;  // NaN stays NaN (as tfjs's relu), so a diverging step still shows
}

__global__ void bnApplyKernel(FloatsIn x, const float *coefficients, FloatsIn residual, bool relu, FloatsOut y, long long n, int channels) {
  const float *k = coefficients, *t = coefficients + channels;
  if (channels % 4 == 0) {
    long long n4 = n / 4;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n4; i += (long long)gridDim.x * blockDim.x) {
      int c = (int)((i * 4) % channels);
      float4 v = loadFloat4(x, i);
      float4 r = residual.ptr ? loadFloat4(residual, i) : float4{0.f, 0.f, 0.f, 0.f};
      v.x = bnOut(v.x * k[c] + t[c], r.x, relu);
      v.y = bnOut(v.y * k[c + 1] + t[c + 1], r.y, relu);
      v.z = bnOut(v.z * k[c + 2] + t[c + 2], r.z, relu);
      v.w = bnOut(v.w * k[c + 3] + t[c + 3], r.w, relu);
      storeFloat4(y, i, v);
    }
    return;
  }
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    int c = (int)(i % channels);
    storeFloat(y, i, bnOut(loadFloat(x, i) * k[c] + t[c], residual.ptr ? loadFloat(residual, i) : 0.f, relu));
  }
}

/** Gradient, second pass: dγ = Σdy·x̂, dβ = Σdy; coefficients of dx = dy·a + x·b + d. */
__global__ void bnGradStatsKernel(const double *partial, int splits, long long rows, int channels, const float *gamma, const float *mean,
                                  const float *variance, float epsilon, float *dgamma, float *dbeta, float *coefficients) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  double sumDy = 0, sumDyXc = 0;
  for (int k = 0; k < splits; ++k) {
    sumDy += partial[(long long)k * 2 * channels + c];
    sumDyXc += partial[(long long)k * 2 * channels + channels + c];
  }
  float rstd = rsqrtf(variance[c] + epsilon);
  dgamma[c] = (float)(sumDyXc * rstd);
  dbeta[c] = (float)sumDy;
  // dx = γ·rstd·(dy − Σdy/n − x̂·Σ(dy·x̂)/n), x̂ = (x − μ)·rstd
  double g = (double)gamma[c] * rstd;
  double meanDy = sumDy / rows;
  double proj = sumDyXc * rstd * rstd / rows;  // Σ(dy·x̂)/n · rstd
  coefficients[c] = (float)g;                                   // × dy
  coefficients[channels + c] = (float)(-g * proj);              // × x
  coefficients[2 * channels + c] = (float)(g * (proj * mean[c] - meanDy));  // constant
}

__global__ void bnGradApplyKernel(FloatsIn x, FloatsIn dy, const float *coefficients, FloatsOut dx, long long n, int channels) {
  const float *a = coefficients, *b = coefficients + channels, *d = coefficients + 2 * channels;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    int c = (int)(i % channels);
    storeFloat(dx, i, loadFloat(dy, i) * a[c] + loadFloat(x, i) * b[c] + d[c]);
  }
}

/** Inference coefficients from running statistics (null vectors: offset 0, scale 1). */
__global__ void bnInferenceCoefficientsKernel(const float *mean, const float *variance, const float *offset, const float *scale,
                                              int channels, float epsilon, float *coefficients) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  float k = (scale ? scale[c] : 1.f) * rsqrtf(variance[c] + epsilon);
  coefficients[c] = k;
  coefficients[channels + c] = (offset ? offset[c] : 0.f) - mean[c] * k;
}

unsigned elementGrid(long long n) {
  long long blocks = (n + 255) / 256;
  return (unsigned)(blocks < 1 ? 1 : (blocks > gridCaps.x ? gridCaps.x : blocks));
}

__global__ void sgdKernel(const SgdTensor *table, int count, float lr, float momentum, float weightDecay, bool firstStep) {
  // Find this block's tensor: the last whose firstBlock ≤ blockIdx.x.
  int lo = 0, hi = count - 1;
  long long block = blockIdx.x;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (table[mid].firstBlock <= block) lo = mid;
    else hi = mid - 1;
  }
  const SgdTensor t = table[lo];
  long long begin = (block - t.firstBlock) * kSgdChunk;
  long long end = min(t.size, begin + kSgdChunk);
  for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) {
    float p = t.param[i];
    float g = t.grad[i] + weightDecay * p;
    float buf = firstStep ? g : momentum * t.buffer[i] + g;
    t.bufferOut[i] = buf;
    t.paramOut[i] = p - lr * buf;
  }
}

}  // namespace

size_t reduceScratchBytes(long long outer, long long reduce, long long inner) {
  int splits = inner == 1 ? splitsFor(outer, reduce, 16384) : splitsFor(outer * ((inner + 31) / 32), reduce, 2048);
  return splits == 1 ? 0 : (size_t)outer * splits * inner * 4;
}

int launchReduce(cudaStream_t s, ReduceOp op, DType dtype, const void *x, void *out, long long outer, long long reduce, long long inner,
                 float scale, void *scratch, size_t scratchBytes) {
  if (outer * inner <= 0) return 0;
  if (reduce == 0) return launchFill(s, out, outer * inner, 0);
  if (scratchBytes < reduceScratchBytes(outer, reduce, inner)) return -1;
  if (dtype == DType::Float32) return reduceTyped<float>(s, op, (const float *)x, (float *)out, outer, reduce, inner, scale, (float *)scratch);
  return reduceTyped<int>(s, op, (const int *)x, (int *)out, outer, reduce, inner, scale, (int *)scratch);
}

size_t batchNormScratchBytes(long long rows, int channels) {
  // partial sums (double) + up to three coefficient vectors
  return (size_t)bnSplits(rows, channels) * 2 * channels * sizeof(double) + 3 * (size_t)channels * sizeof(float) + 16;
}

static float *coefficientsAfter(void *scratch, long long rows, int channels) {
  char *base = static_cast<char *>(scratch);
  size_t offset = (size_t)bnSplits(rows, channels) * 2 * channels * sizeof(double);
  return reinterpret_cast<float *>(base + offset);
}

int launchBatchNormTrain(cudaStream_t s, FloatsIn x, const float *gamma, const float *beta, FloatsIn residual, bool relu, FloatsOut y, float *mean,
                         float *variance, RunningStats running, long long rows, int channels, float epsilon, void *scratch) {
  if (rows <= 0 || channels <= 0) return 0;
  int splits = bnSplits(rows, channels);
  double *partial = static_cast<double *>(scratch);
  float *coefficients = coefficientsAfter(scratch, rows, channels);
  bnSumsKernel<<<dim3((channels + 31) / 32, splits), dim3(32, kBnRowsPerBlock), 0, s>>>(0, x, FloatsIn{nullptr, false}, nullptr, rows, channels, splits, partial);
  bnStatsKernel<<<(channels + 127) / 128, 128, 0, s>>>(partial, splits, rows, channels, gamma, beta, epsilon, mean, variance, running,
                                                       coefficients);
  long long n = rows * channels;
  bnApplyKernel<<<elementGrid(channels % 4 == 0 ? n / 4 : n), 256, 0, s>>>(x, coefficients, residual, relu, y, n, channels);
  return 3;
}

int launchBatchNormTrainGrad(cudaStream_t s, FloatsIn x, FloatsIn dy, const float *gamma, const float *mean, const float *variance,
                             FloatsOut dx, float *dgamma, float *dbeta, long long rows, int channels, float epsilon, void *scratch) {
  if (rows <= 0 || channels <= 0) return 0;
  int splits = bnSplits(rows, channels);
  double *partial = static_cast<double *>(scratch);
  float *coefficients = coefficientsAfter(scratch, rows, channels);
  bnSumsKernel<<<dim3((channels + 31) / 32, splits), dim3(32, kBnRowsPerBlock), 0, s>>>(1, x, dy, mean, rows, channels, splits, partial);
  bnGradStatsKernel<<<(channels + 127) / 128, 128, 0, s>>>(partial, splits, rows, channels, gamma, mean, variance, epsilon, dgamma, dbeta,
                                                           coefficients);
  long long n = rows * channels;
  bnGradApplyKernel<<<elementGrid(n), 256, 0, s>>>(x, dy, coefficients, dx, n, channels);
  return 3;
}

int launchBatchNormInference(cudaStream_t s, FloatsIn x, const float *mean, const float *variance, const float *offset, const float *scale,
                             FloatsOut y, long long rows, int channels, float epsilon, void *scratch) {
  if (rows <= 0 || channels <= 0) return 0;
  float *coefficients = coefficientsAfter(scratch, rows, channels);
  bnInferenceCoefficientsKernel<<<(channels + 127) / 128, 128, 0, s>>>(mean, variance, offset, scale, channels, epsilon, coefficients);
  long long n = rows * channels;
  bnApplyKernel<<<elementGrid(channels % 4 == 0 ? n / 4 : n), 256, 0, s>>>(x, coefficients, FloatsIn{nullptr, false}, false, y, n, channels);
  return 2;
}

int launchSgdMomentum(cudaStream_t s, const SgdTensor *table, int count, long long totalBlocks, float lr, float momentum, float weightDecay,
                      bool firstStep) {
  if (count == 0 || totalBlocks == 0) return 0;
  sgdKernel<<<(unsigned)totalBlocks, 256, 0, s>>>(table, count, lr, momentum, weightDecay, firstStep);
  return 1;
}

}  // namespace ib
