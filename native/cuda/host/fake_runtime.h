// HOST EMULATION ONLY: what the emulation offers its own parts beyond the CUDA API — checks of device
// addresses (device_memory.cc), the fake device's capacity and last error (fake_runtime.cc), and what
// the kernel threads report (kernel_threads.cc).
#pragma once
#include <cuda_runtime_api.h>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
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

/**
 * Stream work — kernels, copies, memsets, stream-ordered frees, event records, the stand-ins' library
 * calls — goes through here. By default it runs at once (the call returns when it is done). With a depth
 * set (setDeferredDepth, hostEmulationSetDeferred), it is queued and runs only while more than `depth`
 * items wait, or when the host waits for it: like a GPU that is always behind, so a host that reads a
 * result, or reuses a buffer a queued copy still reads, before waiting for the stream gets stale data.
 * One queue serves every stream (the addon uses one). An error inside deferred work (a misuse, a
 * fault-free kernel error) drops what is queued after it and is thrown by the next wait, as a GPU's
 * sticky error is returned by the next synchronizing call.
 */
void enqueueStreamWork(std::function<void()> work);
/** Runs everything queued, then throws a deferred error if there was one. */
void synchronizeStreamWork();
/** Queue depth (0: synchronous, the default); returns the previous one. Synchronizes first. */
size_t setDeferredDepth(size_t items);
/** Serializes the emulation's state between the addon's main thread and its read workers, which may run
 *  queued work (cudaEventSynchronize) while the main thread queues more. */
std::recursive_mutex &emulationLock();

/** Makes `error` the next cudaGetLastError's (a failed kernel launch). */
void setLastError(cudaError_t error);

/** The emulated device's memory size (default 4 GiB); allocations beyond it fail as on a full GPU. */
size_t setCapacity(size_t bytes);

/**
 * Whether the emulated device has stream-ordered memory pools. Working, the default. Absent: as on a vGPU
 * profile, cudaDevAttrMemoryPoolsSupported reads 0 and the pool calls fail with cudaErrorNotSupported.
 * Refusing: the attribute reads 1 but allocating from the pool fails so (a driver that lacks what pools
 * are built on). $INFOBATCH_HOST_EMULATION_MEMORY_POOLS (working, absent, refusing) sets the start value,
 * for a process the tests start. Returns the previous one.
 */
enum class MemoryPools { Working, Absent, Refusing };
MemoryPools setMemoryPools(MemoryPools pools);

/** "kernel K, block x,y,z, thread x,y,z" for the thread running now, or "host code" (kernel_threads.cc);
 *  called from the fault handler, so it only formats into `buffer`. */
void describeRunningThread(char *buffer, size_t size);

/**
 * The order the kernel threads run in (kernel_threads.cc). InOrder, the default: a grid's blocks one after
 * another by index, and in each round (the threads resume until each returns or waits at a barrier or a
 * shuffle) the runnable threads by index. Reversed: both highest index first. Shuffled: both in a
 * pseudo-random order from `seed`, new for each grid and each round, and one warp of each block, picked
 * at random at its start and after each barrier, held back until the others wait at the next barrier or
 * have returned. A kernel whose result depends on the order has a race on a GPU: a missing barrier between
 * a shared-memory write and another thread's read, two threads or blocks writing one element, a block
 * reading what another block writes. Such a kernel gives a different result under another order, provided
 * the racing accesses lie on different sides of a barrier or shuffle (threads switch only there), or in
 * different warps. Returns the previous schedule.
 */
enum class Schedule { InOrder, Reversed, Shuffled };
Schedule setSchedule(Schedule schedule, uint64_t seed);

/** A mode's name (as hostEmulationSet* and the environment take it) and its value, so that no table
 *  depends on an enum's order. */
template <typename Mode>
struct Named {
  const char *name;
  Mode mode;
};
inline constexpr Named<Schedule> kSchedules[] = {{"in-order", Schedule::InOrder}, {"reversed", Schedule::Reversed}, {"shuffled", Schedule::Shuffled}};
inline constexpr Named<MemoryPools> kMemoryPools[] = {{"working", MemoryPools::Working}, {"absent", MemoryPools::Absent}, {"refusing", MemoryPools::Refusing}};

/** The entry named `name`, or null. */
template <typename Mode, size_t N>
const Named<Mode> *byName(const Named<Mode> (&table)[N], const std::string &name) {
  for (const Named<Mode> &entry : table) {
    if (name == entry.name) return &entry;
  }
  return nullptr;
}
template <typename Mode, size_t N>
const char *nameOf(const Named<Mode> (&table)[N], Mode mode) {
  for (const Named<Mode> &entry : table) {
    if (entry.mode == mode) return entry.name;
  }
  return "?";
}

/** Launches so far per kernel, by the name written at the launch (kernel_threads.cc): lets a test see
 *  which kernels it has run. Launches refused for their configuration are not counted. */
const std::map<std::string, unsigned long long> &kernelLaunches();

}  // namespace ibhost
