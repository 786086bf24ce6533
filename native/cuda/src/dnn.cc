#include "dnn.h"
#include <cstdio>
#include <map>
#include <set>
#include <memory>
#include <tuple>
#include "kernels.h"

namespace ib {
namespace {

enum class ConvKind { Forward = 0, BackwardData = 1, BackwardFilter = 2 };

/** cuDNN supports no algorithm (or rejects the descriptors) for a shape in the requested precision. */
struct NoAlgorithm : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** Descriptors and the algorithm cuDNN's search picked for one shape, kind and precision (kept for the process). */
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = -1;
  size_t workspace = 0;
  float searchMs = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

using PlanKey = std::tuple<int, int, int, int, int, int, int, int, int, int, int, int, int, int, int>;
std::map<PlanKey, ConvPlan> plans;

PlanKey keyOf(ConvKind kind, const ConvShape &s, Precision p) {
  return PlanKey{(int)kind, (int)p, s.n, s.h, s.w, s.c, s.k, s.kh, s.kw, s.oh, s.ow, s.strideH, s.strideW, s.padH, s.padW};
}

cudnnDataType_t dataTypeOf(Precision p) { return p == Precision::Bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; }

/** fp32: FMA only (no TF32, comparable with PyTorch's fp32 with TF32 off); tf32: cuDNN's default, which
 *  allows TF32 tensor cores on Ampere and later; bf16: tensor cores. */
cudnnMathType_t requestedMath(Precision p) {
  switch (p) {
    case Precision::Fp32: return CUDNN_FMA_MATH;
    case Precision::Tf32: return CUDNN_DEFAULT_MATH;
    case Precision::Bf16: return CUDNN_TENSOR_OP_MATH;
  }
  return CUDNN_FMA_MATH;
}

ConvPlan makeDescriptors(const ConvShape &s, Precision p);

/** Descriptors a precision cannot have (a status error) count as "no algorithm", so bf16 can fall back. */
ConvPlan makeDescriptorsOrThrow(const ConvShape &s, Precision p) {
  try {
    return makeDescriptors(s, p);
  } catch (const OutOfMemory &) {
    throw;
  } catch (const std::runtime_error &error) {
    throw NoAlgorithm(error.what());
  }
}

ConvPlan makeDescriptors(const ConvShape &s, Precision p) {
  DnnApi &api = runtime().api;
  ConvPlan plan;
  cudnnDataType_t type = dataTypeOf(p);
  checkCudnn(api.cudnnCreateTensorDescriptor(&plan.x), "cudnnCreateTensorDescriptor");
  checkCudnn(api.cudnnCreateTensorDescriptor(&plan.y), "cudnnCreateTensorDescriptor");
  checkCudnn(api.cudnnCreateFilterDescriptor(&plan.w), "cudnnCreateFilterDescriptor");
  checkCudnn(api.cudnnCreateConvolutionDescriptor(&plan.conv), "cudnnCreateConvolutionDescriptor");
  checkCudnn(api.cudnnSetTensor4dDescriptor(plan.x, CUDNN_TENSOR_NHWC, type, s.n, s.c, s.h, s.w), "cudnnSetTensor4dDescriptor(x)");
  checkCudnn(api.cudnnSetTensor4dDescriptor(plan.y, CUDNN_TENSOR_NHWC, type, s.n, s.k, s.oh, s.ow), "cudnnSetTensor4dDescriptor(y)");
  // NHWC filters are KRSC: [out, kh, kw, in].
  checkCudnn(api.cudnnSetFilter4dDescriptor(plan.w, type, CUDNN_TENSOR_NHWC, s.k, s.c, s.kh, s.kw), "cudnnSetFilter4dDescriptor");
  // tfjs (and PyTorch) convolutions are cross-correlations; accumulate in float for every precision.
  checkCudnn(api.cudnnSetConvolution2dDescriptor(plan.conv, s.padH, s.padW, s.strideH, s.strideW, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
             "cudnnSetConvolution2dDescriptor");
  checkCudnn(api.cudnnSetConvolutionMathType(plan.conv, requestedMath(p)), "cudnnSetConvolutionMathType");
  return plan;
}

/** Workspace cuDNN's search may use: half the free memory, at most 1 GiB (PyTorch also caps what it tries). */
size_t searchWorkspaceLimit() {
  size_t freeBytes = 0, totalBytes = 0;
  checkCuda(cudaMemGetInfo(&freeBytes, &totalBytes), "cudaMemGetInfo");
  size_t limit = freeBytes / 2;
  return limit > (size_t(1) << 30) ? (size_t(1) << 30) : limit;
}

/** Picks the fastest successful result; in fp32 only FMA ones count (no TF32 behind the user's back). */
template <typename Perf>
void choose(ConvPlan &plan, const Perf *results, int count, Precision p, const char *what) {
  // Results come sorted by time. In fp32 an FMA result is preferred; one reported with another math type
  // still ran under the descriptor's FMA setting, which is set again below.
  int pick = -1;
  for (int i = 0; i < count && pick < 0; ++i) {
    if (results[i].status == CUDNN_STATUS_SUCCESS && (p != Precision::Fp32 || results[i].mathType == CUDNN_FMA_MATH)) pick = i;
  }
  for (int i = 0; i < count && pick < 0; ++i) {
    if (results[i].status == CUDNN_STATUS_SUCCESS) pick = i;
  }
  if (pick < 0) throw NoAlgorithm(std::string("cuDNN found no algorithm for ") + what + " of this shape");
  const Perf &result = results[pick];
  plan.algo = result.algo;
  plan.workspace = result.memory;
  plan.searchMs = result.time;
  plan.math = p == Precision::Fp32 ? CUDNN_FMA_MATH : result.mathType;
  checkCudnn(runtime().api.cudnnSetConvolutionMathType(plan.conv, plan.math), "cudnnSetConvolutionMathType");
}

/** Runs `body(workspace, bytes)` with a workspace of `bytes` from the allocator, freed after (stream-ordered). */
template <typename Body>
void withWorkspace(size_t bytes, Body body) {
  Runtime &rt = runtime();
  void *workspace = bytes ? rt.allocate(bytes) : nullptr;
  try {
    body(workspace, bytes);
  } catch (...) {
    rt.release(workspace);
    throw;
  }
  rt.release(workspace);
}

/** The search runs once per shape (like torch.backends.cudnn.benchmark), with a raw cudaMalloc'd workspace
 *  that goes straight back to the device so the pool does not keep its size cached. */
template <typename Search>
void searchOnce(Search search) {
  size_t limit = searchWorkspaceLimit();
  void *workspace = nullptr;
  if (limit > 0 && cudaMalloc(&workspace, limit) != cudaSuccess) {
    cudaGetLastError();
    workspace = nullptr;
    limit = 0;
  }
  try {
    search(workspace, limit);
  } catch (...) {
    if (workspace) cudaFree(workspace);
    throw;
  }
  if (workspace) checkCuda(cudaFree(workspace), "cudaFree");
}

/** A failed search: in bf16 the caller falls back to fp32 for the shape; otherwise it is an error. */
void checkFind(cudnnStatus_t status, const char *what) {
  try {
    checkCudnn(status, what);
  } catch (const std::runtime_error &error) {
    throw NoAlgorithm(error.what());
  }
}

const void *one() { static const float v = 1.f; return &v; }
const void *zero() { static const float v = 0.f; return &v; }

/** A temporary device buffer, freed (stream-ordered) when it goes out of scope. */
struct Scratch {
  void *ptr = nullptr;
  explicit Scratch(size_t bytes) : ptr(runtime().allocate(bytes)) {}
  ~Scratch() { try { runtime().release(ptr); } catch (...) {} }
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;
};

/** HWIO [kh, kw, in, out] → KRSC [out, kh, kw, in] (or back), both contiguous. */
void transposeFilter(const ConvShape &s, const float *src, float *dst, bool toKrsc) {
  Runtime &rt = runtime();
  long long kh = s.kh, kw = s.kw, ci = s.c, co = s.k;
  if (toKrsc) {
    int box[4] = {(int)co, (int)kh, (int)kw, (int)ci};
    long long srcStrides[4] = {1, kw * ci * co, ci * co, co};
    long long dstStrides[4] = {kh * kw * ci, kw * ci, ci, 1};
    rt.launched(launchCopyStrided(rt.stream, src, 0, srcStrides, nullptr, dst, 0, dstStrides, box, 4), "filter transpose");
  } else {
    int box[4] = {(int)kh, (int)kw, (int)ci, (int)co};
    long long srcStrides[4] = {kw * ci, ci, 1, kh * kw * ci};
    long long dstStrides[4] = {kw * ci * co, ci * co, co, 1};
    rt.launched(launchCopyStrided(rt.stream, src, 0, srcStrides, nullptr, dst, 0, dstStrides, box, 4), "filter transpose");
  }
}

long long inputSize(const ConvShape &s) { return (long long)s.n * s.h * s.w * s.c; }
long long outputSize(const ConvShape &s) { return (long long)s.n * s.oh * s.ow * s.k; }
long long filterSize(const ConvShape &s) { return (long long)s.k * s.kh * s.kw * s.c; }

/** In bf16 the operands are converted into temporaries; otherwise the float buffers are used as they are. */
const void *asOperand(const float *x, long long n, Precision p, std::unique_ptr<Scratch> &holder) {
  if (p != Precision::Bf16) return x;
  Runtime &rt = runtime();
  holder = std::make_unique<Scratch>((size_t)n * 2);
  rt.launched(launchToBf16(rt.stream, x, holder->ptr, n), "to bf16");
  return holder->ptr;
}

/** Where cuDNN writes a result of n elements: `out` itself, or in bf16 a temporary that finish() converts into it. */
struct ResultBuffer {
  ResultBuffer(float *out, long long n, Precision p) : out_(out), n_(n) {
    if (p == Precision::Bf16) bf16_ = std::make_unique<Scratch>((size_t)n * 2);
  }
  void *operand() const { return bf16_ ? bf16_->ptr : out_; }
  void finish() const {
    Runtime &rt = runtime();
    if (bf16_) rt.launched(launchFromBf16(rt.stream, bf16_->ptr, out_, n_), "from bf16");
  }

 private:
  float *out_;
  long long n_;
  std::unique_ptr<Scratch> bf16_;
};

/**
 * The cuDNN search and call of each kind, over its two inputs and one output in cuDNN's argument order:
 * forward (x, w) → y; backward data (w, dy) → dx; backward filter (x, dy) → dw.
 */
template <ConvKind kind>
struct ConvCalls;

template <>
struct ConvCalls<ConvKind::Forward> {
  using Algo = cudnnConvolutionFwdAlgo_t;
  static constexpr const char *what = "the convolution";
  static cudnnStatus_t find(DnnApi &api, cudnnHandle_t h, const ConvPlan &c, const void *x, const void *w, void *y, cudnnAlgoPerf<Algo> *results,
                            int *count, void *ws, size_t bytes) {
    return api.cudnnFindConvolutionForwardAlgorithmEx(h, c.x, x, c.w, w, c.conv, c.y, y, kMaxResults, count, results, ws, bytes);
  }
  static cudnnStatus_t run(DnnApi &api, cudnnHandle_t h, const ConvPlan &c, const void *x, const void *w, void *y, void *ws, size_t bytes) {
    return api.cudnnConvolutionForward(h, one(), c.x, x, c.w, w, c.conv, (Algo)c.algo, ws, bytes, zero(), c.y, y);
  }
  static constexpr int kMaxResults = 16;
};

template <>
struct ConvCalls<ConvKind::BackwardData> {
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static constexpr const char *what = "the convolution's input gradient";
  static cudnnStatus_t find(DnnApi &api, cudnnHandle_t h, const ConvPlan &c, const void *w, const void *dy, void *dx, cudnnAlgoPerf<Algo> *results,
                            int *count, void *ws, size_t bytes) {
    return api.cudnnFindConvolutionBackwardDataAlgorithmEx(h, c.w, w, c.y, dy, c.conv, c.x, dx, kMaxResults, count, results, ws, bytes);
  }
  static cudnnStatus_t run(DnnApi &api, cudnnHandle_t h, const ConvPlan &c, const void *w, const void *dy, void *dx, void *ws, size_t bytes) {
    return api.cudnnConvolutionBackwardData(h, one(), c.w, w, c.y, dy, c.conv, (Algo)c.algo, ws, bytes, zero(), c.x, dx);
  }
  static constexpr int kMaxResults = 16;
};

template <>
struct ConvCalls<ConvKind::BackwardFilter> {
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static constexpr const char *what = "the convolution's filter gradient";
  static cudnnStatus_t find(DnnApi &api, cudnnHandle_t h, const ConvPlan &c, const void *x, const void *dy, void *dw, cudnnAlgoPerf<Algo> *results,
                            int *count, void *ws, size_t bytes) {
    return api.cudnnFindConvolutionBackwardFilterAlgorithmEx(h, c.x, x, c.y, dy, c.conv, c.w, dw, kMaxResults, count, results, ws, bytes);
  }
  static cudnnStatus_t run(DnnApi &api, cudnnHandle_t h, const ConvPlan &c, const void *x, const void *dy, void *dw, void *ws, size_t bytes) {
    return api.cudnnConvolutionBackwardFilter(h, one(), c.x, x, c.y, dy, c.conv, (Algo)c.algo, ws, bytes, zero(), c.w, dw);
  }
  static constexpr int kMaxResults = 16;
};

/** Runs one convolution call on prepared operands: the algorithm is searched once per shape, kind and
 *  precision (like torch.backends.cudnn.benchmark) and cached with its descriptors. */
template <ConvKind kind>
void runPlanned(Precision p, const ConvShape &s, const void *in0, const void *in1, void *out) {
  using Calls = ConvCalls<kind>;
  Runtime &rt = runtime();
  PlanKey key = keyOf(kind, s, p);
  auto found = plans.find(key);
  if (found == plans.end()) {
    ConvPlan plan = makeDescriptorsOrThrow(s, p);
    searchOnce([&](void *ws, size_t bytes) {
      cudnnAlgoPerf<typename Calls::Algo> results[Calls::kMaxResults];
      int count = 0;
      checkFind(Calls::find(rt.api, rt.cudnn, plan, in0, in1, out, results, &count, ws, bytes), (std::string("the algorithm search for ") + Calls::what).c_str());
      choose(plan, results, count, p, Calls::what);
    });
    found = plans.emplace(key, plan).first;
  }
  const ConvPlan &plan = found->second;
  withWorkspace(plan.workspace, [&](void *ws, size_t bytes) { checkCudnn(Calls::run(rt.api, rt.cudnn, plan, in0, in1, out, ws, bytes), Calls::what); });
  rt.dispatches += 1;
}

void convForwardIn(Precision p, const ConvShape &s, const float *x, const float *filter, float *y) {
  Scratch krsc((size_t)filterSize(s) * 4);
  transposeFilter(s, filter, (float *)krsc.ptr, true);
  std::unique_ptr<Scratch> xb, wb;
  ResultBuffer result(y, outputSize(s), p);
  runPlanned<ConvKind::Forward>(p, s, asOperand(x, inputSize(s), p, xb), asOperand((const float *)krsc.ptr, filterSize(s), p, wb), result.operand());
  result.finish();
}

void convBackwardDataIn(Precision p, const ConvShape &s, const float *dy, const float *filter, float *dx) {
  Scratch krsc((size_t)filterSize(s) * 4);
  transposeFilter(s, filter, (float *)krsc.ptr, true);
  std::unique_ptr<Scratch> wb, dyb;
  ResultBuffer result(dx, inputSize(s), p);
  runPlanned<ConvKind::BackwardData>(p, s, asOperand((const float *)krsc.ptr, filterSize(s), p, wb), asOperand(dy, outputSize(s), p, dyb),
                                     result.operand());
  result.finish();
}

void convBackwardFilterIn(Precision p, const ConvShape &s, const float *x, const float *dy, float *dfilter) {
  std::unique_ptr<Scratch> xb, dyb;
  // The gradient comes out in KRSC (bf16 in bf16 mode); converted and transposed to HWIO after.
  Scratch krsc((size_t)filterSize(s) * 4);
  ResultBuffer result((float *)krsc.ptr, filterSize(s), p);
  runPlanned<ConvKind::BackwardFilter>(p, s, asOperand(x, inputSize(s), p, xb), asOperand(dy, outputSize(s), p, dyb), result.operand());
  result.finish();
  transposeFilter(s, (const float *)krsc.ptr, dfilter, false);
}

/** bf16 where cuDNN has an algorithm for the shape, else fp32 for that shape (e.g. the 3-channel stem). */
std::set<PlanKey> bf16Unsupported;

template <typename Run>
void inPrecision(ConvKind kind, const ConvShape &s, Run run) {
  Precision p = runtime().precision;
  if (p == Precision::Bf16 && bf16Unsupported.count(keyOf(kind, s, p))) p = Precision::Fp32;
  try {
    run(p);
  } catch (const NoAlgorithm &) {
    if (p != Precision::Bf16) throw;
    bf16Unsupported.insert(keyOf(kind, s, p));
    run(Precision::Fp32);
  }
}

}  // namespace

void convForward(const ConvShape &s, const float *x, const float *filter, float *y) {
  inPrecision(ConvKind::Forward, s, [&](Precision p) { convForwardIn(p, s, x, filter, y); });
}
void convBackwardData(const ConvShape &s, const float *dy, const float *filter, float *dx) {
  inPrecision(ConvKind::BackwardData, s, [&](Precision p) { convBackwardDataIn(p, s, dy, filter, dx); });
}
void convBackwardFilter(const ConvShape &s, const float *x, const float *dy, float *dfilter) {
  inPrecision(ConvKind::BackwardFilter, s, [&](Precision p) { convBackwardFilterIn(p, s, x, dy, dfilter); });
}

std::string convAlgorithms() {
  static const char *kinds[] = {"fwd", "bwd-data", "bwd-filter"};
  static const char *precisions[] = {"fp32", "tf32", "bf16"};
  std::string out;
  for (const auto &[key, plan] : plans) {
    char line[256];
    std::snprintf(line, sizeof line, "%s %s n%d h%d w%d c%d k%d %dx%d s%d p%d: algo %d math %d, %.3f ms, workspace %.1f MiB\n",
                  kinds[std::get<0>(key)], precisions[std::get<1>(key)], std::get<2>(key), std::get<3>(key), std::get<4>(key), std::get<5>(key),
                  std::get<6>(key), std::get<7>(key), std::get<8>(key), std::get<11>(key), std::get<13>(key), plan.algo, (int)plan.math,
                  plan.searchMs, plan.workspace / 1048576.0);
    out += line;
  }
  return out;
}

void clearConvCache() {
  DnnApi &api = runtime().api;
  for (auto &[key, plan] : plans) {
    api.cudnnDestroyTensorDescriptor(plan.x);
    api.cudnnDestroyTensorDescriptor(plan.y);
    api.cudnnDestroyFilterDescriptor(plan.w);
    api.cudnnDestroyConvolutionDescriptor(plan.conv);
  }
  plans.clear();
}

void matmul(const float *a, const float *b, float *c, int batchA, int batchB, int m, int n, int k, bool transposeA, bool transposeB) {
  Runtime &rt = runtime();
  Precision p = rt.precision;
  int batch = batchA > batchB ? batchA : batchB;
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {
    rt.launched(launchFill(rt.stream, c, (long long)batch * m * n, 0), "matmul (k = 0)");
    return;
  }
  std::unique_ptr<Scratch> ab, bb;
  const void *ao = asOperand(a, (long long)batchA * m * k, p, ab);
  const void *bo = asOperand(b, (long long)batchB * k * n, p, bb);
  cudaDataType operandType = p == Precision::Bf16 ? CUDA_R_16BF : CUDA_R_32F;
  cublasComputeType_t compute = p == Precision::Tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: swap the operands and the m/n roles.
  long long strideA = batchA == 1 ? 0 : (long long)m * k;
  long long strideB = batchB == 1 ? 0 : (long long)k * n;
  checkCublas(rt.api.cublasGemmStridedBatchedEx(rt.cublas, transposeB ? CUBLAS_OP_T : CUBLAS_OP_N, transposeA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, one(),
                                                bo, operandType, transposeB ? k : n, strideB, ao, operandType, transposeA ? m : k, strideA, zero(), c,
                                                CUDA_R_32F, n, (long long)m * n, batch, compute, CUBLAS_GEMM_DEFAULT),
              "cublasGemmStridedBatchedEx");
  rt.dispatches += 1;
}

}  // namespace ib
