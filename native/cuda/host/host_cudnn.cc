// HOST EMULATION ONLY: a stand-in for the part of cuDNN 9 that dnn.cc calls (the legacy convolution API
// of dnn_api.h), on the fake runtime's memory, so that the host build runs dnn.cc itself: its descriptors,
// layout transposes, bf16 conversions, algorithm choice, plan cache and workspaces.
//
// It computes each convolution from what the descriptors say: every tensor and filter is read in its own
// format (NCHW/NHWC, KCRS/KRSC) and data type (float, bf16), with the descriptor's padding, stride,
// dilation and mode. So a transpose into the wrong layout, a filter in the wrong order, a missed
// conversion or a swapped argument gives a wrong result, which the kernel suite compares with tfjs cpu.
// It refuses what cuDNN refuses — dimensions that disagree, a workspace smaller than the algorithm needs,
// an algorithm the math type does not allow — with cuDNN's status codes, and what a GPU would not report
// clearly (a destroyed descriptor, a handle with no stream, a buffer outside live device memory) with a
// MisuseError naming it.
//
// Its own rules, not cuDNN's (stated so that tests can rely on them):
// - Four algorithms per direction. 0: no workspace, double accumulation. 1: a workspace of one float per
//   output element, accumulated in float there. 2: "tensor op", offered only when the descriptor's math
//   type is not FMA; float operands are rounded to TF32 first, as tensor cores do, so fp32 results that
//   pass a 1e-5 tolerance prove TF32 was off. 3: needs a 3 GiB workspace (the heuristic lists it last; the
//   search reports it as failed when it is not given that much).
// - The heuristic (…_v7) lists 2 (when offered), 1, 0, 3; the search (…FindEx) runs each and sorts by
//   host time.
// - bf16 is refused (every algorithm NOT_SUPPORTED) when the input or output channel count is odd:
//   the stand-in for shapes without a bf16 kernel (the 3-channel stem), for which dnn.cc falls back to fp32.
// - The tensors and filter of one call share one format; x, w and y one data type; the compute type is float.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>
#include <cuda_bf16.h>
#include "fake_runtime.h"
#include "host_libraries.h"

namespace ib {
struct cudnnContext {
  cudaStream_t stream = nullptr;
  bool streamSet = false;
};
struct cudnnTensorStruct {
  bool set = false;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;
};
struct cudnnFilterStruct {
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  int k = 0, c = 0, r = 0, s = 0;
};
struct cudnnConvolutionStruct {
  bool set = false;
  int padH = 0, padW = 0, u = 1, v = 1, dilH = 1, dilW = 1;
  cudnnConvolutionMode_t mode = CUDNN_CONVOLUTION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};
}  // namespace ib

