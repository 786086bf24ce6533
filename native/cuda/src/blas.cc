// Matrix products with cuBLAS on the addon's stream, in the runtime's precision.
#include "device_scratch.h"
#include "dnn.h"

namespace ib {

void matmul(const float *a, const float *b, float *c, int batchA, int batchB, int m, int n, int k, bool transposeA, bool transposeB) {
  Runtime &rt = runtime();
  Precision p = rt.precision;
  int batch = batchA > batchB ? batchA : batchB;
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {
    rt.launched(launchFill(rt.stream, c, (long long)batch * m * n, 0), "matmul (k = 0)");
    return;
  }
  std::unique_ptr<Scratch> ab, bb;
  const void *ao = asOperand(a, (long long)batchA * m * k, p, ab);
  const void *bo = asOperand(b, (long long)batchB * k * n, p, bb);
  cudaDataType operandType = p == Precision::Bf16 ? CUDA_R_16BF : CUDA_R_32F;
  cublasComputeType_t compute = p == Precision::Tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: swap the operands and the m/n roles.
  long long strideA = batchA == 1 ? 0 : (long long)m * k;
  long long strideB = batchB == 1 ? 0 : (long long)k * n;
  checkCublas(rt.api.cublasGemmStridedBatchedEx(rt.cublas, transposeB ? CUBLAS_OP_T : CUBLAS_OP_N, transposeA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, one(),
                                                bo, operandType, transposeB ? k : n, strideB, ao, operandType, transposeA ? m : k, strideA, zero(), c,
                                                CUDA_R_32F, n, (long long)m * n, batch, compute, CUBLAS_GEMM_DEFAULT),
              "cublasGemmStridedBatchedEx");
  rt.dispatches += 1;
}

}  // namespace ib
