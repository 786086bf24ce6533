// HOST EMULATION ONLY: replaces libraries.cc. Nothing is dlopened: the DnnApi table is filled with the
// stand-ins for cuDNN (host_cudnn.cc) and cuBLAS (host_cublas.cc), so dnn.cc and blas.cc run as they are.
// Also the bookkeeping both stand-ins share: the objects alive and the calls made, for the tests.
#include <cstdint>
#include <cstring>
#include <cuda_bf16.h>
#include "host_libraries.h"
#include "libraries.h"

namespace ibhost {
namespace {
std::map<std::string, long long> objects;
std::map<std::string, unsigned long long> calls;
}  // namespace

std::map<std::string, long long> libraryObjects() { return objects; }
const std::map<std::string, unsigned long long> &libraryCalls() { return calls; }
void countLibraryCall(const std::string &name) { calls[name] += 1; }
void countObject(const char *kind, int delta) { objects[kind] += delta; }

namespace {
float roundToTf32(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7f800000u) == 0x7f800000u) return value;  // inf and NaN stay
  bits = (bits + 0xfffu + ((bits >> 13) & 1u)) & ~0x1fffu;
  std::memcpy(&value, &bits, 4);
  return value;
}
}  // namespace

float loadElement(const void *data, bool bf16, long long i, bool tf32) {
  float v = bf16 ? __bfloat162float(static_cast<const __nv_bfloat16 *>(data)[i]) : static_cast<const float *>(data)[i];
  return tf32 ? roundToTf32(v) : v;
}

}  // namespace ibhost

namespace ib {

void loadLibraries(const LibraryPaths &, DnnApi &api) {
  ibhost::installCudnn(api);
  ibhost::installCublas(api);
}

}  // namespace ib
