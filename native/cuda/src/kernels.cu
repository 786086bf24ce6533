// Element-wise, broadcasting, copy, gather, one-hot, softmax, pooling and conversion kernels.
#include <cuda_bf16.h>
#include <cmath>
#include <cstring>
#include <type_traits>
#include "float_access.cuh"
#include "kernels.h"

namespace ib {
namespace {

constexpr int kThreads = 256;

inline unsigned gridFor(long long n, int perThread = 1) {
  long long blocks = (n + (long long)kThreads * perThread - 1) / ((long long)kThreads * perThread);
  // Grid-stride loops cover the rest.
  return (unsigned)(blocks < 1 ? 1 : (blocks > gridCaps.x ? gridCaps.x : blocks));
}

#define IB_GRID_STRIDE(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

__global__ void fillKernel(uint32_t *out, long long n, uint32_t bits) {
  IB_GRID_STRIDE(i, n) out[i] = bits;
}

template <typename T>
__device__ __forceinline__ T unaryOp(UnaryOp op, T x, float alpha, float beta);

template <>
__device__ __forceinline__ float unaryOp<float>(UnaryOp op, float x, float alpha, float beta) {
  switch (op) {
    case UnaryOp::Relu: return x > 0.f ? x : 0.f;
    case UnaryOp::Relu6: return fminf(fmaxf(x, 0.f), 6.f);
    case UnaryOp::Step: return x > 0.f ? 1.f : (isnan(x) ? x : alpha);
    case UnaryOp::Neg: return -x;
    case UnaryOp::Square: return x * x;
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Rsqrt: return rsqrtf(x);
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Reciprocal: return 1.f / x;
    case UnaryOp::Abs: return fabsf(x);
    case UnaryOp::Sigmoid: return 1.f / (1.f + expf(-x));
    case UnaryOp::Tanh: return tanhf(x);
    case UnaryOp::Log1p: return log1pf(x);
    case UnaryOp::Floor: return floorf(x);
    case UnaryOp::Ceil: return ceilf(x);
    case UnaryOp::LeakyRelu: return x < 0.f ? alpha * x : x;
    case UnaryOp::Elu: return x >= 0.f ? x : expm1f(x);
    case UnaryOp::Softplus: return x > 20.f ? x : log1pf(expf(x));
    case UnaryOp::ClipByValue: return isnan(x) ? x : fminf(fmaxf(x, alpha), beta);
    case UnaryOp::LogicalNot: return x == 0.f ? 1.f : 0.f;
    case UnaryOp::Sign: return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
    case UnaryOp::Expm1: return expm1f(x);
    case UnaryOp::Round: return rintf(x);  // tfjs rounds half to even
    case UnaryOp::Sin: return sinf(x);
    case UnaryOp::Cos: return cosf(x);
  }
  return x;
}

template <>
__device__ __forceinline__ int unaryOp<int>(UnaryOp op, int x, float alpha, float beta) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return x < 0 ? -x : x;
    case UnaryOp::Square: return x * x;
    case UnaryOp::Relu: return x > 0 ? x : 0;
    case UnaryOp::LogicalNot: return x == 0 ? 1 : 0;
    case UnaryOp::Sign: return x > 0 ? 1 : (x < 0 ? -1 : 0);
    case UnaryOp::ClipByValue: { int lo = (int)alpha, hi = (int)beta; return x < lo ? lo : (x > hi ? hi : x); }
    default: return x;  // the TS side only sends the ops above for int32
  }
}

// Element access of the element-wise kernels: int32 buffers as they are, float ones in their format.
__device__ __forceinline__ int loadValue(const int *x, long long i) { return x[i]; }
__device__ __forceinline__ float loadValue(FloatsIn x, long long i) { return loadFloat(x, i); }
__device__ __forceinline__ void storeValue(int *y, long long i, int v) { y[i] = v; }
__device__ __forceinline__ void storeValue(FloatsOut y, long long i, float v) { storeFloat(y, i, v); }
/** Comparisons and logical ops write int32 0/1 whatever their operands are. */
__device__ __forceinline__ void storeBool(int *y, long long i, int v) { y[i] = v; }
__device__ __forceinline__ void storeBool(FloatsOut y, long long i, int v) { static_cast<int *>(y.ptr)[i] = v; }

