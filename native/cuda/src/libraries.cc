#include "libraries.h"
#include <dlfcn.h>
#include <stdexcept>

namespace ib {
namespace {

void *openOrThrow(const std::string &path) {
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    const char *error = dlerror();
    throw std::runtime_error("cannot load " + path + ": " + (error ? error : "unknown error"));
  }
  return handle;
}

template <typename Fn>
void bind(void *library, const char *name, Fn &slot, const std::string &path) {
  dlerror();
  void *symbol = dlsym(library, name);
  if (!symbol) throw std::runtime_error(std::string(name) + " not found in " + path + " (cuDNN 9 and cuBLAS 12 or 13 are needed)");
  slot = reinterpret_cast<Fn>(symbol);
}

}  // namespace

void loadLibraries(const LibraryPaths &paths, DnnApi &api) {
  // cuBLAS first: cuDNN's sub-libraries link against cublasLt. Then the sub-libraries, which depend on
  // each other: keep loading the ones that fail until a round makes no progress.
  if (!paths.cublasLt.empty()) openOrThrow(paths.cublasLt);
  void *cublas = openOrThrow(paths.cublas);
  std::vector<std::string> pending = paths.cudnnParts;
  while (!pending.empty()) {
    std::vector<std::string> failed;
    for (const std::string &path : pending) {
      if (!dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) failed.push_back(path);
    }
    if (failed.size() == pending.size()) break;  // the rest are optional parts; libcudnn.so.9 says if one mattered
    pending.swap(failed);
  }
  void *cudnn = openOrThrow(paths.cudnn);
#define IB_BIND_CUDNN(name, ret, args) bind(cudnn, #name, api.name, paths.cudnn);
#define IB_BIND_CUBLAS(name, ret, args) bind(cublas, #name, api.name, paths.cublas);
  IB_CUDNN_FUNCTIONS(IB_BIND_CUDNN)
  IB_CUBLAS_FUNCTIONS(IB_BIND_CUBLAS)
#undef IB_BIND_CUDNN
#undef IB_BIND_CUBLAS
}

}  // namespace ib
