// Batch normalization over the rows of an [rows, channels] view of an NHWC tensor.
#pragma once

#include <cstdint>

namespace ib {

// A per-channel parameter of tfjs's FusedBatchNorm: `len` is 1 (broadcast) or the channel count;
// `data` may be null (0 for offset, 1 for scale).
struct ChannelParam {
  const float* data;
  int64_t len;
  float at(int64_t c, float missing) const { return data ? data[len == 1 ? 0 : c] : missing; }
};

// y = (x - mean) / sqrt(variance + eps) * scale + offset (tfjs FusedBatchNorm, any mode).
void batch_norm_apply(const float* x, int64_t rows, int64_t channels, ChannelParam mean, ChannelParam variance, ChannelParam offset,
                      ChannelParam scale, float eps, float* y);

// Training-mode forward in two passes: the batch's mean and (biased) variance per channel, then
// y = (x - mean) / sqrt(variance + eps) * gamma + beta. gamma/beta may be null.
void batch_norm_train_forward(const float* x, int64_t rows, int64_t channels, const float* gamma, const float* beta, float eps,
                              float* y, float* mean, float* variance);

// Gradient of the training-mode forward (the batch statistics depend on x), in two passes:
// dbeta = Σ dy, dgamma = Σ dy·x̂, dx = gamma/σ · (dy − dbeta/M − x̂·dgamma/M) with x̂ = (x − mean)/σ.
void batch_norm_train_backward(const float* x, const float* dy, int64_t rows, int64_t channels, const float* gamma,
                               const float* mean, const float* variance, float eps, float* dx, float* dgamma, float* dbeta);

}  // namespace ib