/** In, Out: IntsIn and IntsOut for int32; FloatsIn and FloatsOut for float32. */
using IntsIn = const int *;
using IntsOut = int *;
template <typename T, typename In, typename Out>
__global__ void unaryKernel(UnaryOp op, In x, Out y, long long n, float alpha, float beta) {
  IB_GRID_STRIDE(i, n) storeValue(y, i, unaryOp<T>(op, loadValue(x, i), alpha, beta));
}

template <typename T>
__device__ __forceinline__ T floorDivide(T a, T b);
template <>
__device__ __forceinline__ float floorDivide<float>(float a, float b) { return floorf(a / b); }
template <>
__device__ __forceinline__ int floorDivide<int>(int a, int b) {
  if (b == 0) return 0;
  int q = a / b;
  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}
template <typename T>
__device__ __forceinline__ T modulo(T a, T b);
template <>
__device__ __forceinline__ float modulo<float>(float a, float b) { float r = fmodf(a, b); return (r != 0.f && ((r < 0.f) != (b < 0.f))) ? r + b : r; }
template <>
__device__ __forceinline__ int modulo<int>(int a, int b) { if (b == 0) return 0; int r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }

/** Arithmetic ops write T; comparisons and logical ops write int 0/1. */
template <typename T, typename Out>
__device__ __forceinline__ void binaryOp(BinaryOp op, T a, T b, Out o, long long i) {
  switch (op) {
    case BinaryOp::Add: storeValue(o, i, a + b); return;
    case BinaryOp::Sub: storeValue(o, i, a - b); return;
    case BinaryOp::Mul: storeValue(o, i, a * b); return;
    case BinaryOp::Div:
      if constexpr (std::is_integral<T>::value) storeValue(o, i, b == 0 ? 0 : a / b);
      else storeValue(o, i, a / b);
      return;
    case BinaryOp::Maximum: storeValue(o, i, a > b || a != a ? a : b); return;
    case BinaryOp::Minimum: storeValue(o, i, a < b || a != a ? a : b); return;
    case BinaryOp::SquaredDifference: storeValue(o, i, (a - b) * (a - b)); return;
    case BinaryOp::Pow: storeValue(o, i, T(powf(float(a), float(b)))); return;
    case BinaryOp::Equal: storeBool(o, i, a == b); return;
    case BinaryOp::NotEqual: storeBool(o, i, a != b); return;
    case BinaryOp::Greater: storeBool(o, i, a > b); return;
    case BinaryOp::GreaterEqual: storeBool(o, i, a >= b); return;
    case BinaryOp::Less: storeBool(o, i, a < b); return;
    case BinaryOp::LessEqual: storeBool(o, i, a <= b); return;
    case BinaryOp::LogicalAnd: storeBool(o, i, (a != T(0)) && (b != T(0))); return;
    case BinaryOp::LogicalOr: storeBool(o, i, (a != T(0)) || (b != T(0))); return;
    case BinaryOp::ReluGradFromOutput: storeValue(o, i, b > T(0) ? a : T(0)); return;  // a = dy, b = y
    case BinaryOp::ReluGradFromInput: storeValue(o, i, b > T(0) ? a : T(0)); return;   // a = dy, b = x (same rule)
    case BinaryOp::EluGrad: storeValue(o, i, b >= T(0) ? a : a * (b + T(1))); return;    // a = dy, b = y
    case BinaryOp::FloorDiv: storeValue(o, i, floorDivide<T>(a, b)); return;
    case BinaryOp::Mod: storeValue(o, i, modulo<T>(a, b)); return;
  }
}

struct BinaryParams {
  int rank;
  int shape[kMaxRank];
  long long aStrides[kMaxRank];
  long long bStrides[kMaxRank];
};

