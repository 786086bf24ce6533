// N-API surface of the cuda addon (see src/backend/cuda/addon.ts for the contract of each function).
// Device pointers travel to JavaScript as numbers: user-space addresses on x86-64 and arm64 fit in 53 bits.
#include <napi.h>
#include <cstring>
#include <memory>
#include "dnn.h"
#include "kernels.h"
#include "libraries.h"
#include "runtime.h"

namespace ib {
namespace {

void *pointerOf(const Napi::Value &value) {
  double number = value.As<Napi::Number>().DoubleValue();
  return reinterpret_cast<void *>(static_cast<uintptr_t>(number));
}
Napi::Number pointerValue(Napi::Env env, void *ptr) {
  uintptr_t address = reinterpret_cast<uintptr_t>(ptr);
  if (address >= (uintptr_t(1) << 53)) throw std::runtime_error("device address does not fit in a JavaScript number");
  return Napi::Number::New(env, static_cast<double>(address));
}
long long integerOf(const Napi::Value &value) { return static_cast<long long>(value.As<Napi::Number>().DoubleValue()); }
float floatOf(const Napi::Value &value) { return value.As<Napi::Number>().FloatValue(); }
bool boolOf(const Napi::Value &value) { return value.As<Napi::Boolean>().Value(); }

template <typename T>
std::vector<T> arrayOf(const Napi::Value &value) {
  Napi::Array array = value.As<Napi::Array>();
  std::vector<T> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) out[i] = static_cast<T>(array.Get(i).As<Napi::Number>().DoubleValue());
  return out;
}

/** The trailing bf16-operand mask of a call (kernels.h's bf16Operand). */
int maskOf(const Napi::Value &value) { return static_cast<int>(integerOf(value)); }
FloatsIn floatsIn(const Napi::Value &ptr, int mask, int k) { return FloatsIn{pointerOf(ptr), bf16Operand(mask, k)}; }
FloatsOut floatsOut(const Napi::Value &ptr, int mask, int k) { return FloatsOut{pointerOf(ptr), bf16Operand(mask, k)}; }

std::string stringOf(const Napi::Value &value) { return value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string(); }

/** Converts C++ exceptions to JS errors; out-of-memory ones carry code ERR_CUDA_OUT_OF_MEMORY. */
template <typename Body>
Napi::Value guarded(const Napi::CallbackInfo &info, Body body) {
  try {
    return body();
  } catch (const Napi::Error &) {
    throw;
  } catch (const OutOfMemory &error) {
    Napi::Error js = Napi::Error::New(info.Env(), error.what());
    js.Set("code", Napi::String::New(info.Env(), "ERR_CUDA_OUT_OF_MEMORY"));
    throw js;
  } catch (const std::exception &error) {
    throw Napi::Error::New(info.Env(), error.what());
  }
}

Napi::Value Probe(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  int driver = 0, runtimeVersion = 0, count = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtimeVersion);
  cudaError_t status = cudaGetDeviceCount(&count);
  out.Set("driverVersion", driver);
  out.Set("runtimeVersion", runtimeVersion);
  out.Set("deviceCount", status == cudaSuccess ? count : 0);
  if (status != cudaSuccess) {
    out.Set("error", std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status));
    cudaGetLastError();
  }
  return out;
}

