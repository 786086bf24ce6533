// HOST EMULATION ONLY: replaces dnn.cc (cuDNN convolutions, cuBLAS products) with plain loops on the
// fake runtime's memory, to dnn.h's contract: NHWC tensors, HWIO filters, symmetric zero padding,
// cross-correlation, row-major batched products where a batch of 1 broadcasts. Precision as dnn.cc:
// under bf16 the operands go through the addon's own conversion kernels (launchToBf16, launchFromBf16)
// and products accumulate in float precision or better (here double); a convolution's result is rounded
// to bf16 the same way (cuDNN writes a bf16 tensor that dnn.cc widens), a matrix product's is not
// (cuBLAS writes float). tf32 computes as fp32 here.
// What it checks that cuDNN would also refuse: an output size that disagrees with the input, kernel,
// stride and padding; and what the fake runtime checks: every operand inside one live allocation.
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>
#include "dnn.h"
#include "fake_runtime.h"
#include "kernels.h"

namespace ib {
namespace {

/** A temporary device buffer from the addon's allocator, released when it goes out of scope. */
struct DeviceTemp {
  void *ptr;
  explicit DeviceTemp(size_t bytes) : ptr(runtime().allocate(bytes)) {}
  ~DeviceTemp() { runtime().release(ptr); }
  DeviceTemp(const DeviceTemp &) = delete;
  DeviceTemp &operator=(const DeviceTemp &) = delete;
};

/** from → bf16 → to, through the addon's kernels (from and to may be the same buffer). */
void roundThroughBf16(const float *from, float *to, long long n) {
  Runtime &rt = runtime();
  DeviceTemp half((size_t)n * 2);
  rt.launched(launchToBf16(rt.stream, from, half.ptr, n), "to bf16");
  rt.launched(launchFromBf16(rt.stream, half.ptr, to, n), "from bf16");
}

/** An operand as the library would read it: bf16-rounded under Precision::Bf16. */
std::vector<float> operand(const float *device, long long n, const std::string &what, Precision p) {
  ibhost::checkDeviceRange(device, (size_t)n * 4, what);
  if (p != Precision::Bf16) return std::vector<float>(device, device + n);
  DeviceTemp rounded((size_t)n * 4);
  roundThroughBf16(device, static_cast<float *>(rounded.ptr), n);
  const float *values = static_cast<const float *>(rounded.ptr);
  return std::vector<float>(values, values + n);
}

void store(float *device, const std::vector<double> &values, const std::string &what, Precision p, bool roundsToBf16) {
  ibhost::checkDeviceRange(device, values.size() * 4, what);
  for (size_t i = 0; i < values.size(); ++i) device[i] = (float)values[i];
  if (roundsToBf16 && p == Precision::Bf16) roundThroughBf16(device, device, (long long)values.size());
}

void checkShape(const ConvShape &s) {
  auto outSize = [](int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; };
  if (s.n < 0 || s.h <= 0 || s.w <= 0 || s.c <= 0 || s.k <= 0 || s.kh <= 0 || s.kw <= 0 || s.strideH <= 0 || s.strideW <= 0 || s.padH < 0 || s.padW < 0 ||
      s.oh != outSize(s.h, s.kh, s.strideH, s.padH) || s.ow != outSize(s.w, s.kw, s.strideW, s.padW)) {
    throw std::runtime_error("host emulation: convolution shape rejected (cuDNN would be too): input " + std::to_string(s.h) + "x" + std::to_string(s.w) +
                             ", kernel " + std::to_string(s.kh) + "x" + std::to_string(s.kw) + ", stride " + std::to_string(s.strideH) + "x" +
                             std::to_string(s.strideW) + ", padding " + std::to_string(s.padH) + "x" + std::to_string(s.padW) + " give " +
                             std::to_string(outSize(s.h, s.kh, s.strideH, s.padH)) + "x" + std::to_string(outSize(s.w, s.kw, s.strideW, s.padW)) +
                             ", not " + std::to_string(s.oh) + "x" + std::to_string(s.ow));
  }
}

long long inputSize(const ConvShape &s) { return (long long)s.n * s.h * s.w * s.c; }
long long outputSize(const ConvShape &s) { return (long long)s.n * s.oh * s.ow * s.k; }
long long filterSize(const ConvShape &s) { return (long long)s.kh * s.kw * s.c * s.k; }

/** Calls tap(xIndex, filterIndex, yIndex) for every in-bounds product term of the convolution, where the
 *  indices are those of an input element, a filter element and an output element. */
template <typename Tap>
void forEachTap(const ConvShape &s, Tap tap) {
  for (int b = 0; b < s.n; ++b)
    for (int oy = 0; oy < s.oh; ++oy)
      for (int ox = 0; ox < s.ow; ++ox)
        for (int ky = 0; ky < s.kh; ++ky) {
          int iy = oy * s.strideH - s.padH + ky;
          if (iy < 0 || iy >= s.h) continue;
          for (int kx = 0; kx < s.kw; ++kx) {
            int ix = ox * s.strideW - s.padW + kx;
            if (ix < 0 || ix >= s.w) continue;
            long long xBase = (((long long)b * s.h + iy) * s.w + ix) * s.c;
            long long fBase = ((long long)ky * s.kw + kx) * s.c * s.k;
            long long yBase = (((long long)b * s.oh + oy) * s.ow + ox) * s.k;
            for (int c = 0; c < s.c; ++c)
              for (int k = 0; k < s.k; ++k) tap(xBase + c, fBase + (long long)c * s.k + k, yBase + k);
          }
        }
}

Runtime &counted() {
  Runtime &rt = runtime();
  rt.dispatches += 1;  // one library call, as dnn.cc counts it
  return rt;
}

}  // namespace

void convForward(const ConvShape &s, const float *x, const float *filter, float *y) {
  checkShape(s);
  Precision p = counted().precision;
  std::vector<float> xs = operand(x, inputSize(s), "conv2d input", p), fs = operand(filter, filterSize(s), "conv2d filter", p);
  std::vector<double> out((size_t)outputSize(s), 0.0);
  forEachTap(s, [&](long long xi, long long fi, long long yi) { out[yi] += (double)xs[xi] * fs[fi]; });
  store(y, out, "conv2d output", p, true);
}

void convBackwardData(const ConvShape &s, const float *dy, const float *filter, float *dx) {
  checkShape(s);
  Precision p = counted().precision;
  std::vector<float> dys = operand(dy, outputSize(s), "conv2dBackpropInput dy", p), fs = operand(filter, filterSize(s), "conv2dBackpropInput filter", p);
  std::vector<double> out((size_t)inputSize(s), 0.0);
  forEachTap(s, [&](long long xi, long long fi, long long yi) { out[xi] += (double)dys[yi] * fs[fi]; });
  store(dx, out, "conv2dBackpropInput dx", p, true);
}

void convBackwardFilter(const ConvShape &s, const float *x, const float *dy, float *dfilter) {
  checkShape(s);
  Precision p = counted().precision;
  std::vector<float> xs = operand(x, inputSize(s), "conv2dBackpropFilter input", p), dys = operand(dy, outputSize(s), "conv2dBackpropFilter dy", p);
  std::vector<double> out((size_t)filterSize(s), 0.0);
  forEachTap(s, [&](long long xi, long long fi, long long yi) { out[fi] += (double)xs[xi] * dys[yi]; });
  store(dfilter, out, "conv2dBackpropFilter dfilter", p, true);
}

std::string convAlgorithms() { return "host emulation: plain loops, no cuDNN\n"; }

void clearConvCache() {}

// The loops above have no layouts to choose from; the mode is still checked as dnn.cc checks it.
void setConvLayoutMode(int mode) {
  if (mode < 0 || mode > 2) throw std::runtime_error("convolution layout must be 0 (auto), 1 (NHWC) or 2 (NCHW)");
}

void matmul(const float *a, const float *b, float *c, int batchA, int batchB, int m, int n, int k, bool transposeA, bool transposeB) {
  Runtime &rt = runtime();
  int batch = batchA > batchB ? batchA : batchB;
  if (m == 0 || n == 0 || batch == 0) return;
  if (batchA != batchB && batchA != 1 && batchB != 1) {
    throw std::runtime_error("host emulation: matmul batches " + std::to_string(batchA) + " and " + std::to_string(batchB) + " (one must be 1 or both equal)");
  }
  if (k == 0) {
    rt.launched(launchFill(rt.stream, c, (long long)batch * m * n, 0), "matmul (k = 0)");
    return;
  }
  Precision p = counted().precision;
  std::vector<float> as = operand(a, (long long)batchA * m * k, "matmul a", p), bs = operand(b, (long long)batchB * k * n, "matmul b", p);
  std::vector<double> out((size_t)batch * m * n, 0.0);
  for (int bi = 0; bi < batch; ++bi) {
    const float *A = as.data() + (batchA == 1 ? 0 : (size_t)bi * m * k);
    const float *B = bs.data() + (batchB == 1 ? 0 : (size_t)bi * k * n);
    double *C = out.data() + (size_t)bi * m * n;
    for (int i = 0; i < m; ++i)
      for (int q = 0; q < k; ++q) {
        double av = transposeA ? A[(size_t)q * m + i] : A[(size_t)i * k + q];
        for (int j = 0; j < n; ++j) C[(size_t)i * n + j] += av * (transposeB ? B[(size_t)j * k + q] : B[(size_t)q * n + j]);
      }
  }
  store(c, out, "matmul c", p, false);
}

}  // namespace ib
