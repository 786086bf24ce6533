// N-API entry points of the native backend (see src/backend/native.ts for the JavaScript side).
// Arguments are checked for type and size here so a wrong call throws a JavaScript error instead of
// reading or writing out of bounds.
#include <napi.h>

#include <string>
#include <vector>

#include "batch_norm.h"
#include "common.h"
#include "dnnl_ops.h"
#include "elementwise.h"

namespace {

float* floats(const Napi::CallbackInfo& info, size_t index, size_t expected, const char* name) {
  const Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a Float32Array");
  }
  Napi::Float32Array array = v.As<Napi::Float32Array>();
  if (expected != SIZE_MAX && array.ElementLength() != expected) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " has " + std::to_string(array.ElementLength()) +
                                                " elements, expected " + std::to_string(expected));
  }
  return array.Data();
}

size_t float_length(const Napi::CallbackInfo& info, size_t index, const char* name) {
  const Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a Float32Array");
  }
  return v.As<Napi::Float32Array>().ElementLength();
}

float* optional_floats(const Napi::CallbackInfo& info, size_t index, size_t expected, const char* name) {
  if (info[index].IsNull() || info[index].IsUndefined()) return nullptr;
  return floats(info, index, expected, name);
}

std::vector<int64_t> ints(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsArray()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an array of integers");
  Napi::Array array = info[index].As<Napi::Array>();
  std::vector<int64_t> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an array of integers");
    out[i] = item.As<Napi::Number>().Int64Value();
    if (out[i] < 0) throw Napi::RangeError::New(info.Env(), std::string(name) + " must not hold negative numbers");
  }
  return out;
}

int64_t integer(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return info[index].As<Napi::Number>().Int64Value();
}

size_t product(const std::vector<int64_t>& dims) {
  size_t p = 1;
  for (int64_t d : dims) p *= static_cast<size_t>(d);
  return p;
}

// Converts oneDNN's and the kernels' C++ exceptions into JavaScript errors.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F f) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what() + " (status " + std::to_string(e.status) + ")");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

// [n, h, w, c, k, r, s, oh, ow, strideH, strideW, dilationH, dilationW, padTop, padBottom, padLeft, padRight]
ib::ConvShape conv_shape(const Napi::CallbackInfo& info, size_t index) {
  std::vector<int64_t> d = ints(info, index, "conv shape");
  if (d.size() != 17) throw Napi::RangeError::New(info.Env(), "conv shape must have 17 entries");
  return ib::ConvShape{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15], d[16]};
}

// [n, h, w, c, oh, ow, kh, kw, strideH, strideW, padTop, padBottom, padLeft, padRight]
ib::PoolShape pool_shape(const Napi::CallbackInfo& info, size_t index) {
  std::vector<int64_t> d = ints(info, index, "pool shape");
  if (d.size() != 14) throw Napi::RangeError::New(info.Env(), "pool shape must have 14 entries");
  return ib::PoolShape{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13]};
}

size_t conv_x_size(const ib::ConvShape& p) { return p.n * p.h * p.w * p.c; }
size_t conv_w_size(const ib::ConvShape& p) { return p.r * p.s * p.c * p.k; }
size_t conv_y_size(const ib::ConvShape& p) { return p.n * p.oh * p.ow * p.k; }

// conv2d(x, filter, bias | null, y, shape, relu)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const ib::ConvShape p = conv_shape(info, 4);
    ib::conv2d_forward(p, floats(info, 0, conv_x_size(p), "x"), floats(info, 1, conv_w_size(p), "filter"),
                       optional_floats(info, 2, p.k, "bias"), info[5].ToBoolean().Value(), floats(info, 3, conv_y_size(p), "y"));
    return info.Env().Undefined();
  });
}

// conv2dBackpropInput(dy, filter, dx, shape)
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const ib::ConvShape p = conv_shape(info, 3);
    ib::conv2d_backward_data(p, floats(info, 0, conv_y_size(p), "dy"), floats(info, 1, conv_w_size(p), "filter"),
                             floats(info, 2, conv_x_size(p), "dx"));
    return info.Env().Undefined();
  });
}

// conv2dBackpropFilter(x, dy, dfilter, shape)
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const ib::ConvShape p = conv_shape(info, 3);
    ib::conv2d_backward_filter(p, floats(info, 0, conv_x_size(p), "x"), floats(info, 1, conv_y_size(p), "dy"),
                               floats(info, 2, conv_w_size(p), "dfilter"));
    return info.Env().Undefined();
  });
}

