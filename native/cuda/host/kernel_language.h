// HOST EMULATION ONLY: the CUDA kernel language as plain C++17, force-included (g++ -include) into the
// copies of kernels.cu and reduce.cu that scripts/build-cuda.mjs --host-emulation compiles. Their launch
// syntax `k<<<grid, block, shmem, stream>>>(args)` is rewritten by launch-syntax.mjs into
// `::ibhost::launch("k", ::ibhost::LaunchConfig(grid, block, shmem, stream), k, args)`.
//
// Execution model (kernel_threads.cc): the blocks of a grid run one after another; the threads of a
// block run as cooperative fibers in one OS thread, each switching back to the scheduler only at a
// __syncthreads() or a warp shuffle. Hence `__shared__` can be a function-local static (one block at a
// time uses it), and a run is deterministic; the order of blocks and threads is the schedule's
// (fake_runtime.h, setSchedule).
#pragma once
#include <math.h>
#include <cuda_runtime_api.h>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include "fake_runtime.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static

// The running thread's coordinates, set by the scheduler each time it resumes a thread.
extern __attribute__((visibility("hidden"))) uint3 threadIdx;
extern __attribute__((visibility("hidden"))) uint3 blockIdx;
extern __attribute__((visibility("hidden"))) dim3 blockDim;
extern __attribute__((visibility("hidden"))) dim3 gridDim;

/** Waits until every thread of the block that has not returned has reached a __syncthreads(). */
void __syncthreads();

namespace ibhost {
/** The warp-shuffle rendezvous (kernel_threads.cc): publishes `value` (≤ 8 bytes), waits for the lanes
 *  of `mask`, and overwrites `value` with lane (this lane ^ laneMask)'s. Only width 32 is emulated. */
void shuffleXor(unsigned mask, int laneMask, int width, void *value, size_t bytes);
}  // namespace ibhost

template <typename T>
inline T __shfl_xor_sync(unsigned mask, T value, int laneMask, int width = 32) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "a warp shuffle moves at most 8 bytes");
  ::ibhost::shuffleXor(mask, laneMask, width, &value, sizeof(T));
  return value;
}

inline float rsqrtf(float x) { return 1.f / sqrtf(x); }

// CUDA's integer min/max overloads (the float ones come from <math.h> as fminf/fmaxf).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

namespace ibhost {

struct LaunchConfig {
  dim3 grid, block;
  size_t sharedBytes;
  cudaStream_t stream;
  LaunchConfig(dim3 g, dim3 b, size_t shared = 0, cudaStream_t s = nullptr) : grid(g), block(b), sharedBytes(shared), stream(s) {}
};

using ThreadBody = void (*)(void *closure);

/** Runs body(closure) as every thread of the grid. A bad configuration sets the last error
 *  (cudaErrorInvalidConfiguration) without running, as a GPU launch does; a broken barrier or shuffle
 *  throws MisuseError. */
void runGrid(const char *kernel, const LaunchConfig &config, ThreadBody body, void *closure);

/** Every pointer argument must be null or inside a live device allocation (MisuseError otherwise). */
void checkKernelArgument(const char *kernel, int index, const void *ptr);

/** An argument that is a buffer and its format (kernels.h's FloatsIn / FloatsOut): a struct with a pointer `ptr`. */
template <typename T, typename = void>
struct HasPointerMember : std::false_type {};
template <typename T>
struct HasPointerMember<T, std::void_t<decltype(std::declval<T>().ptr)>> : std::is_pointer<decltype(std::declval<T>().ptr)> {};

template <typename Tuple, size_t... I>
void checkPointerArguments(const char *kernel, const Tuple &params, std::index_sequence<I...>) {
  auto check = [&](auto index, const auto &value) {
    using V = std::decay_t<decltype(value)>;
    if constexpr (std::is_pointer<V>::value) checkKernelArgument(kernel, (int)index, static_cast<const void *>(value));
    else if constexpr (HasPointerMember<V>::value) checkKernelArgument(kernel, (int)index, static_cast<const void *>(value.ptr));
  };
  (check(I, std::get<I>(params)), ...);
}

/** A launch's configuration is checked at the call, as on a GPU: false (and the last error set to
 *  cudaErrorInvalidConfiguration) when it cannot run. */
bool acceptLaunch(const char *kernel, const LaunchConfig &config);

/** `kernel<<<config>>>(args...)`: the arguments converted to the kernel's parameter types, as CUDA does,
 *  and kept with the launch, which runs now or, in deferred mode, when the stream gets to it. */
template <typename... P, typename... A>
void launch(const char *name, const LaunchConfig &config, void (*kernel)(P...), A &&...args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
  using Params = std::tuple<std::decay_t<P>...>;
  auto params = std::make_shared<Params>(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
  if (!acceptLaunch(name, config)) return;
  checkPointerArguments(name, *params, std::index_sequence_for<P...>{});
  enqueueStreamWork([name, config, kernel, params] {
    // Again when it runs: in deferred mode a buffer may have been freed, in stream order, since the call.
    checkPointerArguments(name, *params, std::index_sequence_for<P...>{});
    struct Closure {
      void (*kernel)(P...);
      Params *params;
    } closure{kernel, params.get()};
    runGrid(name, config, [](void *c) {
      auto *self = static_cast<Closure *>(c);
      std::apply(self->kernel, *self->params);
    }, &closure);
  });
}

}  // namespace ibhost