template <typename T, typename In, typename Out>
__global__ void binaryKernel(BinaryOp op, In a, In b, Out out, long long n, BinaryParams p) {
  IB_GRID_STRIDE(i, n) {
    long long rest = i, ai = 0, bi = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
      long long idx = rest % p.shape[d];
      rest /= p.shape[d];
      ai += idx * p.aStrides[d];
      bi += idx * p.bStrides[d];
    }
    binaryOp<T>(op, loadValue(a, ai), loadValue(b, bi), out, i);
  }
}

/** The common cases without index arithmetic: same shape (mode 0), b a scalar (1), a a scalar (2). */
template <typename T, typename In, typename Out>
__global__ void binaryFlatKernel(BinaryOp op, In a, In b, Out out, long long n, int mode) {
  IB_GRID_STRIDE(i, n) binaryOp<T>(op, loadValue(a, mode == 2 ? 0 : i), loadValue(b, mode == 1 ? 0 : i), out, i);
}

/** b broadcast along the rows of [rows, cols] (a bias add, a per-channel scale): no divisions but one. */
template <typename T, typename In, typename Out>
__global__ void binaryRowKernel(BinaryOp op, In a, In b, Out out, long long n, int cols, bool bIsRow) {
  IB_GRID_STRIDE(i, n) {
    int c = (int)(i % cols);
    if (bIsRow) binaryOp<T>(op, loadValue(a, i), loadValue(b, c), out, i);
    else binaryOp<T>(op, loadValue(a, c), loadValue(b, i), out, i);
  }
}

__global__ void selectKernel(const int *condition, const uint32_t *a, const uint32_t *b, uint32_t *out, long long n, long long inner) {
  IB_GRID_STRIDE(i, n) out[i] = condition[i / inner] ? a[i] : b[i];
}

template <typename From, typename To>
__global__ void castKernel(const From *x, To *y, long long n, bool toBool) {
  IB_GRID_STRIDE(i, n) y[i] = toBool ? To(x[i] != From(0)) : To(x[i]);
}

struct CopyParams {
  int rank;
  int shape[kMaxRank];
  int srcModulo[kMaxRank];
  long long srcStrides[kMaxRank];
  long long dstStrides[kMaxRank];
};

__global__ void copyStridedKernel(const uint32_t *src, long long srcOffset, uint32_t *dst, long long dstOffset, long long n, CopyParams p) {
  IB_GRID_STRIDE(i, n) {
    long long rest = i, si = srcOffset, di = dstOffset;
    for (int d = p.rank - 1; d >= 0; --d) {
      long long idx = rest % p.shape[d];
      rest /= p.shape[d];
      si += (idx % p.srcModulo[d]) * p.srcStrides[d];
      di += idx * p.dstStrides[d];
    }
    dst[di] = src[si];
  }
}

constexpr int kTile = 32;
constexpr int kTileRows = 8;  // a 32×8 block moves a 32×32 tile, four elements per thread

/** One 32×32 tile per block: read along cols, write along rows; the +1 column avoids bank conflicts. */
__global__ void batchedTransposeKernel(const uint32_t *x, uint32_t *out, long long rows, long long cols, long long rowTiles, long long colTiles) {
  __shared__ uint32_t tile[kTile][kTile + 1];
  long long tilesPerMatrix = rowTiles * colTiles;
  long long b = blockIdx.z;
  for (long long t = blockIdx.x; t < tilesPerMatrix; t += gridDim.x) {
    long long r0 = (t / colTiles) * kTile, c0 = (t % colTiles) * kTile;
    const uint32_t *in = x + b * rows * cols;
    uint32_t *o = out + b * rows * cols;
    for (int k = threadIdx.y; k < kTile; k += kTileRows) {
      long long r = r0 + k, c = c0 + threadIdx.x;
      if (r < rows && c < cols) tile[k][threadIdx.x] = in[r * cols + c];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < kTile; k += kTileRows) {
      long long c = c0 + k, r = r0 + threadIdx.x;
      if (r < rows && c < cols) o[c * rows + r] = tile[threadIdx.x][k];
    }
    __syncthreads();
  }
}