Napi::Value Init(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Runtime &rt = runtime();
    Napi::Object options = info[0].As<Napi::Object>();
    if (!rt.ready) {
      LibraryPaths paths;
      Napi::Array parts = options.Get("cudnnParts").As<Napi::Array>();
      for (uint32_t i = 0; i < parts.Length(); ++i) paths.cudnnParts.push_back(parts.Get(i).As<Napi::String>().Utf8Value());
      paths.cudnn = stringOf(options.Get("cudnn"));
      paths.cublasLt = stringOf(options.Get("cublasLt"));
      paths.cublas = stringOf(options.Get("cublas"));
      loadLibraries(paths, rt.api);
      rt.device = static_cast<int>(integerOf(options.Get("device")));
      checkCuda(cudaSetDevice(rt.device), "cudaSetDevice");
      checkCuda(cudaStreamCreateWithFlags(&rt.stream, cudaStreamNonBlocking), "cudaStreamCreate");
      Napi::Value mode = options.Get("allocator");
      long long allocatorMode = mode.IsNumber() ? integerOf(mode) : 0;
      if (allocatorMode < 0 || allocatorMode > 2) throw std::runtime_error("allocator must be 0 (auto), 1 (pool) or 2 (caching)");
      ChosenAllocator chosen = chooseAllocator(static_cast<AllocatorMode>(allocatorMode), rt.device, rt.stream);
      rt.memory = std::move(chosen.allocator);
      rt.poolUnavailable = chosen.poolUnavailable;
      checkCudnn(rt.api.cudnnCreate(&rt.cudnn), "cudnnCreate");
      checkCudnn(rt.api.cudnnSetStream(rt.cudnn, rt.stream), "cudnnSetStream");
      checkCublas(rt.api.cublasCreate_v2(&rt.cublas), "cublasCreate");
      checkCublas(rt.api.cublasSetStream_v2(rt.cublas, rt.stream), "cublasSetStream");
      // 32 MiB, what cuBLAS documents for Hopper; without it cuBLAS allocates its own per stream.
      const size_t workspace = size_t(32) << 20;
      checkCuda(cudaMalloc(&rt.cublasWorkspace, workspace), "cudaMalloc(cuBLAS workspace)");
      checkCublas(rt.api.cublasSetWorkspace_v2(rt.cublas, rt.cublasWorkspace, workspace), "cublasSetWorkspace");
      checkCublas(rt.api.cublasSetMathMode(rt.cublas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
      rt.ready = true;
    }
    cudaDeviceProp prop{};
    checkCuda(cudaGetDeviceProperties(&prop, rt.device), "cudaGetDeviceProperties");
    int driver = 0, runtimeVersion = 0, cublasVersion = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtimeVersion);
    rt.api.cublasGetVersion_v2(rt.cublas, &cublasVersion);
    Napi::Object out = Napi::Object::New(env);
    out.Set("name", prop.name);
    out.Set("computeCapability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
    out.Set("multiprocessors", prop.multiProcessorCount);
    out.Set("memoryBytes", static_cast<double>(prop.totalGlobalMem));
    out.Set("driverVersion", driver);
    out.Set("runtimeVersion", runtimeVersion);
    out.Set("cudnnVersion", static_cast<double>(rt.api.cudnnGetVersion()));
    out.Set("cublasVersion", cublasVersion);
    out.Set("allocator", rt.memory->name());
    if (!rt.poolUnavailable.empty()) out.Set("poolUnavailable", rt.poolUnavailable);
    return out;
  });
}

Napi::Value SetPrecision(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    long long mode = integerOf(info[0]);
    if (mode < 0 || mode > 2) throw std::runtime_error("precision must be 0 (fp32), 1 (tf32) or 2 (bf16)");
    if (mode == 2) {
      cudaDeviceProp prop{};
      checkCuda(cudaGetDeviceProperties(&prop, rt.device), "cudaGetDeviceProperties");
      if (prop.major < 8) throw std::runtime_error(std::string(prop.name) + " (compute capability " + std::to_string(prop.major) + "." +
                                                   std::to_string(prop.minor) + ") has no bf16 tensor cores; bf16 needs 8.0 or later");
    }
    if (mode == 1) {
      cudaDeviceProp prop{};
      checkCuda(cudaGetDeviceProperties(&prop, rt.device), "cudaGetDeviceProperties");
      if (prop.major < 8) throw std::runtime_error(std::string(prop.name) + " has no TF32 tensor cores; tf32 needs compute capability 8.0 or later");
    }
    rt.precision = static_cast<Precision>(mode);
    return info.Env().Undefined();
  });
}

