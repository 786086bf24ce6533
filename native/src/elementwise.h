// Multithreaded float32 element-wise and reduction kernels with NumPy broadcasting: the tfjs CPU
// backend runs these single-threaded in JavaScript, and its broadcasting path computes a full index
// per element, which makes BatchNorm's gradient cost more than the convolutions once those are fast.
#pragma once

#include <cstdint>
#include <vector>

namespace ib {

enum class BinaryOp : int { Add = 0, Sub, Mul, Div, SquaredDifference, Maximum, Minimum };
enum class UnaryOp : int { Relu = 0, Step, Neg, Square, Sqrt, Rsqrt, Exp, Log, Reciprocal, Abs, Relu6, Sigmoid };

// out = a ∘ b, shapes broadcast NumPy-style to out_shape.
void binary(BinaryOp op, const float* a, const std::vector<int64_t>& a_shape, const float* b, const std::vector<int64_t>& b_shape,
            float* out, const std::vector<int64_t>& out_shape);

// y = f(x); alpha is Step's value for x <= 0.
void unary(UnaryOp op, const float* x, float* y, int64_t n, float alpha);

// dx = y > 0 ? dy : 0 from ReLU's output y (its gradient in one pass, instead of step, cast and multiply).
void relu_grad(const float* dy, const float* y, float* dx, int64_t n);

// One tensor of torch.optim.SGD (dampening 0, no Nesterov): g = grad + weight_decay·param;
// buffer_out = first_step ? g : momentum·buffer + g (buffer not read on the first step);
// param_out = param − lr·buffer_out.
void sgd_momentum(const float* param, const float* grad, const float* buffer, int64_t n, float lr, float momentum, float weight_decay,
                  bool first_step, float* param_out, float* buffer_out);

// out[o, i] = scale * Σ_r x[o, r, i] for x viewed as [outer, reduce, inner], summed in double.
void reduce_sum(const float* x, int64_t outer, int64_t reduce, int64_t inner, float scale, float* out);

// out[o, i] = max_r x[o, r, i].
void reduce_max(const float* x, int64_t outer, int64_t reduce, int64_t inner, float* out);

// Copies a box of `box` elements per axis from src to dst, each walked with its own strides
// (Slice: a box of the source into a dense output; Pad: a dense source into the middle of the output).
void copy_box(const float* src, const std::vector<int64_t>& src_strides, float* dst, const std::vector<int64_t>& dst_strides,
              const std::vector<int64_t>& box);

}  // namespace ib