template <typename T>
__global__ void argReduceKernel(bool isMax, const T *x, int *out, long long outer, long long reduce, long long inner) {
  IB_GRID_STRIDE(i, outer * inner) {
    long long o = i / inner, in = i % inner;
    const T *row = x + o * reduce * inner + in;
    T best = row[0];
    int bestIndex = 0;
    for (long long r = 1; r < reduce; ++r) {
      T v = row[r * inner];
      if (isMax ? v > best : v < best) { best = v; bestIndex = (int)r; }
    }
    out[i] = bestIndex;
  }
}

__global__ void oneHotKernel(const int *indices, uint32_t *out, long long n, int depth, uint32_t onBits, uint32_t offBits) {
  IB_GRID_STRIDE(i, n * depth) out[i] = indices[i / depth] == (int)(i % depth) ? onBits : offBits;
}

__global__ void gatherKernel(const uint32_t *x, const int *indices, uint32_t *out, long long outer, long long axisSize, long long inner, long long m) {
  IB_GRID_STRIDE(i, outer * m * inner) {
    long long in = i % inner, rest = i / inner, j = rest % m, o = rest / m;
    int index = indices[j];
    // tfjs returns zeros for out-of-range indices on the CPU; do the same rather than read out of bounds.
    out[i] = (index >= 0 && index < axisSize) ? x[(o * axisSize + index) * inner + in] : 0u;
  }
}