Napi::Value Malloc(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value { return pointerValue(info.Env(), readyRuntime().allocate(static_cast<size_t>(integerOf(info[0])))); });
}

Napi::Value Free(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    void *ptr = pointerOf(info[0]);
    forgetPreparedFilter(ptr);  // before the buffer can be handed out again, as another tensor
    rt.release(ptr);
    return info.Env().Undefined();
  });
}

Napi::Value Upload(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    void *dst = pointerOf(info[0]);
    Napi::TypedArray array = info[1].As<Napi::TypedArray>();
    size_t bytes = array.ByteLength();
    if (bytes == 0) return info.Env().Undefined();
    const char *src = static_cast<const char *>(array.ArrayBuffer().Data()) + array.ByteOffset();
    // Through a pinned block: a copy from pageable memory may wait for the whole stream.
    PinnedLease block(rt.pinned, bytes);
    std::memcpy(block->host, src, bytes);
    checkCuda(cudaMemcpyAsync(dst, block->host, bytes, cudaMemcpyHostToDevice, rt.stream), "cudaMemcpyAsync(upload)");
    checkCuda(cudaEventRecord(block->done, rt.stream), "cudaEventRecord");
    rt.uploads += 1;
    return info.Env().Undefined();
  });
}

Napi::Value CopyDevice(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    size_t bytes = static_cast<size_t>(integerOf(info[2]));
    if (bytes) checkCuda(cudaMemcpyAsync(pointerOf(info[0]), pointerOf(info[1]), bytes, cudaMemcpyDeviceToDevice, rt.stream), "cudaMemcpyAsync(d2d)");
    rt.dispatches += 1;
    return info.Env().Undefined();
  });
}

Napi::Value ReadSync(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    void *src = pointerOf(info[0]);
    Napi::TypedArray array = info[1].As<Napi::TypedArray>();
    size_t bytes = array.ByteLength();
    char *dst = static_cast<char *>(array.ArrayBuffer().Data()) + array.ByteOffset();
    if (bytes) {
      PinnedLease block(rt.pinned, bytes);
      checkCuda(cudaMemcpyAsync(block->host, src, bytes, cudaMemcpyDeviceToHost, rt.stream), "cudaMemcpyAsync(download)");
      checkCuda(cudaEventRecord(block->done, rt.stream), "cudaEventRecord");
      cudaError_t status = cudaEventSynchronize(block->done);
      if (status == cudaSuccess) std::memcpy(dst, block->host, bytes);
      checkCuda(status, "reading a tensor (an earlier kernel may have failed)");
    }
    rt.downloads += 1;
    return info.Env().Undefined();
  });
}

/** Waits for the copy's event on a worker thread, then copies the pinned block into a new ArrayBuffer. */
class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, PinnedPool::Block *block, size_t bytes)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), block_(block), bytes_(bytes) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    cudaError_t status = cudaEventSynchronize(block_->done);
    if (status != cudaSuccess) SetError(std::string("CUDA error while reading a tensor: ") + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
  }
  void OnOK() override {
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(Env(), bytes_);
    std::memcpy(buffer.Data(), block_->host, bytes_);
    runtime().pinned.release(block_);
    deferred_.Resolve(buffer);
  }
  void OnError(const Napi::Error &error) override {
    runtime().pinned.release(block_);
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  PinnedPool::Block *block_;
  size_t bytes_;
};

Napi::Value ReadAsync(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    void *src = pointerOf(info[0]);
    size_t bytes = static_cast<size_t>(integerOf(info[1]));
    PinnedLease block(rt.pinned, bytes == 0 ? 4 : bytes);
    if (bytes) checkCuda(cudaMemcpyAsync(block->host, src, bytes, cudaMemcpyDeviceToHost, rt.stream), "cudaMemcpyAsync(download)");
    checkCuda(cudaEventRecord(block->done, rt.stream), "cudaEventRecord");
    rt.downloads += 1;
    auto *worker = new ReadWorker(info.Env(), block.transfer(), bytes);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value Fill(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    uint32_t bits = static_cast<uint32_t>(info[2].As<Napi::Number>().Uint32Value());
    rt.launched(launchFill(rt.stream, pointerOf(info[0]), integerOf(info[1]), bits), "fill");
    return info.Env().Undefined();
  });
}