// avgPool(x, y, shape) and avgPoolGrad(dy, dx, shape)
Napi::Value AvgPool(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const ib::PoolShape p = pool_shape(info, 2);
    ib::avg_pool_forward(p, floats(info, 0, p.n * p.h * p.w * p.c, "x"), floats(info, 1, p.n * p.oh * p.ow * p.c, "y"));
    return info.Env().Undefined();
  });
}

Napi::Value AvgPoolGrad(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const ib::PoolShape p = pool_shape(info, 2);
    ib::avg_pool_backward(p, floats(info, 0, p.n * p.oh * p.ow * p.c, "dy"), floats(info, 1, p.n * p.h * p.w * p.c, "dx"));
    return info.Env().Undefined();
  });
}

// matmul(a, b, c, batchA, batchB, m, n, k, transposeA, transposeB): batchA or batchB may be 1 (broadcast).
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t batch_a = integer(info, 3, "batchA"), batch_b = integer(info, 4, "batchB");
    const int64_t m = integer(info, 5, "m"), n = integer(info, 6, "n"), k = integer(info, 7, "k");
    if (batch_a != batch_b && batch_a != 1 && batch_b != 1) throw Napi::RangeError::New(info.Env(), "matmul batches do not broadcast");
    const int64_t batch = std::max(batch_a, batch_b);
    const float* a = floats(info, 0, batch_a * m * k, "a");
    const float* b = floats(info, 1, batch_b * k * n, "b");
    float* c = floats(info, 2, batch * m * n, "c");
    ib::matmul(a, b, c, batch, m, n, k, info[8].ToBoolean().Value(), info[9].ToBoolean().Value(), batch_a == 1 ? 0 : m * k, batch_b == 1 ? 0 : k * n);
    return info.Env().Undefined();
  });
}

// binary(op, a, aShape, b, bShape, out, outShape)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t op = integer(info, 0, "op");
    if (op < 0 || op > static_cast<int64_t>(ib::BinaryOp::Minimum)) throw Napi::RangeError::New(info.Env(), "unknown binary op");
    const std::vector<int64_t> a_shape = ints(info, 2, "aShape"), b_shape = ints(info, 4, "bShape"), out_shape = ints(info, 6, "outShape");
    ib::binary(static_cast<ib::BinaryOp>(op), floats(info, 1, product(a_shape), "a"), a_shape, floats(info, 3, product(b_shape), "b"),
               b_shape, floats(info, 5, product(out_shape), "out"), out_shape);
    return info.Env().Undefined();
  });
}

// unary(op, x, y, alpha)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t op = integer(info, 0, "op");
    if (op < 0 || op > static_cast<int64_t>(ib::UnaryOp::Sigmoid)) throw Napi::RangeError::New(info.Env(), "unknown unary op");
    const size_t n = float_length(info, 1, "x");
    const float alpha = info[3].IsNumber() ? info[3].As<Napi::Number>().FloatValue() : 0.0f;
    ib::unary(static_cast<ib::UnaryOp>(op), floats(info, 1, n, "x"), floats(info, 2, n, "y"), n, alpha);
    return info.Env().Undefined();
  });
}

// sgdMomentum(params[], grads[], buffers[], paramsOut[], buffersOut[], lr, momentum, weightDecay, firstStep):
// one SGD step for n tensors (arrays of n Float32Arrays each; tensor i's five arrays of one length).
Napi::Value SgdMomentum(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const char* names[] = {"params", "grads", "buffers", "paramsOut", "buffersOut"};
    std::vector<Napi::Array> lists;
    for (size_t k = 0; k < 5; k++) {
      if (!info[k].IsArray()) throw Napi::TypeError::New(info.Env(), std::string(names[k]) + " must be an array of Float32Arrays");
      lists.push_back(info[k].As<Napi::Array>());
      if (lists[k].Length() != lists[0].Length()) throw Napi::RangeError::New(info.Env(), std::string(names[k]) + " differs in length from params");
    }
    for (size_t k = 5; k < 8; k++) {
      if (!info[k].IsNumber()) throw Napi::TypeError::New(info.Env(), "lr, momentum and weightDecay must be numbers");
    }
    if (!info[8].IsBoolean()) throw Napi::TypeError::New(info.Env(), "firstStep must be a boolean");
    const float lr = info[5].As<Napi::Number>().FloatValue(), momentum = info[6].As<Napi::Number>().FloatValue();
    const float weight_decay = info[7].As<Napi::Number>().FloatValue();
    const bool first_step = info[8].As<Napi::Boolean>().Value();
    auto array = [&](size_t k, uint32_t i, size_t expected) -> float* {
      Napi::Value v = lists[k].Get(i);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        throw Napi::TypeError::New(info.Env(), std::string(names[k]) + "[" + std::to_string(i) + "] must be a Float32Array");
      }
      Napi::Float32Array a = v.As<Napi::Float32Array>();
      if (expected != SIZE_MAX && a.ElementLength() != expected) {
        throw Napi::RangeError::New(info.Env(), std::string(names[k]) + "[" + std::to_string(i) + "] has " + std::to_string(a.ElementLength()) +
                                                    " elements, expected " + std::to_string(expected));
      }
      return a.Data();
    };
    for (uint32_t i = 0; i < lists[0].Length(); i++) {
      float* param = array(0, i, SIZE_MAX);  // checks the type before its length is read
      const size_t n = lists[0].Get(i).As<Napi::Float32Array>().ElementLength();
      ib::sgd_momentum(param, array(1, i, n), array(2, i, n), static_cast<int64_t>(n), lr, momentum, weight_decay, first_step, array(3, i, n),
                       array(4, i, n));
    }
    return info.Env().Undefined();
  });
}

