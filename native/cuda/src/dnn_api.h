// The small part of the cuDNN 9 and cuBLAS (12/13) C APIs this addon calls, declared here so the addon
// compiles without those SDKs (many users have only the pip nvidia-* wheels' shared libraries, and the
// build machine may have neither). The libraries are opened at run time (libraries.cc). Every enum value
// and function type below is checked against the vendors' headers by check_headers.cc wherever those
// headers are found (the GPU check compiles it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cuda_runtime_api.h>
#include <library_types.h>  // cudaDataType (CUDA_R_32F, CUDA_R_16BF): part of the CUDA runtime headers

namespace ib {

// ---- cuDNN (cudnn_graph.h / cudnn_cnn.h of cuDNN 9; the legacy convolution calls are kept there)
using cudnnHandle_t = struct cudnnContext *;
using cudnnTensorDescriptor_t = struct cudnnTensorStruct *;
using cudnnFilterDescriptor_t = struct cudnnFilterStruct *;
using cudnnConvolutionDescriptor_t = struct cudnnConvolutionStruct *;
using cudnnStatus_t = int;  // 0 is CUDNN_STATUS_SUCCESS
constexpr cudnnStatus_t CUDNN_STATUS_SUCCESS = 0;

enum cudnnDataType_t { CUDNN_DATA_FLOAT = 0, CUDNN_DATA_BFLOAT16 = 9 };
enum cudnnTensorFormat_t { CUDNN_TENSOR_NCHW = 0, CUDNN_TENSOR_NHWC = 1 };
enum cudnnConvolutionMode_t { CUDNN_CONVOLUTION = 0, CUDNN_CROSS_CORRELATION = 1 };
// DEFAULT lets cuDNN use TF32 tensor cores for float data on Ampere and later; FMA forbids tensor cores.
enum cudnnMathType_t { CUDNN_DEFAULT_MATH = 0, CUDNN_TENSOR_OP_MATH = 1, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2, CUDNN_FMA_MATH = 3 };
enum cudnnDeterminism_t { CUDNN_NON_DETERMINISTIC = 0, CUDNN_DETERMINISTIC = 1 };
using cudnnConvolutionFwdAlgo_t = int;
using cudnnConvolutionBwdDataAlgo_t = int;
using cudnnConvolutionBwdFilterAlgo_t = int;

// The three *AlgoPerf_t structs of cuDNN share this layout.
template <typename Algo>
struct cudnnAlgoPerf {
  Algo algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};

// ---- cuBLAS (cublas_api.h)
using cublasHandle_t = struct cublasContext *;
using cublasStatus_t = int;  // 0 is CUBLAS_STATUS_SUCCESS
constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasMath_t { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2, CUBLAS_TF32_TENSOR_OP_MATH = 3 };
enum cublasComputeType_t { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_PEDANTIC = 69, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 };
enum cublasGemmAlgo_t { CUBLAS_GEMM_DEFAULT = -1 };

// ---- the function types, one list used to declare pointers, load symbols and check against headers
#define IB_CUDNN_FUNCTIONS(X)                                                                                        \
  X(cudnnGetVersion, size_t, (void))                                                                                 \
  X(cudnnGetErrorString, const char *, (cudnnStatus_t))                                                              \
  X(cudnnCreate, cudnnStatus_t, (cudnnHandle_t *))                                                                   \
  X(cudnnDestroy, cudnnStatus_t, (cudnnHandle_t))                                                                    \
  X(cudnnSetStream, cudnnStatus_t, (cudnnHandle_t, cudaStream_t))                                                    \
  X(cudnnCreateTensorDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t *))                                         \
  X(cudnnDestroyTensorDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t))                                          \
  X(cudnnSetTensor4dDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t, cudnnTensorFormat_t, cudnnDataType_t, int, int, int, int)) \
  X(cudnnCreateFilterDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t *))                                         \
  X(cudnnDestroyFilterDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t))                                          \
  X(cudnnSetFilter4dDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t, cudnnDataType_t, cudnnTensorFormat_t, int, int, int, int)) \
  X(cudnnCreateConvolutionDescriptor, cudnnStatus_t, (cudnnConvolutionDescriptor_t *))                               \
  X(cudnnDestroyConvolutionDescriptor, cudnnStatus_t, (cudnnConvolutionDescriptor_t))                                \
  X(cudnnSetConvolution2dDescriptor, cudnnStatus_t,                                                                  \
    (cudnnConvolutionDescriptor_t, int, int, int, int, int, int, cudnnConvolutionMode_t, cudnnDataType_t))           \
  X(cudnnSetConvolutionMathType, cudnnStatus_t, (cudnnConvolutionDescriptor_t, cudnnMathType_t))                     \
  X(cudnnGetConvolutionForwardAlgorithm_v7, cudnnStatus_t,                                                           \
    (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t, cudnnConvolutionDescriptor_t,                  \
     cudnnTensorDescriptor_t, int, int *, cudnnAlgoPerf<cudnnConvolutionFwdAlgo_t> *))                              \
  X(cudnnGetConvolutionBackwardDataAlgorithm_v7, cudnnStatus_t,                                                      \
    (cudnnHandle_t, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,                  \
     cudnnTensorDescriptor_t, int, int *, cudnnAlgoPerf<cudnnConvolutionBwdDataAlgo_t> *))                          \
  X(cudnnGetConvolutionBackwardFilterAlgorithm_v7, cudnnStatus_t,                                                    \
    (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,                  \
     cudnnFilterDescriptor_t, int, int *, cudnnAlgoPerf<cudnnConvolutionBwdFilterAlgo_t> *))                        \
  X(cudnnFindConvolutionForwardAlgorithmEx, cudnnStatus_t,                                                           \
    (cudnnHandle_t, cudnnTensorDescriptor_t, const void *, cudnnFilterDescriptor_t, const void *,                    \
     cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, void *, int, int *,                                      \
     cudnnAlgoPerf<cudnnConvolutionFwdAlgo_t> *, void *, size_t))                                                    \
  X(cudnnFindConvolutionBackwardDataAlgorithmEx, cudnnStatus_t,                                                      \
    (cudnnHandle_t, cudnnFilterDescriptor_t, const void *, cudnnTensorDescriptor_t, const void *,                    \
     cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, void *, int, int *,                                      \
     cudnnAlgoPerf<cudnnConvolutionBwdDataAlgo_t> *, void *, size_t))                                                \
  X(cudnnFindConvolutionBackwardFilterAlgorithmEx, cudnnStatus_t,                                                    \
    (cudnnHandle_t, cudnnTensorDescriptor_t, const void *, cudnnTensorDescriptor_t, const void *,                    \
     cudnnConvolutionDescriptor_t, cudnnFilterDescriptor_t, void *, int, int *,                                      \
     cudnnAlgoPerf<cudnnConvolutionBwdFilterAlgo_t> *, void *, size_t))                                              \
  X(cudnnConvolutionForward, cudnnStatus_t,                                                                          \
    (cudnnHandle_t, const void *, cudnnTensorDescriptor_t, const void *, cudnnFilterDescriptor_t, const void *,      \
     cudnnConvolutionDescriptor_t, cudnnConvolutionFwdAlgo_t, void *, size_t, const void *,                          \
     cudnnTensorDescriptor_t, void *))                                                                               \
  X(cudnnConvolutionBackwardData, cudnnStatus_t,                                                                     \
    (cudnnHandle_t, const void *, cudnnFilterDescriptor_t, const void *, cudnnTensorDescriptor_t, const void *,      \
     cudnnConvolutionDescriptor_t, cudnnConvolutionBwdDataAlgo_t, void *, size_t, const void *,                      \
     cudnnTensorDescriptor_t, void *))                                                                               \
  X(cudnnConvolutionBackwardFilter, cudnnStatus_t,                                                                   \
    (cudnnHandle_t, const void *, cudnnTensorDescriptor_t, const void *, cudnnTensorDescriptor_t, const void *,      \
     cudnnConvolutionDescriptor_t, cudnnConvolutionBwdFilterAlgo_t, void *, size_t, const void *,                    \
     cudnnFilterDescriptor_t, void *))