/** One warp per row: the class counts of classification heads are small. */
__global__ void softmaxKernel(const float *x, float *y, long long rows, int cols, bool logSoftmax) {
  long long row = blockIdx.x * (long long)(blockDim.x / 32) + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float *in = x + row * cols;
  float *o = y + row * cols;
  float m = -INFINITY;
  for (int c = lane; c < cols; c += 32) m = fmaxf(m, in[c]);
  for (int off = 16; off > 0; off /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  float sum = 0.f;
  for (int c = lane; c < cols; c += 32) sum += expf(in[c] - m);
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  float logSum = logf(sum);
  for (int c = lane; c < cols; c += 32) o[c] = logSoftmax ? in[c] - m - logSum : expf(in[c] - m) / sum;
}

struct PoolParams { int n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl; };

/** An NHWC position: batch, row, column, channel. */
struct PoolAt { int b, y, x, c; };

/** Element i of an NHWC tensor of `height` × `width` × p.c per image. */
__device__ __forceinline__ PoolAt positionOf(long long i, const PoolParams &p, int height, int width) {
  PoolAt at;
  at.c = (int)(i % p.c);
  long long rest = i / p.c;
  at.x = (int)(rest % width);
  rest /= width;
  at.y = (int)(rest % height);
  at.b = (int)(rest / height);
  return at;
}

/** Output rows [yLo, yHi] and columns [xLo, xHi]. */
struct PoolRange { int yLo, yHi, xLo, xHi; };

/** The outputs whose windows [o·stride − pad, o·stride − pad + k) may hold input pixel `at` (callers still
 *  check each window's bounds). */
__device__ __forceinline__ PoolRange outputsCovering(const PoolAt &at, const PoolParams &p) {
  int ny = at.y + p.pt - p.kh + 1, nx = at.x + p.pl - p.kw + 1;
  return PoolRange{ny <= 0 ? 0 : (ny + p.sh - 1) / p.sh, min(p.oh - 1, (at.y + p.pt) / p.sh), nx <= 0 ? 0 : (nx + p.sw - 1) / p.sw,
                   min(p.ow - 1, (at.x + p.pl) / p.sw)};
}

/** Visits the in-bounds input pixels of output (b, oy, ox, c)'s window in row-major order: visit(index). */
template <typename Visit>
__device__ __forceinline__ void forWindow(const PoolParams &p, int b, int oy, int ox, int c, Visit visit) {
  int y0 = oy * p.sh - p.pt, x0 = ox * p.sw - p.pl;
  for (int dy = 0; dy < p.kh; ++dy) {
    int yy = y0 + dy;
    if (yy < 0 || yy >= p.h) continue;
    for (int dx = 0; dx < p.kw; ++dx) {
      int xx = x0 + dx;
      if (xx < 0 || xx >= p.w) continue;
      visit((((long long)b * p.h + yy) * p.w + xx) * p.c + c);
    }
  }
}

__device__ __forceinline__ bool windowHolds(const PoolParams &p, int oy, int ox, const PoolAt &at) {
  int y0 = oy * p.sh - p.pt, x0 = ox * p.sw - p.pl;
  return at.y >= y0 && at.y < y0 + p.kh && at.x >= x0 && at.x < x0 + p.kw;
}

__device__ __forceinline__ long long outputIndex(const PoolParams &p, int b, int oy, int ox, int c) {
  return (((long long)b * p.oh + oy) * p.ow + ox) * p.c + c;
}

__global__ void avgPoolKernel(const float *x, float *y, PoolParams p) {
  IB_GRID_STRIDE(i, (long long)p.n * p.oh * p.ow * p.c) {
    PoolAt o = positionOf(i, p, p.oh, p.ow);
    float sum = 0.f;
    int count = 0;
    forWindow(p, o.b, o.y, o.x, o.c, [&](long long at) {
      sum += x[at];
      ++count;
    });
    y[i] = count > 0 ? sum / count : 0.f;
  }
}

__global__ void avgPoolGradKernel(const float *dy, float *dx, PoolParams p) {
  IB_GRID_STRIDE(i, (long long)p.n * p.h * p.w * p.c) {
    PoolAt at = positionOf(i, p, p.h, p.w);
    PoolRange r = outputsCovering(at, p);
    float sum = 0.f;
    for (int oy = r.yLo; oy <= r.yHi; ++oy)
      for (int ox = r.xLo; ox <= r.xHi; ++ox)
        if (windowHolds(p, oy, ox, at)) sum += dy[outputIndex(p, at.b, oy, ox, at.c)];
    // tfjs's AvgPoolGrad divides by the whole window (kh·kw), padding included, although its forward
    // divides by the in-bounds count: matched here, as every tfjs backend does.
    dx[i] = sum / (p.kh * p.kw);
  }
}

/** The first maximum (row-major) of output (b, oy, ox, c)'s window: its input index, or −1 if the window
 *  holds no value above −∞ (padding only, or NaN and −∞ only); `best` gets the maximum (−∞ if none). */
__device__ __forceinline__ long long windowArgMax(const float *x, const PoolParams &p, int b, int oy, int ox, int c, float *best) {
  float value = -INFINITY;
  long long argMax = -1;
  forWindow(p, b, oy, ox, c, [&](long long at) {
    if (x[at] > value) {
      value = x[at];
      argMax = at;
    }
  });
  *best = value;
  return argMax;
}

__global__ void maxPoolKernel(const float *x, float *y, PoolParams p) {
  IB_GRID_STRIDE(i, (long long)p.n * p.oh * p.ow * p.c) {
    PoolAt o = positionOf(i, p, p.oh, p.ow);
    float best;
    windowArgMax(x, p, o.b, o.y, o.x, o.c, &best);
    y[i] = best;
  }
}

/** One thread per input element: sums dy over the windows whose first maximum it is. */
__global__ void maxPoolGradKernel(const float *x, const float *dy, float *dx, PoolParams p) {
  IB_GRID_STRIDE(i, (long long)p.n * p.h * p.w * p.c) {
    PoolAt at = positionOf(i, p, p.h, p.w);
    PoolRange r = outputsCovering(at, p);
    float sum = 0.f;
    float best;
    for (int oy = r.yLo; oy <= r.yHi; ++oy)
      for (int ox = r.xLo; ox <= r.xHi; ++ox)
        if (windowArgMax(x, p, at.b, oy, ox, at.c, &best) == i) sum += dy[outputIndex(p, at.b, oy, ox, at.c)];
    dx[i] = sum;
  }
}

__global__ void toBf16Kernel(const float *x, __nv_bfloat16 *y, long long n) {
  IB_GRID_STRIDE(i, n) y[i] = __float2bfloat16_rn(x[i]);
}
__global__ void fromBf16Kernel(const __nv_bfloat16 *x, float *y, long long n) {
  IB_GRID_STRIDE(i, n) y[i] = __bfloat162float(x[i]);
}

}  // namespace

