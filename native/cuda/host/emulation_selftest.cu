// HOST EMULATION ONLY: checks of the emulation itself — barrier and shuffle semantics, the schedules
// that expose races, the errors it must raise, the guard pages (in a child process, which they stop), the pool's bookkeeping, bf16
// rounding, deferred stream work — so none of them can silently be a no-op. Built by
// scripts/build-cuda.mjs --host-emulation into native/cuda/build-host/emulation_selftest and run by
// test/cuda-host.test.ts; prints one "ok"/"FAIL" line per check and exits 1 if any failed.
#include <cuda_bf16.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>
#include "fake_runtime.h"

namespace {

int failures = 0;

void check(bool ok, const char *what, std::string detail = "") {
  while (!detail.empty() && detail.back() == '\n') detail.pop_back();
  std::printf("%s %s%s%s\n", ok ? "ok" : "FAIL", what, detail.empty() ? "" : ": ", detail.c_str());
  if (!ok) ++failures;
}

/** The MisuseError message `body` throws ("" if none). */
std::string misuse(const std::function<void()> &body) {
  try {
    body();
  } catch (const ibhost::MisuseError &error) {
    return error.what();
  }
  return "";
}

template <typename T>
T *deviceArray(size_t n) {
  void *ptr = nullptr;
  cudaMalloc(&ptr, n * sizeof(T));
  return static_cast<T *>(ptr);
}

// Threads 40..63 return at once; the others meet at the barrier, so must see each other's writes.
__global__ void barrierAfterEarlyReturn(int *out) {
  __shared__ int values[64];
  int t = threadIdx.x;
  if (t >= 40) return;
  values[t] = t * 10;
  __syncthreads();
  out[t] = values[(t + 1) % 40];
}

__global__ void warpSum(int *out) {
  int v = threadIdx.x;
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  out[threadIdx.x] = v;
}

__global__ void shuffleAfterLaneReturned(int *out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
}

__global__ void barrierAgainstShuffle(int *out) {
  if (threadIdx.x < 16) __syncthreads();
  else out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
}

__global__ void coordinates(int *out) {
  int block = blockIdx.x + gridDim.x * blockIdx.y;
  int thread = threadIdx.x + blockDim.x * threadIdx.y;
  out[block * blockDim.x * blockDim.y + thread] = block * 1000 + thread;
}

__global__ void writeOne(int *out) { out[0] = 1; }

__global__ void copyElement(const int *in, long long index, int *out) { out[0] = in[index]; }

/** Runs `body` in a child process; returns its stderr if a SIGSEGV ended it, else "". */
std::string diesOfFault(const std::function<void()> &body) {
  int pipeFds[2];
  if (pipe(pipeFds) != 0) return "";
  std::fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    dup2(pipeFds[1], 2);
    body();
    _exit(0);
  }
  close(pipeFds[1]);
  std::string text;
  char chunk[512];
  ssize_t n;
  while ((n = read(pipeFds[0], chunk, sizeof chunk)) > 0) text.append(chunk, (size_t)n);
  close(pipeFds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV ? text : "";
}

void barrierChecks() {
  int *out = deviceArray<int>(64);
  barrierAfterEarlyReturn<<<1, 64>>>(out);
  bool ok = cudaGetLastError() == cudaSuccess;
  for (int t = 0; t < 40; ++t) ok = ok && out[t] == ((t + 1) % 40) * 10;
  check(ok, "__syncthreads waits for every live thread, and threads that returned early do not block it");
  cudaFree(out);
}

void shuffleChecks() {
  int *out = deviceArray<int>(64);
  warpSum<<<1, 64>>>(out);
  bool ok = true;
  for (int t = 0; t < 64; ++t) ok = ok && out[t] == (t < 32 ? 496 : 32 * 32 + 496);
  check(ok, "a butterfly of __shfl_xor_sync sums each warp of a 64-thread block");
  std::string error = misuse([&] { shuffleAfterLaneReturned<<<1, 32>>>(out); });
  check(error.find("lane 5, which has returned") != std::string::npos, "a shuffle whose mask names a returned lane is an error", error);
  error = misuse([&] { warpSum<<<1, 48>>>(out); });
  check(error.find("does not have") != std::string::npos, "a full-mask shuffle in a partial warp is an error", error);
  error = misuse([&] { barrierAgainstShuffle<<<1, 32>>>(out); });
  check(error.find("deadlocks") != std::string::npos, "threads of one warp split between a barrier and a shuffle are reported", error);
  cudaFree(out);
}

void launchChecks() {
  int *out = deviceArray<int>(6 * 8);
  coordinates<<<dim3(3, 2), dim3(4, 2)>>>(out);
  bool ok = true;
  for (int b = 0; b < 6; ++b)
    for (int t = 0; t < 8; ++t) ok = ok && out[b * 8 + t] == b * 1000 + t;
  check(ok, "blockIdx, threadIdx, blockDim and gridDim over a 2-D grid of 2-D blocks");
  out[0] = 0;
  writeOne<<<1, 2048>>>(out);
  cudaError_t status = cudaGetLastError();
  check(status == cudaErrorInvalidConfiguration && out[0] == 0, "a block of 2048 threads is a launch error and runs nothing");
  check(cudaGetLastError() == cudaSuccess, "cudaGetLastError clears the error");
  cudaFree(out);
  std::string error = misuse([&] { writeOne<<<1, 1>>>(out); });
  check(error.find("writeOne's argument 0") != std::string::npos && error.find("already freed") != std::string::npos,
        "a kernel launched with a freed buffer is an error", error);
  error = misuse([&] { cudaFree(out); });
  check(error.find("already freed") != std::string::npos, "a double cudaFree is an error", error);
  int local = 0;
  error = misuse([&] { writeOne<<<1, 1>>>(&local); });
  check(error.find("not inside any live allocation") != std::string::npos, "a kernel launched with a host address is an error", error);
}

void memoryChecks() {
  int *in = deviceArray<int>(8);
  int *out = deviceArray<int>(1);
  float *fresh = deviceArray<float>(3);
  check(fresh[0] != fresh[0] && fresh[2] != fresh[2], "new device memory reads as NaN, so a result read before it is written shows");
  std::string error = diesOfFault([&] { copyElement<<<1, 1>>>(in, 8, out); });
  check(error.find("kernel copyElement, block 0,0,0, thread 0,0,0, touched") != std::string::npos && error.find("past the end of a 32-byte cudaMalloc block") != std::string::npos,
        "a kernel reading one element past the end of a block is stopped, naming it", error);
  cudaFree(in);
  // A freed pointer as an argument is refused at the launch; reached from a live one, it faults.
  int *table = deviceArray<int>(2);
  int *stale = deviceArray<int>(4);
  table[0] = 0;
  cudaFree(stale);
  error = diesOfFault([&] { copyElement<<<1, 1>>>(table, stale - table, out); });
  check(error.find("kernel copyElement") != std::string::npos && error.find("inside a freed 16-byte cudaMalloc block") != std::string::npos,
        "a kernel reading a freed block through another pointer is stopped, naming it", error);
  cudaFree(table);
  cudaFree(out);
  cudaFree(fresh);
}

void poolChecks() {
  cudaMemPool_t pool;
  cudaStream_t stream;
  cudaDeviceGetDefaultMemPool(&pool, 0);
  cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  uint64_t keep = UINT64_MAX;
  cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
  auto attr = [&](cudaMemPoolAttr a) {
    uint64_t v = 0;
    cudaMemPoolGetAttribute(pool, a, &v);
    return v;
  };
  void *a = nullptr, *b = nullptr;
  cudaMallocFromPoolAsync(&a, 1000, pool, stream);
  cudaMallocFromPoolAsync(&b, 3000, pool, stream);
  cudaFreeAsync(a, stream);
  check(attr(cudaMemPoolAttrUsedMemCurrent) == 3000 && attr(cudaMemPoolAttrUsedMemHigh) == 4000 && attr(cudaMemPoolAttrReservedMemCurrent) == 4000,
        "the pool counts bytes in use, their peak, and what it keeps cached");
  std::string error = misuse([&] { cudaMemcpyAsync(b, a, 4, cudaMemcpyDeviceToDevice, stream); });
  check(error.find("(source)") != std::string::npos && error.find("already freed") != std::string::npos, "a copy from a freed block is an error", error);
  error = misuse([&] { cudaMemsetAsync(b, 0, 3001, stream); });
  check(error.find("past its end") != std::string::npos, "a memset past the end of a block is an error", error);
  uint64_t zero = 0;
  cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero);
  check(attr(cudaMemPoolAttrUsedMemHigh) == 3000, "resetting the peak restarts it from the bytes in use");
  cudaMemPoolTrimTo(pool, 0);
  check(attr(cudaMemPoolAttrReservedMemCurrent) == 3000, "trimming gives back what is cached, not what is in use");
  size_t freeBytes = 0, total = 0;
  cudaMemGetInfo(&freeBytes, &total);
  size_t previous = ibhost::setCapacity(total - freeBytes + 5000);
  void *c = nullptr;
  check(cudaMallocFromPoolAsync(&c, 6000, pool, stream) == cudaErrorMemoryAllocation && cudaGetLastError() == cudaErrorMemoryAllocation,
        "an allocation past the capacity fails with cudaErrorMemoryAllocation");
  check(cudaMallocFromPoolAsync(&c, 4000, pool, stream) == cudaSuccess, "one within it succeeds");
  cudaFreeAsync(c, stream);
  cudaFreeAsync(b, stream);
  ibhost::setCapacity(previous);
}

