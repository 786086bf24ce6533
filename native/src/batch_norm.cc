#include "batch_norm.h"

#include <cmath>
#include <vector>

#include "common.h"

namespace ib {

void batch_norm_apply(const float* x, int64_t rows, int64_t channels, ChannelParam mean, ChannelParam variance, ChannelParam offset,
                      ChannelParam scale, float eps, float* y) {
  std::vector<float> m(channels), a(channels), b(channels);
  for (int64_t c = 0; c < channels; c++) {
    m[c] = mean.at(c, 0.0f);
    a[c] = static_cast<float>(scale.at(c, 1.0f) / std::sqrt(static_cast<double>(variance.at(c, 0.0f)) + eps));
    b[c] = offset.at(c, 0.0f);
  }
  const float *pm = m.data(), *pa = a.data(), *pb = b.data();
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelThreshold)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
    for (int64_t c = 0; c < channels; c++) yr[c] = (xr[c] - pm[c]) * pa[c] + pb[c];
  }
}

namespace {

// Per-channel sums over rows, each thread over its share of rows in double, then added up.
template <typename RowFn>
void channel_sums(int64_t rows, int64_t channels, int width, std::vector<double>& totals, RowFn row_fn) {
  totals.assign(static_cast<size_t>(channels) * width, 0.0);
#pragma omp parallel if (rows * channels >= kParallelThreshold)
  {
    std::vector<double> acc(static_cast<size_t>(channels) * width, 0.0);
#pragma omp for schedule(static) nowait
    for (int64_t r = 0; r < rows; r++) row_fn(r, acc.data());
#pragma omp critical
    for (size_t i = 0; i < acc.size(); i++) totals[i] += acc[i];
  }
}

}  // namespace

void batch_norm_train_forward(const float* x, int64_t rows, int64_t channels, const float* gamma, const float* beta, float eps,
                              float* y, float* mean, float* variance) {
  std::vector<double> sums;
  // Σx and Σx² in one pass; double keeps E[x²] − E[x]² accurate for activations of any scale seen here.
  channel_sums(rows, channels, 2, sums, [&](int64_t r, double* acc) {
    const float* xr = x + r * channels;
    for (int64_t c = 0; c < channels; c++) {
      const double v = xr[c];
      acc[c] += v;
      acc[channels + c] += v * v;
    }
  });
  std::vector<float> a(channels), b(channels);
  // (x − mean)·a + beta rather than x·a + b: no cancellation when |mean| ≫ σ.
  for (int64_t c = 0; c < channels; c++) {
    const double mu = sums[c] / rows;
    const double var = std::max(0.0, sums[channels + c] / rows - mu * mu);
    mean[c] = static_cast<float>(mu);
    variance[c] = static_cast<float>(var);
    const double inv = 1.0 / std::sqrt(var + eps);
    const double g = gamma ? gamma[c] : 1.0;
    a[c] = static_cast<float>(g * inv);
    b[c] = beta ? beta[c] : 0.0f;
  }
  const float *pa = a.data(), *pb = b.data();
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelThreshold)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
    for (int64_t c = 0; c < channels; c++) yr[c] = (xr[c] - mean[c]) * pa[c] + pb[c];
  }
}

void batch_norm_train_backward(const float* x, const float* dy, int64_t rows, int64_t channels, const float* gamma,
                               const float* mean, const float* variance, float eps, float* dx, float* dgamma, float* dbeta) {
  std::vector<double> sums;
  // Σdy and Σdy·(x − mean).
  channel_sums(rows, channels, 2, sums, [&](int64_t r, double* acc) {
    const float* xr = x + r * channels;
    const float* dyr = dy + r * channels;
    for (int64_t c = 0; c < channels; c++) {
      const double g = dyr[c];
      acc[c] += g;
      acc[channels + c] += g * (xr[c] - mean[c]);
    }
  });
  // dx = k·dy + u·(x − μ) + v per channel, with k = gamma/σ, u = −k·Σdy(x−μ)/(M σ²), v = −k·Σdy/M.
  std::vector<float> k(channels), u(channels), v(channels);
  for (int64_t c = 0; c < channels; c++) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(variance[c]) + eps);
    const double g = gamma ? gamma[c] : 1.0;
    const double sum_dy = sums[c], sum_dy_xc = sums[channels + c];
    dbeta[c] = static_cast<float>(sum_dy);
    dgamma[c] = static_cast<float>(sum_dy_xc * inv);
    const double kc = g * inv;
    const double uc = -kc * sum_dy_xc * inv * inv / rows;
    k[c] = static_cast<float>(kc);
    u[c] = static_cast<float>(uc);
    v[c] = static_cast<float>(-kc * sum_dy / rows);
  }
  const float *pk = k.data(), *pu = u.data(), *pv = v.data();
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelThreshold)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * channels;
    const float* dyr = dy + r * channels;
    float* dxr = dx + r * channels;
    for (int64_t c = 0; c < channels; c++) dxr[c] = pk[c] * dyr[c] + pu[c] * (xr[c] - mean[c]) + pv[c];
  }
}

}  // namespace ib
