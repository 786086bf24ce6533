#include "elementwise.h"

#include <algorithm>
#include <cstring>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "common.h"

namespace ib {

namespace {

constexpr int kMaxRank = 8;

// A broadcast collapsed to as few dimensions as possible: the last one is walked contiguously
// (stride 1) or repeats one element (stride 0) per operand.
struct Broadcast {
  int rank = 0;
  int64_t dims[kMaxRank];
  int64_t sa[kMaxRank];
  int64_t sb[kMaxRank];
};

Broadcast make_broadcast(const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape, const std::vector<int64_t>& out) {
  const int rank = static_cast<int>(out.size());
  if (rank > kMaxRank) throw std::invalid_argument("binary op: rank above 8");
  int64_t dims[kMaxRank], sa[kMaxRank], sb[kMaxRank];
  auto strides_for = [&](const std::vector<int64_t>& shape, int64_t* strides) {
    const int offset = rank - static_cast<int>(shape.size());
    if (offset < 0) throw std::invalid_argument("binary op: operand rank above output rank");
    int64_t stride = 1;
    for (int i = rank - 1; i >= 0; i--) {
      const int64_t dim = i >= offset ? shape[i - offset] : 1;
      if (dim != 1 && dim != out[i]) throw std::invalid_argument("binary op: shapes do not broadcast");
      strides[i] = dim == 1 ? 0 : stride;
      stride *= dim;
    }
  };
  strides_for(a_shape, sa);
  strides_for(b_shape, sb);
  for (int i = 0; i < rank; i++) dims[i] = out[i];
  Broadcast bc;
  for (int i = 0; i < rank; i++) {
    if (dims[i] == 1) continue;
    if (bc.rank > 0) {
      const int j = bc.rank - 1;
      // Merge into the previous kept dimension when both operands step through them as one.
      if (bc.sa[j] == sa[i] * dims[i] && bc.sb[j] == sb[i] * dims[i]) {
        bc.dims[j] *= dims[i];
        bc.sa[j] = sa[i];
        bc.sb[j] = sb[i];
        continue;
      }
    }
    bc.dims[bc.rank] = dims[i];
    bc.sa[bc.rank] = sa[i];
    bc.sb[bc.rank] = sb[i];
    bc.rank++;
  }
  if (bc.rank == 0) {
    bc.rank = 1;
    bc.dims[0] = 1;
    bc.sa[0] = 0;
    bc.sb[0] = 0;
  }
  return bc;
}

template <typename F>
inline void run_inner(const float* a, int64_t ia, const float* b, int64_t ib, float* out, int64_t len, F f) {
  if (ia && ib) {
    for (int64_t i = 0; i < len; i++) out[i] = f(a[i], b[i]);
  } else if (ia) {
    const float bv = b[0];
    for (int64_t i = 0; i < len; i++) out[i] = f(a[i], bv);
  } else if (ib) {
    const float av = a[0];
    for (int64_t i = 0; i < len; i++) out[i] = f(av, b[i]);
  } else {
    const float v = f(a[0], b[0]);
    for (int64_t i = 0; i < len; i++) out[i] = v;
  }
}

// Offsets into a and b of the first element of output row `row` (all axes but the last, broadcast-aware).
inline void row_offsets(const Broadcast& bc, int last, int64_t row, int64_t& oa, int64_t& ob) {
  int64_t rem = row;
  oa = 0;
  ob = 0;
  for (int i = last - 1; i >= 0; i--) {
    const int64_t idx = rem % bc.dims[i];
    rem /= bc.dims[i];
    oa += idx * bc.sa[i];
    ob += idx * bc.sb[i];
  }
}

template <typename F>
void run_binary(const Broadcast& bc, const float* a, const float* b, float* out, F f) {
  const int last = bc.rank - 1;
  const int64_t inner = bc.dims[last];
  int64_t total = inner;
  for (int i = 0; i < last; i++) total *= bc.dims[i];
  const int64_t rows = total / inner;
  const int64_t ia = bc.sa[last], ib = bc.sb[last];
  const bool parallel = total >= kParallelThreshold;
  if (rows < 4 * num_threads()) {
    // Few long rows: split each row into chunks.
    const int64_t chunk = 1 << 14;
    for (int64_t row = 0; row < rows; row++) {
      int64_t oa, ob;
      row_offsets(bc, last, row, oa, ob);
      const int64_t chunks = (inner + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (parallel)
      for (int64_t c = 0; c < chunks; c++) {
        const int64_t start = c * chunk, len = std::min(chunk, inner - start);
        run_inner(a + oa + start * ia, ia, b + ob + start * ib, ib, out + row * inner + start, len, f);
      }
    }
    return;
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t row = 0; row < rows; row++) {
    int64_t oa, ob;
    row_offsets(bc, last, row, oa, ob);
    run_inner(a + oa, ia, b + ob, ib, out + row * inner, inner, f);
  }
}

}  // namespace

void binary(BinaryOp op, const float* a, const std::vector<int64_t>& a_shape, const float* b, const std::vector<int64_t>& b_shape,
            float* out, const std::vector<int64_t>& out_shape) {
  const Broadcast bc = make_broadcast(a_shape, b_shape, out_shape);
  switch (op) {
    case BinaryOp::Add:
      return run_binary(bc, a, b, out, [](float x, float y) { return x + y; });
    case BinaryOp::Sub:
      return run_binary(bc, a, b, out, [](float x, float y) { return x - y; });
    case BinaryOp::Mul:
      return run_binary(bc, a, b, out, [](float x, float y) { return x * y; });
    case BinaryOp::Div:
      return run_binary(bc, a, b, out, [](float x, float y) { return x / y; });
    case BinaryOp::SquaredDifference:
      return run_binary(bc, a, b, out, [](float x, float y) { return (x - y) * (x - y); });
    case BinaryOp::Maximum:
      // NaN wins, as in tfjs.
      return run_binary(bc, a, b, out, [](float x, float y) { return (x != x || y != y) ? NAN : (x > y ? x : y); });
    case BinaryOp::Minimum:
      return run_binary(bc, a, b, out, [](float x, float y) { return (x != x || y != y) ? NAN : (x < y ? x : y); });
  }
  throw std::invalid_argument("unknown binary op");
}

namespace {
template <typename F>
void run_unary(const float* x, float* y, int64_t n, F f) {
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
  for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
}
}  // namespace

void unary(UnaryOp op, const float* x, float* y, int64_t n, float alpha) {
  switch (op) {
    case UnaryOp::Relu:
      // NaN stays NaN, as in tfjs.
      return run_unary(x, y, n, [](float v) { return v < 0.0f ? 0.0f : v; });
    case UnaryOp::Step:
      return run_unary(x, y, n, [alpha](float v) { return v != v ? v : (v > 0.0f ? 1.0f : alpha); });
    case UnaryOp::Neg:
      return run_unary(x, y, n, [](float v) { return -v; });
    case UnaryOp::Square:
      return run_unary(x, y, n, [](float v) { return v * v; });
    case UnaryOp::Sqrt:
      return run_unary(x, y, n, [](float v) { return std::sqrt(v); });
    case UnaryOp::Rsqrt:
      return run_unary(x, y, n, [](float v) { return 1.0f / std::sqrt(v); });
    case UnaryOp::Exp:
      return run_unary(x, y, n, [](float v) { return std::exp(v); });
    case UnaryOp::Log:
      return run_unary(x, y, n, [](float v) { return std::log(v); });
    case UnaryOp::Reciprocal:
      return run_unary(x, y, n, [](float v) { return 1.0f / v; });
    case UnaryOp::Abs:
      return run_unary(x, y, n, [](float v) { return std::fabs(v); });
    case UnaryOp::Relu6:
      return run_unary(x, y, n, [](float v) { return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v); });
    case UnaryOp::Sigmoid:
      return run_unary(x, y, n, [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
  }
  throw std::invalid_argument("unknown unary op");
}

void sgd_momentum(const float* param, const float* grad, const float* buffer, int64_t n, float lr, float momentum, float weight_decay,
                  bool first_step, float* param_out, float* buffer_out) {
  if (first_step) {
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
    for (int64_t i = 0; i < n; i++) {
      const float g = grad[i] + weight_decay * param[i];
      buffer_out[i] = g;
      param_out[i] = param[i] - lr * g;
    }
    return;
  }
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
  for (int64_t i = 0; i < n; i++) {
    const float b = momentum * buffer[i] + (grad[i] + weight_decay * param[i]);
    buffer_out[i] = b;
    param_out[i] = param[i] - lr * b;
  }
}

void relu_grad(const float* dy, const float* y, float* dx, int64_t n) {
  // dx = y > 0 ? dy : 0 (0 where y is NaN), as our ops' composite and every backend's kernel. Branch-free
  // (a bit mask, which vectorizes): selecting between dy[i] and 0 made the compiler branch per element,
  // mispredicted half the time.
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
  for (int64_t i = 0; i < n; i++) {
    uint32_t bits;
    std::memcpy(&bits, &dy[i], sizeof bits);
    bits &= 0u - static_cast<uint32_t>(y[i] > 0.0f);
    std::memcpy(&dx[i], &bits, sizeof bits);
  }
}

void reduce_sum(const float* x, int64_t outer, int64_t reduce, int64_t inner, float scale, float* out) {
  const int64_t total = outer * reduce * inner;
  const bool parallel = total >= kParallelThreshold;
  const int threads = num_threads();
  if (inner == 1) {
    if (outer >= 4 * threads || !parallel) {
#pragma omp parallel for schedule(static) if (parallel)
      for (int64_t o = 0; o < outer; o++) {
        const float* row = x + o * reduce;
        double sum = 0.0;
        for (int64_t r = 0; r < reduce; r++) sum += row[r];
        out[o] = static_cast<float>(sum * scale);
      }
      return;
    }
    for (int64_t o = 0; o < outer; o++) {
      const float* row = x + o * reduce;
      double sum = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
      for (int64_t r = 0; r < reduce; r++) sum += row[r];
      out[o] = static_cast<float>(sum * scale);
    }
    return;
  }
  if (outer >= 4 * threads || !parallel) {
#pragma omp parallel if (parallel)
    {
      std::vector<double> acc(inner);
#pragma omp for schedule(static)
      for (int64_t o = 0; o < outer; o++) {
        std::fill(acc.begin(), acc.end(), 0.0);
        const float* block = x + o * reduce * inner;
        for (int64_t r = 0; r < reduce; r++) {
          const float* row = block + r * inner;
          for (int64_t i = 0; i < inner; i++) acc[i] += row[i];
        }
        for (int64_t i = 0; i < inner; i++) out[o * inner + i] = static_cast<float>(acc[i] * scale);
      }
    }
    return;
  }
  // Few outputs rows, many reduced rows: each thread sums a share of the rows, then the shares are added.
  std::vector<double> total_acc(inner);
  for (int64_t o = 0; o < outer; o++) {
    std::fill(total_acc.begin(), total_acc.end(), 0.0);
    const float* block = x + o * reduce * inner;
#pragma omp parallel
    {
      std::vector<double> acc(inner, 0.0);
#pragma omp for schedule(static) nowait
      for (int64_t r = 0; r < reduce; r++) {
        const float* row = block + r * inner;
        for (int64_t i = 0; i < inner; i++) acc[i] += row[i];
      }
#pragma omp critical
      for (int64_t i = 0; i < inner; i++) total_acc[i] += acc[i];
    }
    for (int64_t i = 0; i < inner; i++) out[o * inner + i] = static_cast<float>(total_acc[i] * scale);
  }
}

void copy_box(const float* src, const std::vector<int64_t>& src_strides, float* dst, const std::vector<int64_t>& dst_strides,
              const std::vector<int64_t>& box) {
  const int rank = static_cast<int>(box.size());
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t inner = box[rank - 1];
  const int64_t src_inner = src_strides[rank - 1], dst_inner = dst_strides[rank - 1];
  int64_t rows = 1;
  for (int i = 0; i < rank - 1; i++) rows *= box[i];
  if (rows == 0 || inner == 0) return;
#pragma omp parallel for schedule(static) if (rows * inner >= kParallelThreshold)
  for (int64_t row = 0; row < rows; row++) {
    int64_t rem = row, so = 0, d = 0;
    for (int i = rank - 2; i >= 0; i--) {
      const int64_t idx = rem % box[i];
      rem /= box[i];
      so += idx * src_strides[i];
      d += idx * dst_strides[i];
    }
    const float* s = src + so;
    float* t = dst + d;
    if (src_inner == 1 && dst_inner == 1) {
      std::memcpy(t, s, inner * sizeof(float));
    } else {
      for (int64_t j = 0; j < inner; j++) t[j * dst_inner] = s[j * src_inner];
    }
  }
}

void reduce_max(const float* x, int64_t outer, int64_t reduce, int64_t inner, float* out) {
  const int64_t total = outer * reduce * inner;
#pragma omp parallel for schedule(static) if (total >= kParallelThreshold && outer * inner >= 64)
  for (int64_t oi = 0; oi < outer * inner; oi++) {
    const int64_t o = oi / inner, i = oi % inner;
    const float* p = x + o * reduce * inner + i;
    float best = -std::numeric_limits<float>::infinity();
    for (int64_t r = 0; r < reduce; r++) {
      const float v = p[r * inner];
      if (v != v) {
        best = v;
        break;
      }
      if (v > best) best = v;
    }
    out[oi] = best;
  }
}

}  // namespace ib