// Two rounds of a 32×2 block sharing one array, without the barrier that should end each round: a thread
// of row 1 that runs ahead overwrites its slot with round 2's value before row 0 has read round 1's.
template <bool kTrailingBarrier>
__global__ void twoRounds(int *out) {
  __shared__ int slots[2][32];
  for (int round = 0; round < 2; ++round) {
    slots[threadIdx.y][threadIdx.x] = (round + 1) * (int)(threadIdx.y + 1);
    __syncthreads();
    if (threadIdx.y == 0) out[round * 32 + threadIdx.x] = slots[0][threadIdx.x] + slots[1][threadIdx.x];
    if (kTrailingBarrier) __syncthreads();
  }
}

// The same race between warps, with each warp's value published by its lane 0 after a shuffle (a
// reduction's shape): only a warp held back past the barrier, as a GPU may hold one, shows it.
template <bool kTrailingBarrier>
__global__ void twoWarpRounds(int *out) {
  __shared__ int perWarp[2];
  int warp = threadIdx.x / 32;
  for (int round = 0; round < 2; ++round) {
    int v = __shfl_xor_sync(0xffffffffu, (round + 1) * (warp + 1), 1);
    if (threadIdx.x % 32 == 0) perWarp[warp] = v;
    __syncthreads();
    if (threadIdx.x == 0) out[round] = perWarp[0] + perWarp[1];
    if (kTrailingBarrier) __syncthreads();
  }
}

