// HOST EMULATION ONLY: what the emulation offers its own parts beyond the CUDA API — checks of device
// addresses (device_memory.cc), the fake device's capacity and last error (fake_runtime.cc), and what
// the kernel threads report (kernel_threads.cc).
#pragma once
#include <cuda_runtime_api.h>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>

namespace ibhost {

/** A use of the API the GPU would not report, or not clearly: a freed or unknown address, a double
 *  free, a copy past the end of a buffer. Thrown so that the addon's call fails with this message. */
struct MisuseError : std::logic_error {
  using std::logic_error::logic_error;
};

/** Throws MisuseError unless [ptr, ptr + bytes) lies inside one live device allocation. */
void checkDeviceRange(const void *ptr, size_t bytes, const std::string &what);
/** As checkDeviceRange for a pointer whose extent is not known (a kernel argument): null passes. */
void checkDevicePointer(const void *ptr, const std::string &what);

/** Makes `error` the next cudaGetLastError's (a failed kernel launch). */
void setLastError(cudaError_t error);

/** The emulated device's memory size (default 4 GiB); allocations beyond it fail as on a full GPU. */
size_t setCapacity(size_t bytes);

/** "kernel K, block x,y,z, thread x,y,z" for the thread running now, or "host code" (kernel_threads.cc);
 *  called from the fault handler, so it only formats into `buffer`. */
void describeRunningThread(char *buffer, size_t size);

/** Launches so far per kernel, by the name written at the launch (kernel_threads.cc): lets a test see
 *  which kernels it has run. Launches refused for their configuration are not counted. */
const std::map<std::string, unsigned long long> &kernelLaunches();

}  // namespace ibhost