// reluGrad(dy, y, dx): y is ReLU's output.
Napi::Value ReluGrad(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const size_t n = float_length(info, 0, "dy");
    ib::relu_grad(floats(info, 0, n, "dy"), floats(info, 1, n, "y"), floats(info, 2, n, "dx"), n);
    return info.Env().Undefined();
  });
}

// reduce(op, x, outer, reduce, inner, out, scale): op 0 = sum (times scale), 1 = max.
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t op = integer(info, 0, "op");
    const int64_t outer = integer(info, 2, "outer"), reduce = integer(info, 3, "reduce"), inner = integer(info, 4, "inner");
    const float* x = floats(info, 1, outer * reduce * inner, "x");
    float* out = floats(info, 5, outer * inner, "out");
    if (op == 0) {
      ib::reduce_sum(x, outer, reduce, inner, info[6].As<Napi::Number>().FloatValue(), out);
    } else if (op == 1) {
      ib::reduce_max(x, outer, reduce, inner, out);
    } else {
      throw Napi::RangeError::New(info.Env(), "unknown reduce op");
    }
    return info.Env().Undefined();
  });
}

// copyBox(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, box): offsets and strides in elements.
Napi::Value CopyBox(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const std::vector<int64_t> src_strides = ints(info, 2, "srcStrides"), dst_strides = ints(info, 5, "dstStrides"), box = ints(info, 6, "box");
    if (src_strides.size() != box.size() || dst_strides.size() != box.size()) throw Napi::RangeError::New(info.Env(), "copyBox: ranks differ");
    const int64_t src_offset = integer(info, 1, "srcOffset"), dst_offset = integer(info, 4, "dstOffset");
    const size_t src_len = float_length(info, 0, "src"), dst_len = float_length(info, 3, "dst");
    // The last element each side touches must lie inside its array.
    int64_t src_last = src_offset, dst_last = dst_offset;
    for (size_t i = 0; i < box.size(); i++) {
      if (box[i] == 0) return info.Env().Undefined();
      src_last += (box[i] - 1) * src_strides[i];
      dst_last += (box[i] - 1) * dst_strides[i];
    }
    if (src_offset < 0 || dst_offset < 0 || src_last >= static_cast<int64_t>(src_len) || dst_last >= static_cast<int64_t>(dst_len)) {
      throw Napi::RangeError::New(info.Env(), "copyBox: box out of bounds");
    }
    ib::copy_box(floats(info, 0, src_len, "src") + src_offset, src_strides, floats(info, 3, dst_len, "dst") + dst_offset, dst_strides, box);
    return info.Env().Undefined();
  });
}

ib::ChannelParam channel_param(const Napi::CallbackInfo& info, size_t index, int64_t channels, const char* name) {
  if (info[index].IsNull() || info[index].IsUndefined()) return ib::ChannelParam{nullptr, 0};
  const size_t len = float_length(info, index, name);
  if (len != 1 && static_cast<int64_t>(len) != channels) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must have 1 or " + std::to_string(channels) + " elements");
  }
  return ib::ChannelParam{floats(info, index, len, name), static_cast<int64_t>(len)};
}