GridCaps gridCaps;

int launchFill(cudaStream_t s, void *out, long long n, uint32_t bits) {
  if (n <= 0) return 0;
  if (bits == 0) {
    cudaMemsetAsync(out, 0, (size_t)n * 4, s);
    return 1;
  }
  fillKernel<<<gridFor(n), kThreads, 0, s>>>(static_cast<uint32_t *>(out), n, bits);
  return 1;
}

int launchUnary(cudaStream_t s, UnaryOp op, DType dtype, const void *x, void *y, long long n, float alpha, float beta, int bf16Operands) {
  if (n <= 0) return 0;
  if (dtype == DType::Float32) {
    FloatsIn in{x, bf16Operand(bf16Operands, 0)};
    FloatsOut out{y, bf16Operand(bf16Operands, 1)};
    unaryKernel<float, FloatsIn, FloatsOut><<<gridFor(n), kThreads, 0, s>>>(op, in, out, n, alpha, beta);
  } else {
    unaryKernel<int, IntsIn, IntsOut><<<gridFor(n), kThreads, 0, s>>>(op, (const int *)x, (int *)y, n, alpha, beta);
  }
  return 1;
}

template <typename T, typename In, typename Out>
static void binaryDispatch(cudaStream_t s, BinaryOp op, In a, In b, Out out, long long n, int rank, const int *shape,
                           const long long *as, const long long *bs) {
  bool aFull = true, bFull = true, aScalar = true, bScalar = true;
  long long expect = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (shape[d] != 1) {
      aFull = aFull && as[d] == expect;
      bFull = bFull && bs[d] == expect;
      aScalar = aScalar && as[d] == 0;
      bScalar = bScalar && bs[d] == 0;
    }
    expect *= shape[d];
  }
  unsigned grid = gridFor(n);
  if (aFull && (bFull || bScalar)) return (void)binaryFlatKernel<T, In, Out><<<grid, kThreads, 0, s>>>(op, a, b, out, n, bFull ? 0 : 1);
  if (aScalar && bFull) return (void)binaryFlatKernel<T, In, Out><<<grid, kThreads, 0, s>>>(op, a, b, out, n, 2);
  // [rows, cols] with one side a row vector (collapsed by the TS side to rank 2).
  if (rank == 2 && as[1] == 1 && bs[1] == 1 && (as[0] == 0 || bs[0] == 0) && (as[0] == shape[1] || bs[0] == shape[1])) {
    return (void)binaryRowKernel<T, In, Out><<<grid, kThreads, 0, s>>>(op, a, b, out, n, shape[1], bs[0] == 0);
  }
  BinaryParams p{};
  p.rank = rank;
  for (int d = 0; d < rank; ++d) {
    p.shape[d] = shape[d];
    p.aStrides[d] = as[d];
    p.bStrides[d] = bs[d];
  }
  binaryKernel<T, In, Out><<<grid, kThreads, 0, s>>>(op, a, b, out, n, p);
}