Napi::Value Unary(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    rt.launched(launchUnary(rt.stream, static_cast<UnaryOp>(integerOf(info[0])), static_cast<DType>(integerOf(info[1])), pointerOf(info[2]),
                            pointerOf(info[3]), integerOf(info[4]), floatOf(info[5]), floatOf(info[6]), maskOf(info[7])),
                "unary");
    return info.Env().Undefined();
  });
}

Napi::Value Binary(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    auto shape = arrayOf<int>(info[5]);
    auto aStrides = arrayOf<long long>(info[6]);
    auto bStrides = arrayOf<long long>(info[7]);
    if (shape.size() > (size_t)kMaxRank || aStrides.size() != shape.size() || bStrides.size() != shape.size()) {
      throw std::runtime_error("binary: rank over 6 or strides of the wrong rank");
    }
    rt.launched(launchBinary(rt.stream, static_cast<BinaryOp>(integerOf(info[0])), static_cast<DType>(integerOf(info[1])), pointerOf(info[2]),
                             pointerOf(info[3]), pointerOf(info[4]), (int)shape.size(), shape.data(), aStrides.data(), bStrides.data(), maskOf(info[8])),
                "binary");
    return info.Env().Undefined();
  });
}

Napi::Value Cast(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    rt.launched(launchCast(rt.stream, static_cast<DType>(integerOf(info[0])), static_cast<DType>(integerOf(info[1])), boolOf(info[2]),
                           pointerOf(info[3]), pointerOf(info[4]), integerOf(info[5])),
                "cast");
    return info.Env().Undefined();
  });
}

Napi::Value Select(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    rt.launched(launchSelect(rt.stream, (const int *)pointerOf(info[0]), pointerOf(info[1]), pointerOf(info[2]), pointerOf(info[3]), integerOf(info[4]),
                             integerOf(info[5])),
                "select");
    return info.Env().Undefined();
  });
}

Napi::Value CopyStrided(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    auto srcStrides = arrayOf<long long>(info[2]);
    std::vector<int> modulo = info[3].IsArray() ? arrayOf<int>(info[3]) : std::vector<int>();
    auto dstStrides = arrayOf<long long>(info[6]);
    auto shape = arrayOf<int>(info[7]);
    size_t rank = shape.size();
    if (rank > (size_t)kMaxRank || srcStrides.size() != rank || dstStrides.size() != rank || (!modulo.empty() && modulo.size() != rank)) {
      throw std::runtime_error("copyStrided: rank over 6 or strides of the wrong rank");
    }
    rt.launched(launchCopyStrided(rt.stream, pointerOf(info[0]), integerOf(info[1]), srcStrides.data(), modulo.empty() ? nullptr : modulo.data(),
                                  pointerOf(info[4]), integerOf(info[5]), dstStrides.data(), shape.data(), (int)rank),
                "copyStrided");
    return info.Env().Undefined();
  });
}

Napi::Value Reduce(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    long long outer = integerOf(info[4]), reduce = integerOf(info[5]), inner = integerOf(info[6]);
    size_t scratchBytes = reduceScratchBytes(outer, reduce, inner);
    void *scratch = scratchBytes ? rt.allocate(scratchBytes) : nullptr;
    int kernels = launchReduce(rt.stream, static_cast<ReduceOp>(integerOf(info[0])), static_cast<DType>(integerOf(info[1])), pointerOf(info[2]),
                               pointerOf(info[3]), outer, reduce, inner, floatOf(info[7]), scratch, scratchBytes);
    rt.release(scratch);
    rt.launched(kernels, "reduce");
    return info.Env().Undefined();
  });
}