// Block b reads what block b − 1 wrote: only right if blocks run in index order, which no GPU promises.
__global__ void readsPreviousBlock(int *out) {
  int b = blockIdx.x;
  out[b] = b == 0 ? 1 : out[b - 1] + 1;
}

/** Whether twoRounds wrote round 1's sums (3) and round 2's (6). */
bool twoRoundsRight(const int *out) {
  bool ok = true;
  for (int i = 0; i < 64; ++i) ok = ok && out[i] == (i < 32 ? 3 : 6);
  return ok;
}

/** The schedule changes the order of blocks and of threads, never which run: a race then shows. */
void scheduleChecks() {
  int *out = deviceArray<int>(7 * 5 * 6 * 3);
  bool covered = true;
  for (ibhost::Schedule schedule : {ibhost::Schedule::Reversed, ibhost::Schedule::Shuffled}) {
    ibhost::setSchedule(schedule, 3);
    coordinates<<<dim3(7, 5), dim3(6, 3)>>>(out);
    for (int b = 0; b < 35; ++b)
      for (int t = 0; t < 18; ++t) covered = covered && out[b * 18 + t] == b * 1000 + t;
  }
  ibhost::setSchedule(ibhost::Schedule::InOrder, 0);
  check(covered, "reversed and shuffled schedules still run every block and thread once, with their coordinates");

  twoRounds<false><<<1, dim3(32, 2)>>>(out);
  bool inOrder = twoRoundsRight(out);
  ibhost::setSchedule(ibhost::Schedule::Reversed, 0);
  twoRounds<false><<<1, dim3(32, 2)>>>(out);
  bool reversed = twoRoundsRight(out);
  int wrongSeeds = 0, rightWithBarrier = 0;
  for (int seed = 1; seed <= 16; ++seed) {
    ibhost::setSchedule(ibhost::Schedule::Shuffled, seed);
    twoRounds<false><<<1, dim3(32, 2)>>>(out);
    wrongSeeds += !twoRoundsRight(out);
    twoRounds<true><<<1, dim3(32, 2)>>>(out);
    rightWithBarrier += twoRoundsRight(out);
  }
  ibhost::setSchedule(ibhost::Schedule::InOrder, 0);
  check(inOrder && !reversed && wrongSeeds > 0 && rightWithBarrier == 16,
        "a missing barrier at the end of a shared-memory round passes in order but fails reversed and shuffled; with it, every order passes",
        std::to_string(wrongSeeds) + " of 16 seeds wrong without the barrier");

  auto warpRoundsRight = [&] { return out[0] == 3 && out[1] == 6; };
  twoWarpRounds<false><<<1, 64>>>(out);
  bool warpsInOrder = warpRoundsRight();
  ibhost::setSchedule(ibhost::Schedule::Reversed, 0);
  twoWarpRounds<false><<<1, 64>>>(out);
  bool warpsReversed = warpRoundsRight();
  wrongSeeds = 0;
  rightWithBarrier = 0;
  for (int seed = 1; seed <= 16; ++seed) {
    ibhost::setSchedule(ibhost::Schedule::Shuffled, seed);
    twoWarpRounds<false><<<1, 64>>>(out);
    wrongSeeds += !warpRoundsRight();
    twoWarpRounds<true><<<1, 64>>>(out);
    rightWithBarrier += warpRoundsRight();
  }
  ibhost::setSchedule(ibhost::Schedule::InOrder, 0);
  check(warpsInOrder && warpsReversed && wrongSeeds > 0 && rightWithBarrier == 16,
        "a missing barrier between warps' rounds passes in order and reversed but fails shuffled, which holds a warp back; with it, every order passes",
        std::to_string(wrongSeeds) + " of 16 seeds wrong without the barrier");

  for (int i = 0; i < 8; ++i) out[i] = 0;
  readsPreviousBlock<<<8, 1>>>(out);
  bool blocksInOrder = out[7] == 8;
  ibhost::setSchedule(ibhost::Schedule::Reversed, 0);
  for (int i = 0; i < 8; ++i) out[i] = 0;
  readsPreviousBlock<<<8, 1>>>(out);
  ibhost::setSchedule(ibhost::Schedule::InOrder, 0);
  check(blocksInOrder && out[7] != 8, "a block reading another block's output passes in order and fails reversed");
  cudaFree(out);
}