int launchBinary(cudaStream_t s, BinaryOp op, DType dtype, const void *a, const void *b, void *out, int rank, const int *outShape,
                 const long long *aStrides, const long long *bStrides, int bf16Operands) {
  long long n = 1;
  for (int d = 0; d < rank; ++d) n *= outShape[d];
  if (n <= 0) return 0;
  if (dtype == DType::Float32) {
    FloatsIn fa{a, bf16Operand(bf16Operands, 0)}, fb{b, bf16Operand(bf16Operands, 1)};
    FloatsOut fo{out, bf16Operand(bf16Operands, 2)};
    binaryDispatch<float>(s, op, fa, fb, fo, n, rank, outShape, aStrides, bStrides);
  } else {
    binaryDispatch<int>(s, op, (IntsIn)a, (IntsIn)b, (IntsOut)out, n, rank, outShape, aStrides, bStrides);
  }
  return 1;
}

int launchSelect(cudaStream_t s, const int *condition, const void *a, const void *b, void *out, long long n, long long inner) {
  if (n <= 0) return 0;
  selectKernel<<<gridFor(n), kThreads, 0, s>>>(condition, (const uint32_t *)a, (const uint32_t *)b, (uint32_t *)out, n, inner < 1 ? 1 : inner);
  return 1;
}

int launchCast(cudaStream_t s, DType from, DType to, bool toBool, const void *x, void *y, long long n) {
  if (n <= 0) return 0;
  if (from == DType::BFloat16 || to == DType::BFloat16) {
    if (from == DType::BFloat16 && to == DType::Float32 && !toBool) return launchFromBf16(s, x, (float *)y, n);
    if (from == DType::Float32 && to == DType::BFloat16) return launchToBf16(s, (const float *)x, y, n);
    return -1;  // no such cast
  }
  unsigned grid = gridFor(n);
  if (from == DType::Float32 && to == DType::Int32) castKernel<float, int><<<grid, kThreads, 0, s>>>((const float *)x, (int *)y, n, toBool);
  else if (from == DType::Int32 && to == DType::Float32) castKernel<int, float><<<grid, kThreads, 0, s>>>((const int *)x, (float *)y, n, toBool);
  else if (from == DType::Int32) castKernel<int, int><<<grid, kThreads, 0, s>>>((const int *)x, (int *)y, n, toBool);
  else castKernel<float, float><<<grid, kThreads, 0, s>>>((const float *)x, (float *)y, n, toBool);
  return 1;
}

int launchCopyStrided(cudaStream_t s, const void *src, long long srcOffset, const long long *srcStrides, const int *srcModulo, void *dst,
                      long long dstOffset, const long long *dstStrides, const int *shape, int rank) {
  long long n = 1;
  CopyParams p{};
  p.rank = rank;
  for (int d = 0; d < rank; ++d) {
    n *= shape[d];
    p.shape[d] = shape[d];
    p.srcModulo[d] = srcModulo ? srcModulo[d] : shape[d];
    if (p.srcModulo[d] <= 0) p.srcModulo[d] = 1;
    p.srcStrides[d] = srcStrides[d];
    p.dstStrides[d] = dstStrides[d];
  }
  if (n <= 0) return 0;
  copyStridedKernel<<<gridFor(n), kThreads, 0, s>>>((const uint32_t *)src, srcOffset, (uint32_t *)dst, dstOffset, n, p);
  return 1;
}

int launchBatchedTranspose(cudaStream_t s, const void *x, void *out, long long batch, long long rows, long long cols) {
  if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
  long long rowTiles = (rows + kTile - 1) / kTile, colTiles = (cols + kTile - 1) / kTile;
  long long tiles = rowTiles * colTiles;
  // Batches on z (up to gridCaps.yz per launch), tiles on x (grid-stride beyond gridCaps.x).
  int launches = 0;
  for (long long b0 = 0; b0 < batch; b0 += gridCaps.yz) {
    long long count = batch - b0 < gridCaps.yz ? batch - b0 : gridCaps.yz;
    dim3 grid((unsigned)(tiles < gridCaps.x ? tiles : gridCaps.x), 1, (unsigned)count);
    batchedTransposeKernel<<<grid, dim3(kTile, kTileRows), 0, s>>>((const uint32_t *)x + b0 * rows * cols, (uint32_t *)out + b0 * rows * cols, rows, cols,
                                                                      rowTiles, colTiles);
    ++launches;
  }
  return launches;
}