Napi::Value ArgReduce(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    rt.launched(launchArgReduce(rt.stream, boolOf(info[0]), static_cast<DType>(integerOf(info[1])), pointerOf(info[2]), (int *)pointerOf(info[3]),
                                integerOf(info[4]), integerOf(info[5]), integerOf(info[6])),
                "argReduce");
    return info.Env().Undefined();
  });
}

Napi::Value OneHot(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    rt.launched(launchOneHot(rt.stream, (const int *)pointerOf(info[0]), pointerOf(info[1]), integerOf(info[2]), (int)integerOf(info[3]),
                             info[4].As<Napi::Number>().Uint32Value(), info[5].As<Napi::Number>().Uint32Value()),
                "oneHot");
    return info.Env().Undefined();
  });
}

Napi::Value Gather(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    rt.launched(launchGather(rt.stream, pointerOf(info[0]), (const int *)pointerOf(info[1]), pointerOf(info[2]), integerOf(info[3]), integerOf(info[4]),
                             integerOf(info[5]), integerOf(info[6])),
                "gather");
    return info.Env().Undefined();
  });
}

Napi::Value Softmax(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    rt.launched(launchSoftmax(rt.stream, (const float *)pointerOf(info[0]), (float *)pointerOf(info[1]), integerOf(info[2]), (int)integerOf(info[3]),
                              boolOf(info[4])),
                "softmax");
    return info.Env().Undefined();
  });
}

/** The 12 pooling shape parameters (n h w c oh ow kh kw strideH strideW padTop padLeft) of a call. */
std::vector<int> poolParamsOf(const Napi::Value &value, const char *what) {
  auto params = arrayOf<int>(value);
  if (params.size() != 12) throw std::runtime_error(std::string(what) + ": 12 shape parameters expected");
  return params;
}

Napi::Value AvgPool(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    auto params = poolParamsOf(info[2], "avgPool");
    rt.launched(launchAvgPool(rt.stream, (const float *)pointerOf(info[0]), (float *)pointerOf(info[1]), params.data()), "avgPool");
    return info.Env().Undefined();
  });
}

Napi::Value AvgPoolGrad(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    auto params = poolParamsOf(info[2], "avgPoolGrad");
    rt.launched(launchAvgPoolGrad(rt.stream, (const float *)pointerOf(info[0]), (float *)pointerOf(info[1]), params.data()), "avgPoolGrad");
    return info.Env().Undefined();
  });
}

Napi::Value BatchedTranspose(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    rt.launched(launchBatchedTranspose(rt.stream, pointerOf(info[0]), pointerOf(info[1]), integerOf(info[2]), integerOf(info[3]), integerOf(info[4])),
                "batchedTranspose");
    return info.Env().Undefined();
  });
}

Napi::Value MaxPool(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    auto params = poolParamsOf(info[2], "maxPool");
    rt.launched(launchMaxPool(rt.stream, (const float *)pointerOf(info[0]), (float *)pointerOf(info[1]), params.data()), "maxPool");
    return info.Env().Undefined();
  });
}

Napi::Value MaxPoolGrad(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    auto params = poolParamsOf(info[3], "maxPoolGrad");
    rt.launched(launchMaxPoolGrad(rt.stream, (const float *)pointerOf(info[0]), (const float *)pointerOf(info[1]), (float *)pointerOf(info[2]), params.data()),
                "maxPoolGrad");
    return info.Env().Undefined();
  });
}

ConvShape convShapeOf(const Napi::Value &value) {
  auto v = arrayOf<int>(value);
  if (v.size() != 13) throw std::runtime_error("conv: 13 shape parameters expected [n h w c k kh kw oh ow strideH strideW padH padW]");
  return ConvShape{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]};
}

