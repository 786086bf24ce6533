#pragma once
#include <string>
#include <vector>
#include "dnn_api.h"

namespace ib {

/** Where the TS side found the libraries (src/backend/cuda/libraries.ts); each list in load order. */
struct LibraryPaths {
  /** libcudnn_*.so.9 sub-libraries of the folder of libcudnn.so.9 (cuDNN 9 dispatches to them), after
   *  NVRTC where found (cuDNN's runtime-compiled engines need it); each may fail to load (optional parts). */
  std::vector<std::string> cudnnParts;
  std::string cudnn;
  std::string cublasLt;
  std::string cublas;
};

/**
 * dlopens the libraries (RTLD_GLOBAL, so each later one finds the earlier by soname) and fills `api`.
 * Throws one line naming the library or symbol that failed.
 */
void loadLibraries(const LibraryPaths &paths, DnnApi &api);

}  // namespace ib