int launchArgReduce(cudaStream_t s, bool isMax, DType dtype, const void *x, int *out, long long outer, long long reduce, long long inner) {
  long long n = outer * inner;
  if (n <= 0) return 0;
  if (dtype == DType::Float32) argReduceKernel<float><<<gridFor(n), kThreads, 0, s>>>(isMax, (const float *)x, out, outer, reduce, inner);
  else argReduceKernel<int><<<gridFor(n), kThreads, 0, s>>>(isMax, (const int *)x, out, outer, reduce, inner);
  return 1;
}

int launchOneHot(cudaStream_t s, const int *indices, void *out, long long n, int depth, uint32_t onBits, uint32_t offBits) {
  if (n * depth <= 0) return 0;
  oneHotKernel<<<gridFor(n * depth), kThreads, 0, s>>>(indices, (uint32_t *)out, n, depth, onBits, offBits);
  return 1;
}

int launchGather(cudaStream_t s, const void *x, const int *indices, void *out, long long outer, long long axisSize, long long inner, long long m) {
  long long n = outer * m * inner;
  if (n <= 0) return 0;
  gatherKernel<<<gridFor(n), kThreads, 0, s>>>((const uint32_t *)x, indices, (uint32_t *)out, outer, axisSize, inner, m);
  return 1;
}

int launchSoftmax(cudaStream_t s, const float *x, float *y, long long rows, int cols, bool logSoftmax) {
  if (rows <= 0) return 0;
  const int warpsPerBlock = 8;
  unsigned blocks = (unsigned)((rows + warpsPerBlock - 1) / warpsPerBlock);
  softmaxKernel<<<blocks, warpsPerBlock * 32, 0, s>>>(x, y, rows, cols, logSoftmax);
  return 1;
}

static PoolParams poolParams(const int *q) { return PoolParams{q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10], q[11]}; }

int launchAvgPool(cudaStream_t s, const float *x, float *y, const int *q) {
  PoolParams p = poolParams(q);
  long long n = (long long)p.n * p.oh * p.ow * p.c;
  if (n <= 0) return 0;
  avgPoolKernel<<<gridFor(n), kThreads, 0, s>>>(x, y, p);
  return 1;
}

int launchAvgPoolGrad(cudaStream_t s, const float *dy, float *dx, const int *q) {
  PoolParams p = poolParams(q);
  long long n = (long long)p.n * p.h * p.w * p.c;
  if (n <= 0) return 0;
  avgPoolGradKernel<<<gridFor(n), kThreads, 0, s>>>(dy, dx, p);
  return 1;
}

int launchMaxPool(cudaStream_t s, const float *x, float *y, const int *q) {
  PoolParams p = poolParams(q);
  long long n = (long long)p.n * p.oh * p.ow * p.c;
  if (n <= 0) return 0;
  maxPoolKernel<<<gridFor(n), kThreads, 0, s>>>(x, y, p);
  return 1;
}

int launchMaxPoolGrad(cudaStream_t s, const float *x, const float *dy, float *dx, const int *q) {
  PoolParams p = poolParams(q);
  long long n = (long long)p.n * p.h * p.w * p.c;
  if (n <= 0) return 0;
  maxPoolGradKernel<<<gridFor(n), kThreads, 0, s>>>(x, dy, dx, p);
  return 1;
}

int launchToBf16(cudaStream_t s, const float *x, void *y, long long n) {
  if (n <= 0) return 0;
  toBf16Kernel<<<gridFor(n), kThreads, 0, s>>>(x, (__nv_bfloat16 *)y, n);
  return 1;
}

int launchFromBf16(cudaStream_t s, const void *x, float *y, long long n) {
  if (n <= 0) return 0;
  fromBf16Kernel<<<gridFor(n), kThreads, 0, s>>>((const __nv_bfloat16 *)x, y, n);
  return 1;
}

}  // namespace ib
