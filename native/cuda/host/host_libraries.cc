// HOST EMULATION ONLY: replaces libraries.cc. There is no cuDNN and no cuBLAS here: the DnnApi table is
// filled with the few calls addon.cc makes at init (handles, streams, the cuBLAS workspace, versions),
// and every other entry answers "not supported". The convolutions and matrix products themselves are
// host_dnn.cc's plain loops, which never go through this table.
#include <type_traits>
#include "fake_runtime.h"
#include "libraries.h"

namespace ib {

// The handles' objects (the addon only passes them back).
struct cudnnContext {
  cudaStream_t stream = nullptr;
};
struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace {

constexpr cudnnStatus_t kCudnnNotSupported = 3000;   // cuDNN 9's CUDNN_STATUS_NOT_SUPPORTED
constexpr cublasStatus_t kCublasNotSupported = 15;   // CUBLAS_STATUS_NOT_SUPPORTED

template <typename Fn, int Status>
struct Unavailable;
template <typename R, typename... A, int Status>
struct Unavailable<R (*)(A...), Status> {
  static R call(A...) {
    if constexpr (std::is_pointer<R>::value) return nullptr;
    else return R(Status);
  }
};

// Version 0: nothing reads this as a cuDNN or cuBLAS version.
size_t cudnnGetVersion() { return 0; }
const char *cudnnGetErrorString(cudnnStatus_t) { return "not available: the host emulation has no cuDNN"; }
cudnnStatus_t cudnnCreate(cudnnHandle_t *handle) {
  *handle = new cudnnContext();
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
  *handle = new cublasContext();
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetVersion(cublasHandle_t, int *version) {
  *version = 0;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
/** cuBLAS would use the workspace as device memory: it must be a live allocation of that size. */
cublasStatus_t cublasSetWorkspace(cublasHandle_t, void *workspace, size_t bytes) {
  ibhost::checkDeviceRange(workspace, bytes, "cublasSetWorkspace");
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

void loadLibraries(const LibraryPaths &, DnnApi &api) {
#define IB_UNAVAILABLE_CUDNN(name, ret, args) api.name = &Unavailable<name##_fn, kCudnnNotSupported>::call;
#define IB_UNAVAILABLE_CUBLAS(name, ret, args) api.name = &Unavailable<name##_fn, kCublasNotSupported>::call;
  IB_CUDNN_FUNCTIONS(IB_UNAVAILABLE_CUDNN)
  IB_CUBLAS_FUNCTIONS(IB_UNAVAILABLE_CUBLAS)
#undef IB_UNAVAILABLE_CUDNN
#undef IB_UNAVAILABLE_CUBLAS
  api.cudnnGetVersion = &cudnnGetVersion;
  api.cudnnGetErrorString = &cudnnGetErrorString;
  api.cudnnCreate = &cudnnCreate;
  api.cudnnDestroy = &cudnnDestroy;
  api.cudnnSetStream = &cudnnSetStream;
  api.cublasCreate_v2 = &cublasCreate;
  api.cublasDestroy_v2 = &cublasDestroy;
  api.cublasGetVersion_v2 = &cublasGetVersion;
  api.cublasSetStream_v2 = &cublasSetStream;
  api.cublasSetMathMode = &cublasSetMathMode;
  api.cublasSetWorkspace_v2 = &cublasSetWorkspace;
}

}  // namespace ib