namespace ibhost {
namespace {
using namespace ib;

// cuDNN 9's codes (cudnn_graph.h).
constexpr cudnnStatus_t kBadParam = 2000, kNullPointer = 2002, kMisaligned = 2003, kNotSupported = 3000;

/** Why the last call failed, for cudnnGetErrorString (cuDNN's own string is only the status's name). */
std::string lastDetail;
cudnnStatus_t fail(cudnnStatus_t status, const std::string &why) {
  lastDetail = why;
  return status;
}

std::set<const void *> liveHandles, liveTensors, liveFilters, liveConvolutions;

template <typename T>
T *checked(std::set<const void *> &live, T *object, const char *fn, const char *kind) {
  if (!object || !live.count(object)) {
    throw MisuseError(std::string("host emulation: ") + fn + " uses a " + (object ? "destroyed or unknown " : "null ") + kind);
  }
  return object;
}

template <typename T>
cudnnStatus_t create(T **out, std::set<const void *> &live, const char *kind) {
  if (!out) return fail(kNullPointer, std::string("a null pointer for the new ") + kind);
  *out = new T();
  live.insert(*out);
  countObject(kind, 1);
  return CUDNN_STATUS_SUCCESS;
}

template <typename T>
cudnnStatus_t destroy(T *object, std::set<const void *> &live, const char *fn, const char *kind) {
  if (!object) return CUDNN_STATUS_SUCCESS;
  checked(live, object, fn, kind);
  live.erase(object);
  delete object;
  countObject(kind, -1);
  return CUDNN_STATUS_SUCCESS;
}

size_t elementBytes(cudnnDataType_t type) { return type == CUDNN_DATA_BFLOAT16 ? 2 : 4; }
long long countOf(const cudnnTensorStruct &t) { return (long long)t.n * t.c * t.h * t.w; }
long long countOf(const cudnnFilterStruct &f) { return (long long)f.k * f.c * f.r * f.s; }

long long indexOf(const cudnnTensorStruct &t, int n, int c, int y, int x) {
  if (t.format == CUDNN_TENSOR_NHWC) return (((long long)n * t.h + y) * t.w + x) * t.c + c;
  return (((long long)n * t.c + c) * t.h + y) * t.w + x;
}
/** NCHW filters are KCRS, NHWC filters KRSC. */
long long indexOf(const cudnnFilterStruct &f, int k, int c, int r, int s) {
  if (f.format == CUDNN_TENSOR_NHWC) return (((long long)k * f.r + r) * f.s + s) * f.c + c;
  return (((long long)k * f.c + c) * f.r + r) * f.s + s;
}

float load(const void *data, cudnnDataType_t type, long long i, bool tf32) { return loadElement(data, type == CUDNN_DATA_BFLOAT16, i, tf32); }
void store(void *data, cudnnDataType_t type, long long i, float v) {
  if (type == CUDNN_DATA_BFLOAT16) static_cast<__nv_bfloat16 *>(data)[i] = __float2bfloat16_rn(v);
  else static_cast<float *>(data)[i] = v;
}

enum class Direction { Forward, BackwardData, BackwardFilter };

/** One convolution call: its name, copies of its descriptors (a queued call must not see them change),
 *  and its device buffers (one of x, w, y is the output). */
struct Call {
  Direction direction;
  const char *fn;
  cudnnTensorStruct x;
  cudnnFilterStruct w;
  cudnnConvolutionStruct conv;
  cudnnTensorStruct y;
  const void *xData = nullptr, *wData = nullptr, *yData = nullptr;
  void *out = nullptr;

