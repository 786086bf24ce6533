// Convolutions with cuDNN on the addon's stream, in the runtime's precision, in the memory layout that is
// faster for each shape.
//
// Our tensors are NHWC (tfjs's layout) and filters HWIO. cuDNN takes NHWC activations with KRSC filters,
// or NCHW with KCRS. With tensor cores (bf16) NHWC is cuDNN's native layout; for FMA float32 its NCHW
// kernels are the older and often faster ones (TensorFlow's layout optimizer converts fp32 NHWC convs to
// NCHW on GPUs for this reason). So in fp32 and tf32 the search, once per shape (like
// torch.backends.cudnn.benchmark), times both: NHWC directly, and NCHW with the activations transposed in
// and out (a tiled transpose kernel), and keeps the faster, transposes included. bf16 stays NHWC.
//
// The search benchmarks every algorithm, which costs far more than a step; a shape seen once gets cuDNN's
// heuristic choice (no benchmark) and is searched when it comes again. InfoBatch's pruned epochs end with
// a partial batch of a new size each epoch: that batch must not pay a search each time.
#include <cfloat>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <vector>
#include "device_scratch.h"
#include "dnn.h"

namespace ib {
namespace {

enum class ConvKind { Forward = 0, BackwardData = 1, BackwardFilter = 2 };
enum class ConvLayout { Nhwc = 0, Nchw = 1 };

/** What setConvLayoutMode chose: 0 both timed per shape (NHWC only in bf16), 1 NHWC only, 2 NCHW only (not bf16). */
int layoutMode = 0;

/** cuDNN supports no algorithm (or rejects the descriptors) for a shape in the requested precision. */
struct NoAlgorithm : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** Descriptors and the algorithm the search picked for one shape, kind and precision (kept for the process). */
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  ConvLayout layout = ConvLayout::Nhwc;
  int algo = -1;
  size_t workspace = 0;
  /** cuDNN's time for the algorithm, and the GPU time of the layout changes around it (transposes, bf16). */
  float searchMs = 0;
  float layoutMs = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  /** False for cuDNN's heuristic choice on a shape's first call; the next call searches. */
  bool searched = false;
};

void destroyDescriptors(ConvPlan &plan) {
  DnnApi &api = runtime().api;
  if (plan.x) api.cudnnDestroyTensorDescriptor(plan.x);
  if (plan.y) api.cudnnDestroyTensorDescriptor(plan.y);
  if (plan.w) api.cudnnDestroyFilterDescriptor(plan.w);
  if (plan.conv) api.cudnnDestroyConvolutionDescriptor(plan.conv);
  plan.x = plan.y = nullptr;
  plan.w = nullptr;
  plan.conv = nullptr;
}

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

ConvPlan makeDescriptors(const ConvShape &s, Precision p, ConvLayout layout) {
  DnnApi &api = runtime().api;
  ConvPlan plan;
  plan.layout = layout;
  try {
    cudnnDataType_t type = dataTypeOf(p);
    cudnnTensorFormat_t format = layout == ConvLayout::Nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    checkCudnn(api.cudnnCreateTensorDescriptor(&plan.x), "cudnnCreateTensorDescriptor");
    checkCudnn(api.cudnnCreateTensorDescriptor(&plan.y), "cudnnCreateTensorDescriptor");
    checkCudnn(api.cudnnCreateFilterDescriptor(&plan.w), "cudnnCreateFilterDescriptor");
    checkCudnn(api.cudnnCreateConvolutionDescriptor(&plan.conv), "cudnnCreateConvolutionDescriptor");
    // The dimensions are given as n, c, h, w whatever the format.
    checkCudnn(api.cudnnSetTensor4dDescriptor(plan.x, format, type, s.n, s.c, s.h, s.w), "cudnnSetTensor4dDescriptor(x)");
    checkCudnn(api.cudnnSetTensor4dDescriptor(plan.y, format, type, s.n, s.k, s.oh, s.ow), "cudnnSetTensor4dDescriptor(y)");
    // Filters: NHWC means KRSC ([out, kh, kw, in]), NCHW means KCRS.
    checkCudnn(api.cudnnSetFilter4dDescriptor(plan.w, type, format, s.k, s.c, s.kh, s.kw), "cudnnSetFilter4dDescriptor");
    // tfjs (and PyTorch) convolutions are cross-correlations; accumulate in float for every precision.
    checkCudnn(api.cudnnSetConvolution2dDescriptor(plan.conv, s.padH, s.padW, s.strideH, s.strideW, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
               "cudnnSetConvolution2dDescriptor");
    checkCudnn(api.cudnnSetConvolutionMathType(plan.conv, requestedMath(p)), "cudnnSetConvolutionMathType");
  } catch (const OutOfMemory &) {
    destroyDescriptors(plan);
    throw;
  } catch (const std::runtime_error &error) {
    // Descriptors a precision or layout cannot have count as "no algorithm": bf16 falls back to fp32.
    destroyDescriptors(plan);
    throw NoAlgorithm(error.what());
  }
  return plan;
}

/** Workspace cuDNN's search may use: half the free memory, at most 1 GiB (PyTorch also caps what it tries). */
size_t searchWorkspaceLimit() {
  size_t freeBytes = 0, totalBytes = 0;
  checkCuda(cudaMemGetInfo(&freeBytes, &totalBytes), "cudaMemGetInfo");
  size_t limit = freeBytes / 2;
  return limit > (size_t(1) << 30) ? (size_t(1) << 30) : limit;
}

/** Picks the fastest successful result; in fp32 only FMA ones count (no TF32 behind the user's back). The
 *  heuristic's list is not timed and may put an algorithm with a large workspace first: one that needs more
 *  than `workspaceLimit` is taken only when nothing else succeeds (PyTorch also skips what it cannot allocate). */
template <typename Perf>
void choose(ConvPlan &plan, const Perf *results, int count, Precision p, const char *what, size_t workspaceLimit = SIZE_MAX) {
  // Results come sorted by time. In fp32 an FMA result is preferred; one reported with another math type
  // still ran under the descriptor's FMA setting, which is set again below.
  auto usable = [&](const Perf &r, bool anyMath, bool anySize) {
    return r.status == CUDNN_STATUS_SUCCESS && (anyMath || p != Precision::Fp32 || r.mathType == CUDNN_FMA_MATH) && (anySize || r.memory <= workspaceLimit);
  };
  int pick = -1;
  for (int pass = 0; pass < 4 && pick < 0; ++pass) {
    for (int i = 0; i < count && pick < 0; ++i) {
      if (usable(results[i], pass & 1, pass >= 2)) pick = i;
    }
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
  if (bytes == 0) return body(nullptr, 0);
  Scratch workspace(bytes);
  body(workspace.ptr, bytes);
}

/** The search runs once per shape, with a raw cudaMalloc'd workspace that goes straight back to the device
 *  so the pool does not keep its size cached. */
template <typename Search>
void withSearchWorkspace(Search search) {
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
void checkFind(cudnnStatus_t status, const std::string &what) {
  try {
    checkCudnn(status, what.c_str());
  } catch (const std::runtime_error &error) {
    throw NoAlgorithm(error.what());
  }
}

/** GPU time in ms of what `body` enqueues (waits for it: only the once-per-shape search uses this). */
template <typename Body>
float gpuMs(Body body) {
  Runtime &rt = runtime();
  cudaEvent_t start = nullptr, stop = nullptr;
  checkCuda(cudaEventCreate(&start), "cudaEventCreate");
  checkCuda(cudaEventCreate(&stop), "cudaEventCreate");
  float ms = 0;
  try {
    checkCuda(cudaEventRecord(start, rt.stream), "cudaEventRecord");
    body();
    checkCuda(cudaEventRecord(stop, rt.stream), "cudaEventRecord");
    checkCuda(cudaEventSynchronize(stop), "cudaEventSynchronize");
    checkCuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms;
}

// ---- operands in the plan's layout and precision

/**
 * Filters as cuDNN reads them (KRSC, or KCRS for NCHW; bf16 in bf16), kept per filter buffer until the
 * backend frees that buffer (forgetPreparedFilter). The backend's tensors never change once written (the
 * SGD update writes new ones), so one preparation serves a step's forward call and its input gradient, and
 * every batch of an evaluation; without it each call transposed (and in bf16 converted) its filter again.
 */
using PreparedKey = std::tuple<const void *, int, int>;  // the filter buffer, layout, precision
using PreparedFilters = std::map<PreparedKey, std::unique_ptr<Scratch>>;
/** Never destroyed: at exit its buffers would go back to a runtime (and device) already torn down. */
PreparedFilters &preparedFilters() {
  static auto *filters = new PreparedFilters();
  return *filters;
}

void transposed(const float *src, float *dst, long long batch, long long rows, long long cols) {
  Runtime &rt = runtime();
  rt.launched(launchBatchedTranspose(rt.stream, src, dst, batch, rows, cols), "layout transpose");
}

/** The two inputs and the output of one cuDNN call, the temporaries behind them (freed, stream-ordered,
 *  with this object), and what writes the output back into the caller's buffer. */
struct Operands {
  const void *in0 = nullptr;
  const void *in1 = nullptr;
  void *out = nullptr;
  std::function<void()> finish = [] {};
  std::vector<std::unique_ptr<Scratch>> temporaries;

  float *floats(long long n) {
    temporaries.push_back(std::make_unique<Scratch>((size_t)n * 4));
    return static_cast<float *>(temporaries.back()->ptr);
  }
  void *bf16s(long long n) {
    temporaries.push_back(std::make_unique<Scratch>((size_t)n * 2));
    return temporaries.back()->ptr;
  }
  /** v itself, or in bf16 a converted copy. */
  const void *asPrecision(const float *v, long long n, Precision p) {
    if (p != Precision::Bf16) return v;
    void *converted = bf16s(n);
    Runtime &rt = runtime();
    rt.launched(launchToBf16(rt.stream, v, converted, n), "to bf16");
    return converted;
  }
  /** An NHWC activation [n, hw, c] (float32 or bfloat16) as the call reads it: in the plan's precision, and
   *  NCHW [n, c, hw] if the layout says so. With --precision bf16 a bf16 activation goes in as it is. */
  const void *activation(FloatsIn x, long long n, long long hw, long long c, ConvLayout layout, Precision p) {
    bool nchw = layout == ConvLayout::Nchw;
    if (!nchw && x.bf16 == (p == Precision::Bf16)) return x.ptr;
    long long size = n * hw * c;
    const float *v = static_cast<const float *>(x.ptr);
    if (x.bf16) {
      float *f32 = floats(size);
      Runtime &rt = runtime();
      rt.launched(launchFromBf16(rt.stream, x.ptr, f32, size), "from bf16");
      v = f32;
    }
    if (nchw) {
      float *t = floats(size);
      transposed(v, t, n, hw, c);
      v = t;
    }
    return asPrecision(v, size, p);
  }
  /** An HWIO filter [rs, c, k] as KRSC [k, rs, c], or KCRS [k, c, rs] for NCHW, in the precision: prepared
   *  once per filter buffer (see preparedFilters). */
  const void *filter(const float *f, const ConvShape &s, ConvLayout layout, Precision p) {
    PreparedKey key{f, (int)layout, (int)p};
    if (auto found = preparedFilters().find(key); found != preparedFilters().end()) return found->second->ptr;
    long long rs = (long long)s.kh * s.kw, c = s.c, k = s.k, size = rs * c * k;
    bool nchw = layout == ConvLayout::Nchw, bf16 = p == Precision::Bf16;
    auto prepared = std::make_unique<Scratch>((size_t)size * (bf16 ? 2 : 4));
    // Each stage (transpose, transpose, convert) writes the next buffer: the last stage's is the prepared filter.
    float *krsc = nchw || bf16 ? floats(size) : static_cast<float *>(prepared->ptr);
    transposed(f, krsc, 1, rs * c, k);
    const float *v = krsc;
    if (nchw) {
      float *kcrs = bf16 ? floats(size) : static_cast<float *>(prepared->ptr);
      transposed(krsc, kcrs, k, rs, c);
      v = kcrs;
    }
    if (bf16) {
      Runtime &rt = runtime();
      rt.launched(launchToBf16(rt.stream, v, prepared->ptr, size), "to bf16");
    }
    return preparedFilters().emplace(key, std::move(prepared)).first->second->ptr;
  }
  /** Where the call writes an activation result for dst (NHWC [n, hw, c], float32 or bfloat16): dst itself
   *  where layout and precision agree with it, else a temporary that finish() converts to float32,
   *  transposes from NCHW and converts to dst's format. */
  void *activationResult(FloatsOut dst, long long n, long long hw, long long c, ConvLayout layout, Precision p) {
    bool planBf16 = p == Precision::Bf16, nchw = layout == ConvLayout::Nchw;
    if (!nchw && dst.bf16 == planBf16) return dst.ptr;
    long long size = n * hw * c;
    float *nhwcF32 = dst.bf16 ? floats(size) : static_cast<float *>(dst.ptr);  // the result, float32 NHWC
    float *planF32 = nchw ? floats(size) : nhwcF32;                              // the same in the plan's layout
    void *target = planBf16 ? bf16s(size) : planF32;
    finish = [=] {
      Runtime &rt = runtime();
      if (planBf16) rt.launched(launchFromBf16(rt.stream, target, planF32, size), "from bf16");
      if (nchw) transposed(planF32, nhwcF32, n, c, hw);
      if (dst.bf16) rt.launched(launchToBf16(rt.stream, nhwcF32, dst.ptr, size), "to bf16");
    };
    return target;
  }
  /** Where the filter gradient lands (KRSC, or KCRS for NCHW; bf16 in bf16); finish() makes it HWIO in dst. */
  void *filterResult(float *dst, const ConvShape &s, ConvLayout layout, Precision p) {
    long long rs = (long long)s.kh * s.kw, c = s.c, k = s.k, size = rs * c * k;
    float *krsc = floats(size);
    float *kcrs = layout == ConvLayout::Nchw ? floats(size) : nullptr;
    float *f32 = kcrs ? kcrs : krsc;
    void *target = p == Precision::Bf16 ? bf16s(size) : f32;
    finish = [=] {
      Runtime &rt = runtime();
      if (target != f32) rt.launched(launchFromBf16(rt.stream, target, f32, size), "from bf16");
      if (kcrs) transposed(kcrs, krsc, k, c, rs);
      transposed(krsc, dst, 1, k, rs * c);
    };
    return target;
  }
};

/**
 * Per kind: the cuDNN search and call over its two inputs and one output in cuDNN's argument order
 * (forward (x, w) → y; backward data (w, dy) → dx; backward filter (x, dy) → dw), and how our buffers
 * (in the caller's order: forward (x, filter, y), backward data (dy, filter, dx), backward filter (x, dy,
 * dfilter)) become those operands.
 */
template <ConvKind kind>
struct ConvCalls;

/** Our buffers of one call, in the caller's order (see ConvCalls). */
template <typename A, typename B, typename Out>
struct ConvBuffers {
  A a;
  B b;
  Out out;
};
using ForwardBuffers = ConvBuffers<FloatsIn, const float *, FloatsOut>;         // x, filter → y
using BackwardDataBuffers = ConvBuffers<FloatsIn, const float *, FloatsOut>;    // dy, filter → dx
using BackwardFilterBuffers = ConvBuffers<FloatsIn, FloatsIn, float *>;         // x, dy → dfilter

constexpr int kMaxResults = 16;

template <>
struct ConvCalls<ConvKind::Forward> {
  using Algo = cudnnConvolutionFwdAlgo_t;
  static constexpr const char *what = "the convolution";
  using Buffers = ForwardBuffers;
  static Operands operands(const ConvShape &s, const Buffers &io, ConvLayout layout, Precision p) {
    Operands o;
    o.in0 = o.activation(io.a, s.n, (long long)s.h * s.w, s.c, layout, p);
    o.in1 = o.filter(io.b, s, layout, p);
    o.out = o.activationResult(io.out, s.n, (long long)s.oh * s.ow, s.k, layout, p);
    return o;
  }
  static cudnnStatus_t heuristic(const ConvPlan &c, cudnnAlgoPerf<Algo> *results, int *count) {
    Runtime &rt = runtime();
    return rt.api.cudnnGetConvolutionForwardAlgorithm_v7(rt.cudnn, c.x, c.w, c.conv, c.y, kMaxResults, count, results);
  }
  static cudnnStatus_t find(const ConvPlan &c, const Operands &o, cudnnAlgoPerf<Algo> *results, int *count, void *ws, size_t bytes) {
    Runtime &rt = runtime();
    return rt.api.cudnnFindConvolutionForwardAlgorithmEx(rt.cudnn, c.x, o.in0, c.w, o.in1, c.conv, c.y, o.out, kMaxResults, count, results, ws, bytes);
  }
  static cudnnStatus_t run(const ConvPlan &c, const Operands &o, void *ws, size_t bytes) {
    Runtime &rt = runtime();
    return rt.api.cudnnConvolutionForward(rt.cudnn, one(), c.x, o.in0, c.w, o.in1, c.conv, (Algo)c.algo, ws, bytes, zero(), c.y, o.out);
  }
};

template <>
struct ConvCalls<ConvKind::BackwardData> {
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static constexpr const char *what = "the convolution's input gradient";
  using Buffers = BackwardDataBuffers;
  static Operands operands(const ConvShape &s, const Buffers &io, ConvLayout layout, Precision p) {
    Operands o;
    o.in0 = o.filter(io.b, s, layout, p);
    o.in1 = o.activation(io.a, s.n, (long long)s.oh * s.ow, s.k, layout, p);
    o.out = o.activationResult(io.out, s.n, (long long)s.h * s.w, s.c, layout, p);
    return o;
  }
  static cudnnStatus_t heuristic(const ConvPlan &c, cudnnAlgoPerf<Algo> *results, int *count) {
    Runtime &rt = runtime();
    return rt.api.cudnnGetConvolutionBackwardDataAlgorithm_v7(rt.cudnn, c.w, c.y, c.conv, c.x, kMaxResults, count, results);
  }
  static cudnnStatus_t find(const ConvPlan &c, const Operands &o, cudnnAlgoPerf<Algo> *results, int *count, void *ws, size_t bytes) {
    Runtime &rt = runtime();
    return rt.api.cudnnFindConvolutionBackwardDataAlgorithmEx(rt.cudnn, c.w, o.in0, c.y, o.in1, c.conv, c.x, o.out, kMaxResults, count, results, ws, bytes);
  }
  static cudnnStatus_t run(const ConvPlan &c, const Operands &o, void *ws, size_t bytes) {
    Runtime &rt = runtime();
    return rt.api.cudnnConvolutionBackwardData(rt.cudnn, one(), c.w, o.in0, c.y, o.in1, c.conv, (Algo)c.algo, ws, bytes, zero(), c.x, o.out);
  }
};

template <>
struct ConvCalls<ConvKind::BackwardFilter> {
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static constexpr const char *what = "the convolution's filter gradient";
  using Buffers = BackwardFilterBuffers;
  static Operands operands(const ConvShape &s, const Buffers &io, ConvLayout layout, Precision p) {
    Operands o;
    o.in0 = o.activation(io.a, s.n, (long long)s.h * s.w, s.c, layout, p);
    o.in1 = o.activation(io.b, s.n, (long long)s.oh * s.ow, s.k, layout, p);
    o.out = o.filterResult(io.out, s, layout, p);
    return o;
  }
  static cudnnStatus_t heuristic(const ConvPlan &c, cudnnAlgoPerf<Algo> *results, int *count) {
    Runtime &rt = runtime();
    return rt.api.cudnnGetConvolutionBackwardFilterAlgorithm_v7(rt.cudnn, c.x, c.y, c.conv, c.w, kMaxResults, count, results);
  }
  static cudnnStatus_t find(const ConvPlan &c, const Operands &o, cudnnAlgoPerf<Algo> *results, int *count, void *ws, size_t bytes) {
    Runtime &rt = runtime();
    return rt.api.cudnnFindConvolutionBackwardFilterAlgorithmEx(rt.cudnn, c.x, o.in0, c.y, o.in1, c.conv, c.w, o.out, kMaxResults, count, results, ws, bytes);
  }
  static cudnnStatus_t run(const ConvPlan &c, const Operands &o, void *ws, size_t bytes) {
    Runtime &rt = runtime();
    return rt.api.cudnnConvolutionBackwardFilter(rt.cudnn, one(), c.x, o.in0, c.y, o.in1, c.conv, (Algo)c.algo, ws, bytes, zero(), c.w, o.out);
  }
};

std::vector<ConvLayout> layoutsFor(Precision p) {
  if (p == Precision::Bf16 || layoutMode == 1) return {ConvLayout::Nhwc};
  if (layoutMode == 2) return {ConvLayout::Nchw};
  return {ConvLayout::Nhwc, ConvLayout::Nchw};
}

/** cuDNN's search in each candidate layout; the fastest with its layout changes counted (they are timed
 *  only when there is a choice). Writes garbage into `out`, which the real call then overwrites. */
template <ConvKind kind>
ConvPlan searchPlan(Precision p, const ConvShape &s, const typename ConvCalls<kind>::Buffers &io) {
  using Calls = ConvCalls<kind>;
  std::vector<ConvLayout> layouts = layoutsFor(p);
  bool timeLayouts = layouts.size() > 1;
  std::optional<ConvPlan> best;
  std::string failures;
  for (ConvLayout layout : layouts) {
    ConvPlan plan;
    try {
      plan = makeDescriptors(s, p, layout);
      std::optional<Operands> o;
      float prepareMs = 0;
      if (timeLayouts) prepareMs = gpuMs([&] { o.emplace(Calls::operands(s, io, layout, p)); });
      else o.emplace(Calls::operands(s, io, layout, p));
      withSearchWorkspace([&](void *ws, size_t bytes) {
        cudnnAlgoPerf<typename Calls::Algo> results[kMaxResults];
        int count = 0;
        checkFind(Calls::find(plan, *o, results, &count, ws, bytes), std::string("the algorithm search for ") + Calls::what);
        choose(plan, results, count, p, Calls::what);
      });
      plan.layoutMs = prepareMs + (timeLayouts ? gpuMs([&] { o->finish(); }) : 0.f);
    } catch (const NoAlgorithm &error) {
      destroyDescriptors(plan);
      failures += std::string(failures.empty() ? "" : "; ") + error.what();
      continue;
    } catch (...) {
      destroyDescriptors(plan);
      throw;
    }
    if (!best || plan.searchMs + plan.layoutMs < best->searchMs + best->layoutMs) {
      if (best) destroyDescriptors(*best);
      best = plan;
    } else {
      destroyDescriptors(plan);
    }
  }
  if (!best) throw NoAlgorithm(failures);
  best->searched = true;
  return *best;
}

/** cuDNN's heuristic pick for a shape's first call, in NHWC (or the forced layout): no benchmark, no sync. */
template <ConvKind kind>
ConvPlan heuristicPlan(Precision p, const ConvShape &s) {
  using Calls = ConvCalls<kind>;
  ConvPlan plan = makeDescriptors(s, p, layoutsFor(p).front());
  try {
    cudnnAlgoPerf<typename Calls::Algo> results[kMaxResults];
    int count = 0;
    checkFind(Calls::heuristic(plan, results, &count), std::string("the heuristic choice for ") + Calls::what);
    choose(plan, results, count, p, Calls::what, searchWorkspaceLimit());
  } catch (...) {
    destroyDescriptors(plan);
    throw;
  }
  plan.searchMs = -1;  // not measured
  return plan;
}

/** One convolution call: the plan for the shape (searched the first time), the operands in its layout and
 *  precision, the call, and the result written back. */
template <ConvKind kind>
void runConvolution(Precision p, const ConvShape &s, const typename ConvCalls<kind>::Buffers &io) {
  using Calls = ConvCalls<kind>;
  Runtime &rt = runtime();
  PlanKey key = keyOf(kind, s, p);
  auto found = plans.find(key);
  if (found == plans.end()) {
    found = plans.emplace(key, heuristicPlan<kind>(p, s)).first;
  } else if (!found->second.searched) {
    ConvPlan searched = searchPlan<kind>(p, s, io);
    destroyDescriptors(found->second);
    found->second = searched;
  }
  const ConvPlan &plan = found->second;
  Operands o = Calls::operands(s, io, plan.layout, p);
  withWorkspace(plan.workspace, [&](void *ws, size_t bytes) { checkCudnn(Calls::run(plan, o, ws, bytes), Calls::what); });
  rt.dispatches += 1;
  o.finish();
}

/** bf16 where cuDNN has an algorithm for the shape, else fp32 for that shape (e.g. the 3-channel stem). */
std::set<PlanKey> bf16Unsupported;

template <ConvKind kind>
void inPrecision(const ConvShape &s, const typename ConvCalls<kind>::Buffers &io) {
  Precision p = runtime().precision;
  if (p == Precision::Bf16 && bf16Unsupported.count(keyOf(kind, s, p))) p = Precision::Fp32;
  try {
    runConvolution<kind>(p, s, io);
  } catch (const NoAlgorithm &) {
    if (p != Precision::Bf16) throw;
    bf16Unsupported.insert(keyOf(kind, s, p));
    runConvolution<kind>(Precision::Fp32, s, io);
  }
}

}  // namespace

void convForward(const ConvShape &s, FloatsIn x, const float *filter, FloatsOut y) { inPrecision<ConvKind::Forward>(s, {x, filter, y}); }
void convBackwardData(const ConvShape &s, FloatsIn dy, const float *filter, FloatsOut dx) { inPrecision<ConvKind::BackwardData>(s, {dy, filter, dx}); }
void convBackwardFilter(const ConvShape &s, FloatsIn x, FloatsIn dy, float *dfilter) { inPrecision<ConvKind::BackwardFilter>(s, {x, dy, dfilter}); }

std::string convAlgorithms() {
  static const char *kinds[] = {"fwd", "bwd-data", "bwd-filter"};
  static const char *precisions[] = {"fp32", "tf32", "bf16"};
  static const char *layouts[] = {"NHWC", "NCHW"};
  std::string out;
  for (const auto &[key, plan] : plans) {
    char line[320];
    char timing[64];
    if (plan.searched) std::snprintf(timing, sizeof timing, "%.3f ms + %.3f ms layout", plan.searchMs, plan.layoutMs);
    else std::snprintf(timing, sizeof timing, "heuristic (seen once, not searched)");
    std::snprintf(line, sizeof line, "%s %s n%d h%d w%d c%d k%d %dx%d s%d p%d: %s algo %d math %d, %s, workspace %.1f MiB\n",
                  kinds[std::get<0>(key)], precisions[std::get<1>(key)], std::get<2>(key), std::get<3>(key), std::get<4>(key), std::get<5>(key),
                  std::get<6>(key), std::get<7>(key), std::get<8>(key), std::get<11>(key), std::get<13>(key), layouts[(int)plan.layout], plan.algo,
                  (int)plan.math, timing, plan.workspace / 1048576.0);
    out += line;
  }
  return out;
}

void forgetPreparedFilter(const void *filter) {
  PreparedFilters &filters = preparedFilters();
  filters.erase(filters.lower_bound(PreparedKey{filter, INT_MIN, INT_MIN}), filters.upper_bound(PreparedKey{filter, INT_MAX, INT_MAX}));
}

size_t preparedFilterCount() { return preparedFilters().size(); }

void clearConvCache() {
  for (auto &[key, plan] : plans) destroyDescriptors(plan);
  plans.clear();
  bf16Unsupported.clear();
}

void setConvLayoutMode(int mode) {
  if (mode < 0 || mode > 2) throw std::runtime_error("convolution layout must be 0 (auto), 1 (NHWC) or 2 (NCHW)");
  if (mode == layoutMode) return;
  layoutMode = mode;
  clearConvCache();
}

}  // namespace ib
