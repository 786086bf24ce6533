// HOST EMULATION ONLY: the stand-ins for cuDNN (host_cudnn.cc) and cuBLAS (host_cublas.cc) that
// host_libraries.cc puts into the addon's DnnApi table, and what they tell the tests.
#pragma once
#include <map>
#include <string>
#include "dnn_api.h"

namespace ibhost {

void installCudnn(ib::DnnApi &api);
void installCublas(ib::DnnApi &api);

/** Objects alive now, by kind (cuDNN handles and descriptors, cuBLAS handles): leaks show as counts that grow. */
std::map<std::string, long long> libraryObjects();
/** Library calls so far, by function and, for convolutions, algorithm ("cudnnConvolutionForward algo 1"). */
const std::map<std::string, unsigned long long> &libraryCalls();
void countLibraryCall(const std::string &name);
/** Element i of device data, float or (`bf16`) bfloat16, as a float; rounded to TF32 (float's exponent, 10
 *  mantissa bits, to nearest even, as tensor cores read float operands) if `tf32`. */
float loadElement(const void *data, bool bf16, long long i, bool tf32);
/** +1 when the stand-in creates an object of `kind`, -1 when it is destroyed. */
void countObject(const char *kind, int delta);

}  // namespace ibhost