Napi::Value Conv2d(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    readyRuntime();
    int mask = maskOf(info[4]);  // bit 0 x, bit 2 y
    convForward(convShapeOf(info[3]), floatsIn(info[0], mask, 0), (const float *)pointerOf(info[1]), floatsOut(info[2], mask, 2));
    return info.Env().Undefined();
  });
}

Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    readyRuntime();
    int mask = maskOf(info[4]);  // bit 0 dy, bit 2 dx
    convBackwardData(convShapeOf(info[3]), floatsIn(info[0], mask, 0), (const float *)pointerOf(info[1]), floatsOut(info[2], mask, 2));
    return info.Env().Undefined();
  });
}

Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    readyRuntime();
    int mask = maskOf(info[4]);  // bit 0 x, bit 1 dy
    convBackwardFilter(convShapeOf(info[3]), floatsIn(info[0], mask, 0), floatsIn(info[1], mask, 1), (float *)pointerOf(info[2]));
    return info.Env().Undefined();
  });
}

Napi::Value Matmul(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    readyRuntime();
    matmul((const float *)pointerOf(info[0]), (const float *)pointerOf(info[1]), (float *)pointerOf(info[2]), (int)integerOf(info[3]), (int)integerOf(info[4]),
           (int)integerOf(info[5]), (int)integerOf(info[6]), (int)integerOf(info[7]), boolOf(info[8]), boolOf(info[9]));
    return info.Env().Undefined();
  });
}

Napi::Value BatchNormTrain(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    auto in = [&](int i) { return (const float *)pointerOf(info[i]); };
    auto out = [&](int i) { return (float *)pointerOf(info[i]); };
    long long rows = integerOf(info[10]);
    int channels = (int)integerOf(info[11]);
    if (rows < 2) throw std::runtime_error("batchNormTrain needs at least two rows (the unbiased variance of one value is undefined)");
    RunningStats running{in(3), in(4), out(8), out(9), floatOf(info[13])};
    void *scratch = rt.allocate(batchNormScratchBytes(rows, channels));
    // info[14]: the residual added before the activation (0: none); info[15]: whether a ReLU follows;
    // info[16]: bf16 operands, bit 0 x, bit 1 residual, bit 2 y.
    int mask = maskOf(info[16]);
    int kernels = launchBatchNormTrain(rt.stream, floatsIn(info[0], mask, 0), in(1), in(2), floatsIn(info[14], mask, 1), boolOf(info[15]), floatsOut(info[5], mask, 2),
                                       out(6), out(7), running, rows, channels, floatOf(info[12]), scratch);
    rt.release(scratch);
    rt.launched(kernels, "batchNormTrain");
    return info.Env().Undefined();
  });
}

Napi::Value BatchNormTrainGrad(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    long long rows = integerOf(info[8]);
    int channels = (int)integerOf(info[9]);
    void *scratch = rt.allocate(batchNormScratchBytes(rows, channels));
    int mask = maskOf(info[11]);  // bit 0 x, bit 1 dy, bit 2 dx
    int kernels = launchBatchNormTrainGrad(rt.stream, floatsIn(info[0], mask, 0), floatsIn(info[1], mask, 1),
                                           (const float *)pointerOf(info[2]), (const float *)pointerOf(info[3]), (const float *)pointerOf(info[4]),
                                           floatsOut(info[5], mask, 2), (float *)pointerOf(info[6]), (float *)pointerOf(info[7]), rows, channels,
                                           floatOf(info[10]), scratch);
    rt.release(scratch);
    rt.launched(kernels, "batchNormTrainGrad");
    return info.Env().Undefined();
  });
}

Napi::Value BatchNormInference(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    long long rows = integerOf(info[6]);
    int channels = (int)integerOf(info[7]);
    void *scratch = rt.allocate(batchNormScratchBytes(rows, channels));
    int mask = maskOf(info[9]);  // bit 0 x, bit 1 y
    int kernels = launchBatchNormInference(rt.stream, floatsIn(info[0], mask, 0), (const float *)pointerOf(info[1]),
                                           (const float *)pointerOf(info[2]), (const float *)pointerOf(info[3]), (const float *)pointerOf(info[4]),
                                           floatsOut(info[5], mask, 1), rows, channels, floatOf(info[8]), scratch);
    rt.release(scratch);
    rt.launched(kernels, "batchNormInference");
    return info.Env().Undefined();
  });
}

