// HOST EMULATION ONLY: a stand-in for the part of cuBLAS that addon.cc and blas.cc call, on the fake
// runtime's memory, so that the host build runs blas.cc itself: its row-major-to-column-major operand
// swap, leading dimensions, batch strides (0 for a broadcast batch), data and compute types.
//
// cublasGemmStridedBatchedEx is computed from its arguments alone, column-major as cuBLAS defines it, and
// refuses what cuBLAS refuses: negative sizes, leading dimensions below their minimum (INVALID_VALUE),
// type combinations outside the ones below (NOT_SUPPORTED). It reads C only when β ≠ 0, as cuBLAS does.
// Every operand's whole extent must lie in one live device allocation (a MisuseError names it), and the
// handle must have its stream set.
// Types: A and B both float or both bf16, C float, compute 32F (or its pedantic and fast-TF32 forms).
// TF32: operands are rounded to TF32 under CUBLAS_COMPUTE_32F_FAST_TF32, or under CUBLAS_COMPUTE_32F with
// the handle's math mode CUBLAS_TF32_TENSOR_OP_MATH — the two ways cuBLAS is allowed to use TF32 for
// float data — so fp32 results that pass a 1e-5 tolerance prove TF32 was off.
#include <set>
#include <string>
#include "fake_runtime.h"
#include "host_libraries.h"

namespace ib {
struct cublasContext {
  cudaStream_t stream = nullptr;
  bool streamSet = false;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};
}  // namespace ib

namespace ibhost {
namespace {
using namespace ib;

// cublas_api.h's codes.
constexpr cublasStatus_t kInvalidValue = 7, kNotSupported = 15;

std::set<const void *> liveHandles;

cublasContext *checkedHandle(cublasHandle_t handle, const char *fn) {
  if (!handle || !liveHandles.count(handle)) throw MisuseError(std::string("host emulation: ") + fn + " uses a " + (handle ? "destroyed or unknown" : "null") + " cuBLAS handle");
  return handle;
}

size_t elementBytes(cudaDataType type) { return type == CUDA_R_16BF ? 2 : 4; }
float load(const void *data, cudaDataType type, long long i, bool tf32) { return loadElement(data, type == CUDA_R_16BF, i, tf32); }

/** The bytes a strided batch of column-major rows×cols matrices with leading dimension ld spans. */
size_t extentBytes(int rows, int cols, int ld, long long stride, int batch, cudaDataType type) {
  if (rows == 0 || cols == 0 || batch == 0) return 0;
  long long last = (long long)(batch - 1) * stride + (long long)(cols - 1) * ld + rows;
  return (size_t)last * elementBytes(type);
}

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
  if (!handle) return kInvalidValue;
  *handle = new cublasContext();
  liveHandles.insert(*handle);
  countObject("cuBLAS handle", 1);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete checkedHandle(handle, "cublasDestroy");
  liveHandles.erase(handle);
  countObject("cuBLAS handle", -1);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetVersion(cublasHandle_t handle, int *version) {
  checkedHandle(handle, "cublasGetVersion");
  *version = 0;  // not a cuBLAS version
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  cublasContext *context = checkedHandle(handle, "cublasSetStream");
  context->stream = stream;
  context->streamSet = true;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t math) {
  checkedHandle(handle, "cublasSetMathMode")->math = math;
  return CUBLAS_STATUS_SUCCESS;
}
/** cuBLAS uses the workspace as device memory: it must be a live allocation of that size. */
cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void *workspace, size_t bytes) {
  checkedHandle(handle, "cublasSetWorkspace");
  checkDeviceRange(workspace, bytes, "cublasSetWorkspace");
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void *alpha,
                                          const void *A, cudaDataType Atype, int lda, long long strideA, const void *B, cudaDataType Btype, int ldb,
                                          long long strideB, const void *beta, void *C, cudaDataType Ctype, int ldc, long long strideC, int batch,
                                          cublasComputeType_t compute, cublasGemmAlgo_t) {
  const char *fn = "cublasGemmStridedBatchedEx";
  cublasContext *context = checkedHandle(handle, fn);
  if (!context->streamSet) throw MisuseError(std::string("host emulation: ") + fn + " on a cuBLAS handle with no stream set");
  bool opA = transa == CUBLAS_OP_T, opB = transb == CUBLAS_OP_T;
  if ((transa != CUBLAS_OP_N && !opA) || (transb != CUBLAS_OP_N && !opB)) return kInvalidValue;
  // op(A) is m×k, op(B) k×n, C m×n; A is stored rowsA×colsA with lda ≥ rowsA, and so on.
  int rowsA = opA ? k : m, colsA = opA ? m : k, rowsB = opB ? n : k, colsB = opB ? k : n;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < (rowsA > 1 ? rowsA : 1) || ldb < (rowsB > 1 ? rowsB : 1) || ldc < (m > 1 ? m : 1)) return kInvalidValue;
  if (Atype != Btype || (Atype != CUDA_R_32F && Atype != CUDA_R_16BF) || Ctype != CUDA_R_32F) return kNotSupported;
  if (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_PEDANTIC && compute != CUBLAS_COMPUTE_32F_FAST_TF32) return kNotSupported;
  if (!alpha || !beta) return kInvalidValue;
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  float a = *static_cast<const float *>(alpha), b = *static_cast<const float *>(beta);
  checkDeviceRange(A, extentBytes(rowsA, colsA, lda, strideA, batch, Atype), std::string(fn) + " A");
  checkDeviceRange(B, extentBytes(rowsB, colsB, ldb, strideB, batch, Btype), std::string(fn) + " B");
  checkDeviceRange(C, extentBytes(m, n, ldc, strideC, batch, Ctype), std::string(fn) + " C");
  bool tf32 = Atype == CUDA_R_32F && (compute == CUBLAS_COMPUTE_32F_FAST_TF32 || (compute == CUBLAS_COMPUTE_32F && context->math == CUBLAS_TF32_TENSOR_OP_MATH));
  // Host scalars and the math mode are read at the call; the product runs when the stream gets to it.
  enqueueStreamWork([=] {
    float *c = static_cast<float *>(C);
    for (int bi = 0; bi < batch; ++bi) {
      long long offA = bi * strideA, offB = bi * strideB, offC = bi * strideC;
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
          double sum = 0;
          for (int q = 0; q < k; ++q) {
            long long ai = opA ? (long long)i * lda + q : (long long)q * lda + i;
            long long bj = opB ? (long long)q * ldb + j : (long long)j * ldb + q;
            sum += (double)load(A, Atype, offA + ai, tf32) * load(B, Btype, offB + bj, tf32);
          }
          float &out = c[offC + (long long)j * ldc + i];
          out = (float)(a * sum + (b != 0 ? (double)b * out : 0.0));
        }
    }
  });
  countLibraryCall(fn);
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

void installCublas(DnnApi &api) {
  api.cublasCreate_v2 = &cublasCreate;
  api.cublasDestroy_v2 = &cublasDestroy;
  api.cublasGetVersion_v2 = &cublasGetVersion;
  api.cublasSetStream_v2 = &cublasSetStream;
  api.cublasSetMathMode = &cublasSetMathMode;
  api.cublasSetWorkspace_v2 = &cublasSetWorkspace;
  api.cublasGemmStridedBatchedEx = &cublasGemmStridedBatchedEx;
}

}  // namespace ibhost