#define IB_CUBLAS_FUNCTIONS(X) IB_CUBLAS_PLAIN_FUNCTIONS(X) IB_CUBLAS_OVERLOADED_FUNCTIONS(X)
#define IB_CUBLAS_PLAIN_FUNCTIONS(X)                                                                                 \
  X(cublasCreate_v2, cublasStatus_t, (cublasHandle_t *))                                                             \
  X(cublasDestroy_v2, cublasStatus_t, (cublasHandle_t))                                                              \
  X(cublasGetVersion_v2, cublasStatus_t, (cublasHandle_t, int *))                                                    \
  X(cublasSetStream_v2, cublasStatus_t, (cublasHandle_t, cudaStream_t))                                              \
  X(cublasSetMathMode, cublasStatus_t, (cublasHandle_t, cublasMath_t))                                               \
  X(cublasSetWorkspace_v2, cublasStatus_t, (cublasHandle_t, void *, size_t))
// Overloaded in C++ by cublas_api.h (a deprecated form takes a cudaDataType compute type); the extern "C"
// symbol is the one below.
#define IB_CUBLAS_OVERLOADED_FUNCTIONS(X)                                                                            \
  X(cublasGemmStridedBatchedEx, cublasStatus_t,                                                                      \
    (cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *, const void *, cudaDataType,  \
     int, long long int, const void *, cudaDataType, int, long long int, const void *, void *, cudaDataType, int,     \
     long long int, int, cublasComputeType_t, cublasGemmAlgo_t))

#define IB_DECLARE_POINTER(name, ret, args) using name##_fn = ret(*) args;
IB_CUDNN_FUNCTIONS(IB_DECLARE_POINTER)
IB_CUBLAS_FUNCTIONS(IB_DECLARE_POINTER)
#undef IB_DECLARE_POINTER

struct DnnApi {
#define IB_MEMBER(name, ret, args) name##_fn name = nullptr;
  IB_CUDNN_FUNCTIONS(IB_MEMBER)
  IB_CUBLAS_FUNCTIONS(IB_MEMBER)
#undef IB_MEMBER
};

}  // namespace ib