/** sgdMomentum(pointers Float64Array [param, grad, buffer, paramOut, bufferOut] × n, sizes Float64Array, lr, momentum, weightDecay, firstStep) */
Napi::Value SgdMomentum(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    Napi::Float64Array pointers = info[0].As<Napi::Float64Array>();
    Napi::Float64Array sizes = info[1].As<Napi::Float64Array>();
    size_t count = sizes.ElementLength();
    if (pointers.ElementLength() != 5 * count) throw std::runtime_error("sgdMomentum: 5 pointers per tensor expected");
    if (count == 0) return info.Env().Undefined();
    size_t bytes = count * sizeof(SgdTensor);
    PinnedLease block(rt.pinned, bytes);
    auto *table = static_cast<SgdTensor *>(block->host);
    long long blocks = 0;
    auto address = [&](size_t i) { return reinterpret_cast<float *>(static_cast<uintptr_t>(pointers[i])); };
    for (size_t t = 0; t < count; ++t) {
      long long size = static_cast<long long>(sizes[t]);
      table[t] = SgdTensor{address(5 * t), address(5 * t + 1), address(5 * t + 2), address(5 * t + 3), address(5 * t + 4), size, blocks};
      blocks += (size + kSgdChunk - 1) / kSgdChunk;
    }
    void *deviceTable = rt.allocate(bytes);
    checkCuda(cudaMemcpyAsync(deviceTable, block->host, bytes, cudaMemcpyHostToDevice, rt.stream), "cudaMemcpyAsync(sgd table)");
    checkCuda(cudaEventRecord(block->done, rt.stream), "cudaEventRecord");
    int kernels = launchSgdMomentum(rt.stream, static_cast<SgdTensor *>(deviceTable), (int)count, blocks, floatOf(info[2]), floatOf(info[3]),
                                    floatOf(info[4]), boolOf(info[5]));
    rt.release(deviceTable);
    rt.launched(kernels, "sgdMomentum");
    return info.Env().Undefined();
  });
}

Napi::Value Stats(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    MemoryStats memory = rt.memory->stats();
    size_t freeBytes = 0, totalBytes = 0;
    cudaMemGetInfo(&freeBytes, &totalBytes);
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("dispatches", static_cast<double>(rt.dispatches));
    out.Set("uploads", static_cast<double>(rt.uploads));
    out.Set("downloads", static_cast<double>(rt.downloads));
    out.Set("bytesInUse", static_cast<double>(memory.inUse));
    out.Set("bytesReserved", static_cast<double>(memory.reserved));
    out.Set("peakBytesInUse", static_cast<double>(memory.peakInUse));
    out.Set("pinnedBytes", static_cast<double>(rt.pinned.totalBytes()));
    out.Set("preparedFilters", static_cast<double>(preparedFilterCount()));
    out.Set("deviceFreeBytes", static_cast<double>(freeBytes));
    out.Set("deviceTotalBytes", static_cast<double>(totalBytes));
    return out;
  });
}

Napi::Value ResetPeak(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    readyRuntime().memory->resetPeak();
    return info.Env().Undefined();
  });
}

Napi::Value Synchronize(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    checkCuda(cudaStreamSynchronize(readyRuntime().stream), "cudaStreamSynchronize");
    return info.Env().Undefined();
  });
}

/** Records a timing event on the stream; returns its index for elapsedMs. */
Napi::Value MarkTime(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    cudaEvent_t event;
    checkCuda(cudaEventCreate(&event), "cudaEventCreate");
    checkCuda(cudaEventRecord(event, rt.stream), "cudaEventRecord");
    rt.timingEvents.push_back(event);
    return Napi::Number::New(info.Env(), static_cast<double>(rt.timingEvents.size() - 1));
  });
}