__global__ void addOne(float *x) { x[threadIdx.x] += 1.f; }

/** Deferred mode runs stream work behind the host, in order, and only as far as a wait needs. */
void deferredChecks() {
  cudaStream_t stream;
  cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  cudaMemPool_t pool;
  cudaDeviceGetDefaultMemPool(&pool, 0);
  void *device = nullptr, *pinned = nullptr;
  cudaMallocFromPoolAsync(&device, 64, pool, stream);
  cudaHostAlloc(&pinned, 64, cudaHostAllocDefault);
  float *x = static_cast<float *>(device), *host = static_cast<float *>(pinned);
  cudaEvent_t first, second;
  cudaEventCreate(&first);
  cudaEventCreate(&second);
  ibhost::setDeferredDepth(100);

  float pageable[16];
  for (float &v : pageable) v = 1.f;
  cudaMemcpyAsync(x, pageable, 64, cudaMemcpyHostToDevice, stream);
  for (float &v : pageable) v = 5.f;  // CUDA has staged a pageable source: the copy still brings 1s
  addOne<<<1, 16, 0, stream>>>(x);
  cudaMemcpyAsync(host, x, 64, cudaMemcpyDeviceToHost, stream);
  cudaEventRecord(first, stream);
  addOne<<<1, 16, 0, stream>>>(x);
  cudaEventRecord(second, stream);
  check(cudaEventQuery(first) == cudaErrorNotReady && cudaGetLastError() == cudaSuccess && host[0] != 2.f,
        "queued work has not run: its event is not ready (not an error) and a copy into pinned memory has not landed");
  cudaEventSynchronize(first);
  check(host[0] == 2.f && host[15] == 2.f && cudaEventQuery(first) == cudaSuccess && cudaEventQuery(second) == cudaErrorNotReady,
        "cudaEventSynchronize runs the queue up to its event and no further; the pageable source was taken at the call");
  float back[16] = {};
  cudaMemcpyAsync(back, x, 64, cudaMemcpyDeviceToHost, stream);  // into pageable memory: waits
  check(back[0] == 3.f && cudaEventQuery(second) == cudaSuccess, "a copy into pageable memory waits for the work before it");

  cudaFreeAsync(device, stream);
  addOne<<<1, 16, 0, stream>>>(x);  // accepted: the free has not run yet
  std::string error = misuse([&] { cudaStreamSynchronize(stream); });
  check(error.find("queued stream work failed") != std::string::npos && error.find("addOne's argument 0") != std::string::npos,
        "a kernel on a buffer freed before it ran fails at the next wait, naming it", error);
  check(misuse([&] { cudaStreamSynchronize(stream); }).empty(), "the deferred error is reported once");

  ibhost::setDeferredDepth(0);
  cudaEventDestroy(first);
  cudaEventDestroy(second);
  cudaFreeHost(pinned);
}

void bf16Checks() {
  auto round = [](float v) { return __bfloat162float(__float2bfloat16_rn(v)); };
  const float tieDown = 1.f + 1.f / 256, tieUp = 1.f + 3.f / 256, above = 1.f + 1.f / 256 + 1.f / 65536;
  check(round(tieDown) == 1.f && round(tieUp) == 1.f + 4.f / 256 && round(above) == 1.f + 2.f / 256, "bf16 rounds to nearest, ties to even");
  float nan = __builtin_nansf("0x1");  // 0x7f800001: truncated, or rounded without care, it would read as infinity
  check(round(nan) != round(nan) && round(-__builtin_inff()) == -__builtin_inff(), "bf16 keeps NaN a NaN and infinities infinite");
}

}  // namespace

int main() {
  barrierChecks();
  shuffleChecks();
  launchChecks();
  scheduleChecks();
  memoryChecks();
  poolChecks();
  deferredChecks();
  bf16Checks();
  return failures == 0 ? 0 : 1;
}
