// Compiled (syntax only) by scripts/build-cuda.mjs wherever the vendors' cudnn.h and cublas_api.h are
// found, e.g. on the GPU check's machine with the pip nvidia-cudnn / nvidia-cublas wheels: proves that
// the subset declared in dnn_api.h matches the real API (enum values, struct layouts, parameter sizes).
#include <cublas_v2.h>  // defines CUBLASAPI, then includes cublas_api.h
#include <cudnn.h>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include "dnn_api.h"

static_assert(CUDNN_MAJOR == 9, "the cuda backend is written against cuDNN 9");
static_assert(CUBLAS_VER_MAJOR == 12 || CUBLAS_VER_MAJOR == 13, "the cuda backend is written against cuBLAS 12 or 13");

#define IB_SAME_VALUE(ours, theirs) static_assert(static_cast<long long>(ib::ours) == static_cast<long long>(::theirs), #ours " differs from the header")
IB_SAME_VALUE(CUDNN_STATUS_SUCCESS, CUDNN_STATUS_SUCCESS);
IB_SAME_VALUE(CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT);
IB_SAME_VALUE(CUDNN_DATA_BFLOAT16, CUDNN_DATA_BFLOAT16);
IB_SAME_VALUE(CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW);
IB_SAME_VALUE(CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NHWC);
IB_SAME_VALUE(CUDNN_CONVOLUTION, CUDNN_CONVOLUTION);
IB_SAME_VALUE(CUDNN_CROSS_CORRELATION, CUDNN_CROSS_CORRELATION);
IB_SAME_VALUE(CUDNN_DEFAULT_MATH, CUDNN_DEFAULT_MATH);
IB_SAME_VALUE(CUDNN_TENSOR_OP_MATH, CUDNN_TENSOR_OP_MATH);
IB_SAME_VALUE(CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
IB_SAME_VALUE(CUDNN_FMA_MATH, CUDNN_FMA_MATH);
IB_SAME_VALUE(CUDNN_NON_DETERMINISTIC, CUDNN_NON_DETERMINISTIC);
IB_SAME_VALUE(CUDNN_DETERMINISTIC, CUDNN_DETERMINISTIC);
IB_SAME_VALUE(CUBLAS_STATUS_SUCCESS, CUBLAS_STATUS_SUCCESS);
IB_SAME_VALUE(CUBLAS_OP_N, CUBLAS_OP_N);
IB_SAME_VALUE(CUBLAS_OP_T, CUBLAS_OP_T);
IB_SAME_VALUE(CUBLAS_DEFAULT_MATH, CUBLAS_DEFAULT_MATH);
IB_SAME_VALUE(CUBLAS_PEDANTIC_MATH, CUBLAS_PEDANTIC_MATH);
IB_SAME_VALUE(CUBLAS_TF32_TENSOR_OP_MATH, CUBLAS_TF32_TENSOR_OP_MATH);
IB_SAME_VALUE(CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F);
IB_SAME_VALUE(CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_COMPUTE_32F_PEDANTIC);
IB_SAME_VALUE(CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_32F_FAST_TF32);
IB_SAME_VALUE(CUBLAS_GEMM_DEFAULT, CUBLAS_GEMM_DEFAULT);
static_assert(CUBLAS_STATUS_ALLOC_FAILED == 3, "runtime.cc maps status 3 to out of memory");

// Enums and status codes are ints on both sides; handles and descriptors are pointers.
static_assert(sizeof(cudnnStatus_t) == sizeof(ib::cudnnStatus_t) && sizeof(cudnnMathType_t) == sizeof(ib::cudnnMathType_t), "enum sizes");
static_assert(sizeof(cublasStatus_t) == sizeof(ib::cublasStatus_t) && sizeof(cublasComputeType_t) == sizeof(ib::cublasComputeType_t), "enum sizes");

#define IB_SAME_LAYOUT(Theirs, Algo)                                                                                   \
  static_assert(sizeof(Theirs) == sizeof(ib::cudnnAlgoPerf<Algo>), #Theirs " size");                                 \
  static_assert(offsetof(Theirs, algo) == offsetof(ib::cudnnAlgoPerf<Algo>, algo), #Theirs ".algo");                 \
  static_assert(offsetof(Theirs, status) == offsetof(ib::cudnnAlgoPerf<Algo>, status), #Theirs ".status");           \
  static_assert(offsetof(Theirs, time) == offsetof(ib::cudnnAlgoPerf<Algo>, time), #Theirs ".time");                 \
  static_assert(offsetof(Theirs, memory) == offsetof(ib::cudnnAlgoPerf<Algo>, memory), #Theirs ".memory");           \
  static_assert(offsetof(Theirs, mathType) == offsetof(ib::cudnnAlgoPerf<Algo>, mathType), #Theirs ".mathType")
IB_SAME_LAYOUT(cudnnConvolutionFwdAlgoPerf_t, ib::cudnnConvolutionFwdAlgo_t);
IB_SAME_LAYOUT(cudnnConvolutionBwdDataAlgoPerf_t, ib::cudnnConvolutionBwdDataAlgo_t);
IB_SAME_LAYOUT(cudnnConvolutionBwdFilterAlgoPerf_t, ib::cudnnConvolutionBwdFilterAlgo_t);

// Same arity, and each parameter (and the result) of the same size and kind (pointer, integer, float).
template <typename T>
constexpr int kindOf() {
  return std::is_pointer_v<T> ? 1 : (std::is_floating_point_v<T> ? 2 : 3);
}
template <typename F>
struct Signature;
template <typename R, typename... A>
struct Signature<R (*)(A...)> {
  static constexpr std::size_t arity = sizeof...(A);
  static constexpr std::size_t sizes[] = {sizeof(R), sizeof(A)...};
  static constexpr int kinds[] = {kindOf<R>(), kindOf<A>()...};
};
template <typename Ours, typename Theirs>
constexpr bool sameAbi() {
  using O = Signature<Ours>;
  using T = Signature<Theirs>;
  if (O::arity != T::arity) return false;
  for (std::size_t i = 0; i <= O::arity; ++i)
    if (O::sizes[i] != T::sizes[i] || O::kinds[i] != T::kinds[i]) return false;
  return true;
}
#define IB_SAME_FUNCTION(name, ret, args) static_assert(sameAbi<ib::name##_fn, decltype(&::name)>(), #name " differs from the header");
IB_CUDNN_FUNCTIONS(IB_SAME_FUNCTION)
IB_CUBLAS_PLAIN_FUNCTIONS(IB_SAME_FUNCTION)

// The overloaded one: pick the header's overload of the real types, then compare as above.
using RealGemmStridedBatchedEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *, const void *,
                                                     cudaDataType, int, long long int, const void *, cudaDataType, int, long long int,
                                                     const void *, void *, cudaDataType, int, long long int, int, cublasComputeType_t,
                                                     cublasGemmAlgo_t);
[[maybe_unused]] static const RealGemmStridedBatchedEx realGemm = &::cublasGemmStridedBatchedEx;
static_assert(sameAbi<ib::cublasGemmStridedBatchedEx_fn, RealGemmStridedBatchedEx>(), "cublasGemmStridedBatchedEx differs from the header");

int main() { return 0; }