/** Milliseconds of GPU time between two marks (waits for the later one). */
Napi::Value ElapsedMs(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    size_t a = (size_t)integerOf(info[0]), b = (size_t)integerOf(info[1]);
    if (a >= rt.timingEvents.size() || b >= rt.timingEvents.size()) throw std::runtime_error("elapsedMs: unknown mark");
    checkCuda(cudaEventSynchronize(rt.timingEvents[b]), "cudaEventSynchronize");
    float ms = 0;
    checkCuda(cudaEventElapsedTime(&ms, rt.timingEvents[a], rt.timingEvents[b]), "cudaEventElapsedTime");
    return Napi::Number::New(info.Env(), ms);
  });
}

Napi::Value ClearTimes(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    checkCuda(cudaStreamSynchronize(rt.stream), "cudaStreamSynchronize");
    for (cudaEvent_t event : rt.timingEvents) cudaEventDestroy(event);
    rt.timingEvents.clear();
    return info.Env().Undefined();
  });
}

Napi::Value ConvAlgorithms(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value { return Napi::String::New(info.Env(), convAlgorithms()); });
}

Napi::Value SetConvLayout(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    readyRuntime();
    setConvLayoutMode((int)integerOf(info[0]));
    return info.Env().Undefined();
  });
}

Napi::Value ReleaseCaches(const Napi::CallbackInfo &info) {
  return guarded(info, [&]() -> Napi::Value {
    Runtime &rt = readyRuntime();
    checkCuda(cudaStreamSynchronize(rt.stream), "cudaStreamSynchronize");
    rt.memory->releaseCached();
    rt.pinned.clear();
    return info.Env().Undefined();
  });
}

}  // namespace

Napi::Object Initialize(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("setPrecision", Napi::Function::New(env, SetPrecision));
  exports.Set("malloc", Napi::Function::New(env, Malloc));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("upload", Napi::Function::New(env, Upload));
  exports.Set("copyDevice", Napi::Function::New(env, CopyDevice));
  exports.Set("readSync", Napi::Function::New(env, ReadSync));
  exports.Set("readAsync", Napi::Function::New(env, ReadAsync));
  exports.Set("fill", Napi::Function::New(env, Fill));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("cast", Napi::Function::New(env, Cast));
  exports.Set("select", Napi::Function::New(env, Select));
  exports.Set("copyStrided", Napi::Function::New(env, CopyStrided));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("argReduce", Napi::Function::New(env, ArgReduce));
  exports.Set("oneHot", Napi::Function::New(env, OneHot));
  exports.Set("gather", Napi::Function::New(env, Gather));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("avgPool", Napi::Function::New(env, AvgPool));
  exports.Set("avgPoolGrad", Napi::Function::New(env, AvgPoolGrad));
  exports.Set("batchedTranspose", Napi::Function::New(env, BatchedTranspose));
  exports.Set("maxPool", Napi::Function::New(env, MaxPool));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("matmul", Napi::Function::New(env, Matmul));
  exports.Set("batchNormTrain", Napi::Function::New(env, BatchNormTrain));
  exports.Set("batchNormTrainGrad", Napi::Function::New(env, BatchNormTrainGrad));
  exports.Set("batchNormInference", Napi::Function::New(env, BatchNormInference));
  exports.Set("sgdMomentum", Napi::Function::New(env, SgdMomentum));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("resetPeak", Napi::Function::New(env, ResetPeak));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  exports.Set("markTime", Napi::Function::New(env, MarkTime));
  exports.Set("elapsedMs", Napi::Function::New(env, ElapsedMs));
  exports.Set("clearTimes", Napi::Function::New(env, ClearTimes));
  exports.Set("convAlgorithms", Napi::Function::New(env, ConvAlgorithms));
  exports.Set("releaseCaches", Napi::Function::New(env, ReleaseCaches));
  exports.Set("setConvLayout", Napi::Function::New(env, SetConvLayout));
  return exports;
}

}  // namespace ib

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ib::Initialize(env, exports); }

NODE_API_MODULE(infobatch_cuda, InitAddon)