  long long outCount() const { return direction == Direction::Forward ? countOf(y) : direction == Direction::BackwardData ? countOf(x) : countOf(w); }
  cudnnDataType_t type() const { return w.type; }
};

Call describe(Direction direction, const char *fn, cudnnHandle_t handle, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
              cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t y) {
  // Without cudnnSetStream cuDNN runs on the legacy default stream, unordered with the addon's own.
  if (!checked(liveHandles, handle, fn, "cuDNN handle")->streamSet) throw MisuseError(std::string("host emulation: ") + fn + " on a cuDNN handle with no stream set");
  return Call{direction, fn, *checked(liveTensors, x, fn, "tensor descriptor"), *checked(liveFilters, w, fn, "filter descriptor"),
              *checked(liveConvolutions, conv, fn, "convolution descriptor"), *checked(liveTensors, y, fn, "tensor descriptor")};
}

int outputSize(int in, int kernel, int pad, int stride, int dilation) { return (in + 2 * pad - ((kernel - 1) * dilation + 1)) / stride + 1; }

std::string dims(int a, int b, int c, int d) { return std::to_string(a) + "x" + std::to_string(b) + "x" + std::to_string(c) + "x" + std::to_string(d); }

cudnnStatus_t checkGeometry(const Call &c) {
  const std::string at = std::string(c.fn) + ": ";
  if (!c.x.set || !c.y.set || !c.w.set || !c.conv.set) return fail(kBadParam, at + "a descriptor that was never set");
  if (c.x.type != c.w.type || c.y.type != c.w.type) return fail(kBadParam, at + "x, w and y have different data types");
  if (c.x.format != c.w.format || c.y.format != c.w.format) return fail(kNotSupported, at + "x, w and y in different formats");
  if (c.conv.compute != CUDNN_DATA_FLOAT) return fail(kNotSupported, at + "a compute type other than float");
  if (c.x.n != c.y.n || c.x.c != c.w.c || c.y.c != c.w.k) {
    return fail(kBadParam, at + "x is " + dims(c.x.n, c.x.c, c.x.h, c.x.w) + " (NCHW), w " + dims(c.w.k, c.w.c, c.w.r, c.w.s) + " (KCRS), y " +
                               dims(c.y.n, c.y.c, c.y.h, c.y.w));
  }
  int oh = outputSize(c.x.h, c.w.r, c.conv.padH, c.conv.u, c.conv.dilH), ow = outputSize(c.x.w, c.w.s, c.conv.padW, c.conv.v, c.conv.dilW);
  if (oh <= 0 || ow <= 0 || c.y.h != oh || c.y.w != ow) {
    return fail(kBadParam, at + "y is " + std::to_string(c.y.h) + "x" + std::to_string(c.y.w) + ", the convolution of x gives " + std::to_string(oh) + "x" +
                               std::to_string(ow));
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t checkBuffer(const void *data, long long count, cudnnDataType_t type, const Call &c, const char *what) {
  std::string name = std::string(c.fn) + " " + what;
  if (!data) return fail(kNullPointer, name + " is null");
  if (reinterpret_cast<uintptr_t>(data) % elementBytes(type)) return fail(kMisaligned, name + " is not aligned to its element size");
  checkDeviceRange(data, (size_t)count * elementBytes(type), name);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t checkBuffers(const Call &c) {
  cudnnStatus_t s = checkBuffer(c.xData, countOf(c.x), c.type(), c, c.direction == Direction::BackwardData ? "dx" : "x");
  if (s == CUDNN_STATUS_SUCCESS) s = checkBuffer(c.wData, countOf(c.w), c.type(), c, c.direction == Direction::BackwardFilter ? "dw" : "w");
  if (s == CUDNN_STATUS_SUCCESS) s = checkBuffer(c.yData, countOf(c.y), c.type(), c, c.direction == Direction::Forward ? "y" : "dy");
  return s;
}

constexpr int kAlgorithms = 4;
constexpr size_t kHugeWorkspace = size_t(3) << 30;

bool offered(int algo, const Call &c) { return algo != 2 || c.conv.math != CUDNN_FMA_MATH; }
size_t workspaceOf(int algo, const Call &c) {
  if (algo == 1) return (size_t)c.outCount() * 4;
  return algo == 3 ? kHugeWorkspace : 0;
}
cudnnMathType_t mathOf(int algo) { return algo == 2 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH; }
bool bf16Refused(const Call &c) { return c.type() == CUDNN_DATA_BFLOAT16 && (c.w.c % 2 != 0 || c.w.k % 2 != 0); }

/** out = α·(the convolution's result) + β·out, in memory order of the output's own layout; β = 0 does not read
 *  out (cuDNN's rule: it may hold anything, NaN included). */
void convolve(const Call &c, int algo, void *workspace, float alpha, float beta) {
  const cudnnTensorStruct &X = c.x, &Y = c.y;
  const cudnnFilterStruct &W = c.w;
  const cudnnConvolutionStruct &C = c.conv;
  cudnnDataType_t type = c.type();
  bool tf32 = algo == 2 && type == CUDNN_DATA_FLOAT;
  long long outCount = c.outCount();
  std::vector<double> sums(algo == 1 ? 0 : (size_t)outCount, 0.0);
  float *floatSums = algo == 1 ? static_cast<float *>(workspace) : nullptr;
  if (floatSums) std::fill(floatSums, floatSums + outCount, 0.f);
  auto add = [&](long long i, float v) {
    if (floatSums) floatSums[i] += v;
    else sums[(size_t)i] += v;
  };
  for (int n = 0; n < X.n; ++n)
    for (int k = 0; k < W.k; ++k)
      for (int oy = 0; oy < Y.h; ++oy)
        for (int ox = 0; ox < Y.w; ++ox)
          for (int r = 0; r < W.r; ++r) {
            int iy = oy * C.u - C.padH + r * C.dilH;
            if (iy < 0 || iy >= X.h) continue;
            for (int s = 0; s < W.s; ++s) {
              int ix = ox * C.v - C.padW + s * C.dilW;
              if (ix < 0 || ix >= X.w) continue;
              // A true convolution flips the filter; tfjs's and PyTorch's are cross-correlations.
              int fr = C.mode == CUDNN_CONVOLUTION ? W.r - 1 - r : r, fs = C.mode == CUDNN_CONVOLUTION ? W.s - 1 - s : s;
              long long yi = indexOf(Y, n, k, oy, ox);
              for (int ch = 0; ch < W.c; ++ch) {
                long long xi = indexOf(X, n, ch, iy, ix), wi = indexOf(W, k, ch, fr, fs);
                switch (c.direction) {
                  case Direction::Forward: add(yi, load(c.xData, type, xi, tf32) * load(c.wData, type, wi, tf32)); break;
                  case Direction::BackwardData: add(xi, load(c.yData, type, yi, tf32) * load(c.wData, type, wi, tf32)); break;
                  case Direction::BackwardFilter: add(wi, load(c.xData, type, xi, tf32) * load(c.yData, type, yi, tf32)); break;
                }
              }
            }
          }
  for (long long i = 0; i < outCount; ++i) {
    double sum = floatSums ? floatSums[i] : sums[(size_t)i];
    double prior = beta != 0 ? (double)beta * load(c.out, type, i, false) : 0.0;
    store(c.out, type, i, (float)(alpha * sum + prior));
  }
}

template <typename Perf>
void fillPerf(Perf &perf, int algo, const Call &c, cudnnStatus_t status, float ms) {
  perf = Perf{};
  perf.algo = algo;
  perf.status = status;
  perf.time = ms;
  perf.memory = workspaceOf(algo, c);
  perf.determinism = CUDNN_DETERMINISTIC;
  perf.mathType = mathOf(algo);
}

template <typename Perf>
cudnnStatus_t heuristic(const Call &c, int requested, int *returned, Perf *results) {
  if (cudnnStatus_t s = checkGeometry(c)) return s;
  if (requested < 1 || !returned || !results) return fail(kBadParam, std::string(c.fn) + ": no room for results");
  int count = 0;
  for (int algo : {2, 1, 0, 3}) {
    if (!offered(algo, c) || count == requested) continue;
    fillPerf(results[count++], algo, c, bf16Refused(c) ? kNotSupported : CUDNN_STATUS_SUCCESS, -1.f);
  }
  *returned = count;
  countLibraryCall(c.fn);
  return CUDNN_STATUS_SUCCESS;
}

template <typename Perf>
cudnnStatus_t find(const Call &c, int requested, int *returned, Perf *results, void *workspace, size_t bytes) {
  if (cudnnStatus_t s = checkGeometry(c)) return s;
  if (cudnnStatus_t s = checkBuffers(c)) return s;
  if (requested < 1 || !returned || !results) return fail(kBadParam, std::string(c.fn) + ": no room for results");
  if (bytes > 0) {
    if (!workspace) return fail(kBadParam, std::string(c.fn) + ": a null workspace of " + std::to_string(bytes) + " bytes");
    checkDeviceRange(workspace, bytes, std::string(c.fn) + " workspace");
  }
  synchronizeStreamWork();  // the search runs each algorithm on the inputs as they are now, and times it
  std::vector<Perf> all;
  for (int algo = 0; algo < kAlgorithms; ++algo) {
    if (!offered(algo, c)) continue;
    Perf perf;
    if (bf16Refused(c) || workspaceOf(algo, c) > bytes) {
      fillPerf(perf, algo, c, kNotSupported, -1.f);
    } else {
      auto start = std::chrono::steady_clock::now();
      convolve(c, algo, workspace, 1.f, 0.f);
      fillPerf(perf, algo, c, CUDNN_STATUS_SUCCESS, std::chrono::duration<float, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    all.push_back(perf);
  }
  std::stable_sort(all.begin(), all.end(), [](const Perf &a, const Perf &b) {
    bool aOk = a.status == CUDNN_STATUS_SUCCESS, bOk = b.status == CUDNN_STATUS_SUCCESS;
    return aOk != bOk ? aOk : aOk && a.time < b.time;
  });
  int count = std::min<int>(requested, (int)all.size());
  std::copy(all.begin(), all.begin() + count, results);
  *returned = count;
  countLibraryCall(c.fn);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t run(const Call &c, const void *alpha, int algo, void *workspace, size_t bytes, const void *beta) {
  const std::string at = std::string(c.fn) + ": ";
  if (cudnnStatus_t s = checkGeometry(c)) return s;
  if (cudnnStatus_t s = checkBuffers(c)) return s;
  if (!alpha || !beta) return fail(kNullPointer, at + "a null alpha or beta");
  if (algo < 0 || algo >= kAlgorithms) return fail(kBadParam, at + "no algorithm " + std::to_string(algo));
  if (!offered(algo, c)) return fail(kNotSupported, at + "algorithm 2 needs a math type other than FMA");
  if (bf16Refused(c)) return fail(kNotSupported, at + "no bf16 algorithm for an odd channel count (the emulation's rule)");
  size_t need = workspaceOf(algo, c);
  if (bytes < need) return fail(kBadParam, at + "a workspace of " + std::to_string(bytes) + " bytes; algorithm " + std::to_string(algo) + " needs " + std::to_string(need));
  if (need > 0) {
    if (!workspace) return fail(kBadParam, at + "a null workspace");
    checkDeviceRange(workspace, bytes, at + "workspace");
  }
  float a = *static_cast<const float *>(alpha), b = *static_cast<const float *>(beta);  // host scalars: read at the call
  enqueueStreamWork([c, algo, workspace, a, b] { convolve(c, algo, workspace, a, b); });
  countLibraryCall(std::string(c.fn) + " algo " + std::to_string(algo));
  return CUDNN_STATUS_SUCCESS;
}

// ---- the API

size_t cudnnGetVersion() { return 0; }  // not a cuDNN version: the tests and the backend's log line read 0 as "none"
const char *cudnnGetErrorString(cudnnStatus_t status) {
  static std::string text;
  switch (status) {
    case CUDNN_STATUS_SUCCESS: text = "CUDNN_STATUS_SUCCESS"; break;
    case kBadParam: text = "CUDNN_STATUS_BAD_PARAM"; break;
    case kNullPointer: text = "CUDNN_STATUS_BAD_PARAM_NULL_POINTER"; break;
    case kMisaligned: text = "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER"; break;
    case kNotSupported: text = "CUDNN_STATUS_NOT_SUPPORTED"; break;
    default: text = "CUDNN_STATUS_" + std::to_string(status);
  }
  if (status != CUDNN_STATUS_SUCCESS && !lastDetail.empty()) text += " (host emulation: " + lastDetail + ")";
  return text.c_str();
}

cudnnStatus_t cudnnCreate(cudnnHandle_t *handle) { return create(handle, liveHandles, "cuDNN handle"); }
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) { return destroy(handle, liveHandles, "cudnnDestroy", "cuDNN handle"); }
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  cudnnContext *context = checked(liveHandles, handle, "cudnnSetStream", "cuDNN handle");
  context->stream = stream;
  context->streamSet = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d) { return create(d, liveTensors, "tensor descriptor"); }
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) { return destroy(d, liveTensors, "cudnnDestroyTensorDescriptor", "tensor descriptor"); }
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) { return create(d, liveFilters, "filter descriptor"); }
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) { return destroy(d, liveFilters, "cudnnDestroyFilterDescriptor", "filter descriptor"); }
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d) { return create(d, liveConvolutions, "convolution descriptor"); }
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  return destroy(d, liveConvolutions, "cudnnDestroyConvolutionDescriptor", "convolution descriptor");
}

cudnnStatus_t checkTypeAndFormat(const char *fn, cudnnTensorFormat_t format, cudnnDataType_t type) {
  if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC) return fail(kBadParam, std::string(fn) + ": format " + std::to_string(format));
  if (type != CUDNN_DATA_FLOAT && type != CUDNN_DATA_BFLOAT16) return fail(kNotSupported, std::string(fn) + ": data type " + std::to_string(type));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format, cudnnDataType_t type, int n, int c, int h, int w) {
  const char *fn = "cudnnSetTensor4dDescriptor";
  cudnnTensorStruct *t = checked(liveTensors, d, fn, "tensor descriptor");
  if (cudnnStatus_t s = checkTypeAndFormat(fn, format, type)) return s;
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return fail(kBadParam, std::string(fn) + ": dimensions " + dims(n, c, h, w) + " (each must be positive)");
  *t = {true, format, type, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format, int k, int c, int r, int s) {
  const char *fn = "cudnnSetFilter4dDescriptor";
  cudnnFilterStruct *f = checked(liveFilters, d, fn, "filter descriptor");
  if (cudnnStatus_t status = checkTypeAndFormat(fn, format, type)) return status;
  if (k <= 0 || c <= 0 || r <= 0 || s <= 0) return fail(kBadParam, std::string(fn) + ": dimensions " + dims(k, c, r, s) + " (each must be positive)");
  *f = {true, type, format, k, c, r, s};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int padH, int padW, int u, int v, int dilH, int dilW,
                                              cudnnConvolutionMode_t mode, cudnnDataType_t compute) {
  const char *fn = "cudnnSetConvolution2dDescriptor";
  cudnnConvolutionStruct *conv = checked(liveConvolutions, d, fn, "convolution descriptor");
  if (padH < 0 || padW < 0 || u <= 0 || v <= 0 || dilH <= 0 || dilW <= 0 || (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION)) {
    return fail(kBadParam, std::string(fn) + ": padding, stride or dilation out of range, or an unknown mode");
  }
  cudnnMathType_t math = conv->math;  // kept, as cuDNN keeps it
  *conv = {true, padH, padW, u, v, dilH, dilW, mode, compute, math};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  cudnnConvolutionStruct *conv = checked(liveConvolutions, d, "cudnnSetConvolutionMathType", "convolution descriptor");
  if (math < CUDNN_DEFAULT_MATH || math > CUDNN_FMA_MATH) return fail(kBadParam, "cudnnSetConvolutionMathType: math type " + std::to_string(math));
  conv->math = math;
  return CUDNN_STATUS_SUCCESS;
}

using FwdPerf = cudnnAlgoPerf<cudnnConvolutionFwdAlgo_t>;
using BwdDataPerf = cudnnAlgoPerf<cudnnConvolutionBwdDataAlgo_t>;
using BwdFilterPerf = cudnnAlgoPerf<cudnnConvolutionBwdFilterAlgo_t>;

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t conv,
                                                     cudnnTensorDescriptor_t y, int requested, int *returned, FwdPerf *results) {
  return heuristic(describe(Direction::Forward, "cudnnGetConvolutionForwardAlgorithm_v7", h, x, w, conv, y), requested, returned, results);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy,
                                                          cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t dx, int requested, int *returned,
                                                          BwdDataPerf *results) {
  return heuristic(describe(Direction::BackwardData, "cudnnGetConvolutionBackwardDataAlgorithm_v7", h, dx, w, conv, dy), requested, returned, results);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy,
                                                            cudnnConvolutionDescriptor_t conv, cudnnFilterDescriptor_t dw, int requested, int *returned,
                                                            BwdFilterPerf *results) {
  return heuristic(describe(Direction::BackwardFilter, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", h, x, dw, conv, dy), requested, returned, results);
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t h, cudnnTensorDescriptor_t xd, const void *x, cudnnFilterDescriptor_t wd, const void *w,
                                                     cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t yd, void *y, int requested, int *returned,
                                                     FwdPerf *results, void *workspace, size_t bytes) {
  Call c = describe(Direction::Forward, "cudnnFindConvolutionForwardAlgorithmEx", h, xd, wd, conv, yd);
  c.xData = x, c.wData = w, c.yData = y, c.out = y;
  return find(c, requested, returned, results, workspace, bytes);
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t h, cudnnFilterDescriptor_t wd, const void *w, cudnnTensorDescriptor_t dyd,
                                                          const void *dy, cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t dxd, void *dx,
                                                          int requested, int *returned, BwdDataPerf *results, void *workspace, size_t bytes) {
  Call c = describe(Direction::BackwardData, "cudnnFindConvolutionBackwardDataAlgorithmEx", h, dxd, wd, conv, dyd);
  c.xData = dx, c.wData = w, c.yData = dy, c.out = dx;
  return find(c, requested, returned, results, workspace, bytes);
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnnHandle_t h, cudnnTensorDescriptor_t xd, const void *x, cudnnTensorDescriptor_t dyd,
                                                            const void *dy, cudnnConvolutionDescriptor_t conv, cudnnFilterDescriptor_t dwd, void *dw,
                                                            int requested, int *returned, BwdFilterPerf *results, void *workspace, size_t bytes) {
  Call c = describe(Direction::BackwardFilter, "cudnnFindConvolutionBackwardFilterAlgorithmEx", h, xd, dwd, conv, dyd);
  c.xData = x, c.wData = dw, c.yData = dy, c.out = dw;
  return find(c, requested, returned, results, workspace, bytes);
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd, const void *x, cudnnFilterDescriptor_t wd,
                                      const void *w, cudnnConvolutionDescriptor_t conv, cudnnConvolutionFwdAlgo_t algo, void *workspace, size_t bytes,
                                      const void *beta, cudnnTensorDescriptor_t yd, void *y) {
  Call c = describe(Direction::Forward, "cudnnConvolutionForward", h, xd, wd, conv, yd);
  c.xData = x, c.wData = w, c.yData = y, c.out = y;
  return run(c, alpha, algo, workspace, bytes, beta);
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha, cudnnFilterDescriptor_t wd, const void *w, cudnnTensorDescriptor_t dyd,
                                           const void *dy, cudnnConvolutionDescriptor_t conv, cudnnConvolutionBwdDataAlgo_t algo, void *workspace,
                                           size_t bytes, const void *beta, cudnnTensorDescriptor_t dxd, void *dx) {
  Call c = describe(Direction::BackwardData, "cudnnConvolutionBackwardData", h, dxd, wd, conv, dyd);
  c.xData = dx, c.wData = w, c.yData = dy, c.out = dx;
  return run(c, alpha, algo, workspace, bytes, beta);
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd, const void *x, cudnnTensorDescriptor_t dyd,
                                             const void *dy, cudnnConvolutionDescriptor_t conv, cudnnConvolutionBwdFilterAlgo_t algo, void *workspace,
                                             size_t bytes, const void *beta, cudnnFilterDescriptor_t dwd, void *dw) {
  Call c = describe(Direction::BackwardFilter, "cudnnConvolutionBackwardFilter", h, xd, dwd, conv, dyd);
  c.xData = x, c.wData = dw, c.yData = dy, c.out = dw;
  return run(c, alpha, algo, workspace, bytes, beta);
}

}  // namespace

void installCudnn(DnnApi &api) {
#define IB_INSTALL(name, ret, args) api.name = &name;
  IB_CUDNN_FUNCTIONS(IB_INSTALL)
#undef IB_INSTALL
}

}  // namespace ibhost