// batchNorm(x, channels, mean, variance, offset | null, scale | null, epsilon, y)
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t channels = integer(info, 1, "channels");
    const size_t n = float_length(info, 0, "x");
    if (channels <= 0 || n % channels != 0) throw Napi::RangeError::New(info.Env(), "x is not a whole number of channel rows");
    ib::ChannelParam mean = channel_param(info, 2, channels, "mean"), variance = channel_param(info, 3, channels, "variance");
    if (!mean.data || !variance.data) throw Napi::TypeError::New(info.Env(), "mean and variance are required");
    ib::batch_norm_apply(floats(info, 0, n, "x"), n / channels, channels, mean, variance, channel_param(info, 4, channels, "offset"),
                         channel_param(info, 5, channels, "scale"), info[6].As<Napi::Number>().FloatValue(), floats(info, 7, n, "y"));
    return info.Env().Undefined();
  });
}

// batchNormTrain(x, channels, gamma | null, beta | null, epsilon, y, mean, variance)
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t channels = integer(info, 1, "channels");
    const size_t n = float_length(info, 0, "x");
    if (channels <= 0 || n % channels != 0) throw Napi::RangeError::New(info.Env(), "x is not a whole number of channel rows");
    ib::batch_norm_train_forward(floats(info, 0, n, "x"), n / channels, channels, optional_floats(info, 2, channels, "gamma"),
                                 optional_floats(info, 3, channels, "beta"), info[4].As<Napi::Number>().FloatValue(),
                                 floats(info, 5, n, "y"), floats(info, 6, channels, "mean"), floats(info, 7, channels, "variance"));
    return info.Env().Undefined();
  });
}

// batchNormTrainGrad(x, dy, channels, gamma | null, mean, variance, epsilon, dx, dgamma, dbeta)
Napi::Value BatchNormTrainGrad(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    const int64_t channels = integer(info, 2, "channels");
    const size_t n = float_length(info, 0, "x");
    if (channels <= 0 || n % channels != 0) throw Napi::RangeError::New(info.Env(), "x is not a whole number of channel rows");
    ib::batch_norm_train_backward(floats(info, 0, n, "x"), floats(info, 1, n, "dy"), n / channels, channels,
                                  optional_floats(info, 3, channels, "gamma"), floats(info, 4, channels, "mean"),
                                  floats(info, 5, channels, "variance"), info[6].As<Napi::Number>().FloatValue(),
                                  floats(info, 7, n, "dx"), floats(info, 8, channels, "dgamma"), floats(info, 9, channels, "dbeta"));
    return info.Env().Undefined();
  });
}

// detach(arrayBuffer): frees a typed array's memory now instead of at the next garbage collection.
// V8 releases a detached buffer's backing store at once; every view of it reads as empty afterwards.
Napi::Value Detach(const Napi::CallbackInfo& info) {
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(info.Env(), "detach takes an ArrayBuffer");
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  if (!buffer.IsDetached()) buffer.Detach();
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  const int64_t n = integer(info, 0, "threads");
  if (n < 1) throw Napi::RangeError::New(info.Env(), "threads must be at least 1");
  ib::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    default: return "other";
  }
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const dnnl_version_t* v = dnnl_version();
  out.Set("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  out.Set("isa", isa_name(dnnl::get_effective_cpu_isa()));
  out.Set("threads", ib::num_threads());
  out.Set("cachedPrimitives", static_cast<double>(ib::cached_primitive_count()));
  out.Set("scratchBytes", static_cast<double>(ib::scratch_bytes()));
  out.Set("primitives", ib::primitive_report());
  return out;
}

Napi::Value ReleaseCaches(const Napi::CallbackInfo& info) {
  ib::clear_primitive_cache();
  ib::release_scratch();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("avgPool", Napi::Function::New(env, AvgPool));
  exports.Set("avgPoolGrad", Napi::Function::New(env, AvgPoolGrad));
  exports.Set("matmul", Napi::Function::New(env, MatMul));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("reluGrad", Napi::Function::New(env, ReluGrad));
  exports.Set("sgdMomentum", Napi::Function::New(env, SgdMomentum));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("batchNorm", Napi::Function::New(env, BatchNorm));
  exports.Set("batchNormTrain", Napi::Function::New(env, BatchNormTrain));
  exports.Set("batchNormTrainGrad", Napi::Function::New(env, BatchNormTrainGrad));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("detach", Napi::Function::New(env, Detach));
  exports.Set("copyBox", Napi::Function::New(env, CopyBox));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("releaseCaches", Napi::Function::New(env, ReleaseCaches));
  return exports;
}

}  // namespace

NODE_API_MODULE(infobatch_native, Init)
