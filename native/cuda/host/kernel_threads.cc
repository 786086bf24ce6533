// HOST EMULATION ONLY: runs a kernel's grid on the CPU (see kernel_language.h for the model).
//
// Each thread of a block is a fiber with its own small stack; the scheduler resumes every runnable
// fiber in turn until it returns or waits. Waiting happens only in two places:
//  - __syncthreads(): the barrier opens once every thread of the block that has not returned waits at
//    it. A thread that returned early therefore does not deadlock the others (what GPUs do in practice;
//    CUDA leaves a barrier in divergent code undefined). Threads waiting at different barriers of the
//    same kernel are not told apart.
//  - a warp shuffle: it completes once every lane of its mask waits at a shuffle; each then reads its
//    partner's value. A lane of the mask that has returned, or that does not exist (a partial warp), or
//    that waits at __syncthreads() instead, is an error, reported as a MisuseError from the launch.
// The order in which a grid's blocks run, and in which a block's runnable threads are resumed in each round,
// is the schedule (fake_runtime.h, setSchedule): by index by default, reversed or seeded-shuffled on request,
// so that a result that depends on it (a race on a GPU) shows as a difference.
// The fiber switch is a few instructions of x86-64 assembly: glibc's swapcontext makes a system call per
// switch, which made the suite's training steps too slow to run in CI.
#include <sys/mman.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include "fake_runtime.h"
#include "kernel_language.h"

#if !defined(__x86_64__)
#error "the host emulation's fiber switch is written for x86-64"
#endif

uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;

// ibhost_switch(save, load): pushes the callee-saved registers (and the SSE/x87 control words) on the
// current stack, stores the stack pointer in *save, loads `load` as the stack pointer and pops the same.
extern "C" void ibhost_switch(void **save, void *load);
asm(R"(
  .text
  .globl ibhost_switch
  .hidden ibhost_switch
  .type ibhost_switch, @function
ibhost_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ibhost_switch, .-ibhost_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");

namespace ibhost {
namespace {

constexpr size_t kStackBytes = 64 * 1024;
constexpr int kMaxThreads = 1024;

enum class Wait { Runnable, Barrier, Shuffle, Returned };

struct Thread {
  void *sp = nullptr;
  Wait wait = Wait::Runnable;
  unsigned shuffleMask = 0;
  int shuffleLaneMask = 0;
  unsigned char value[8];  // a shuffle's value: published on arrival, the partner's on release
};

struct Scheduler {
  std::vector<char *> stacks;  // reused by every launch; a guard page below each
  std::vector<Thread> threads;
  int current = -1;
  void *schedulerSp = nullptr;
  ThreadBody body = nullptr;
  void *closure = nullptr;
  std::string error;  // set by a thread that cannot go on (it switches back and is never resumed)
  std::map<std::string, unsigned long long> launches;
  const char *kernel = nullptr;  // the grid running now
  Schedule schedule = Schedule::InOrder;
  uint64_t random = 0;  // xorshift64 state of Schedule::Shuffled
};

Scheduler &scheduler() {
  static Scheduler instance;
  return instance;
}

uint64_t nextRandom() {
  uint64_t &x = scheduler().random;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

uint64_t gcd(uint64_t a, uint64_t b) {
  while (b != 0) {
    uint64_t r = a % b;
    a = b;
    b = r;
  }
  return a;
}

/** Position k of a permutation of [0, count): k ↦ (step·k + offset) mod count, step coprime to count. */
struct Order {
  uint64_t count, step, offset;
  uint64_t operator()(uint64_t k) const { return (uint64_t)(((unsigned __int128)step * k + offset) % count); }
};

/** The order of `count` items (blocks of a grid, or the threads of one round) under the schedule. */
Order orderOf(uint64_t count) {
  switch (scheduler().schedule) {
    case Schedule::InOrder: return Order{count, 1, 0};
    case Schedule::Reversed: return Order{count, count - 1, count - 1};  // (count−1)·(k+1) ≡ count−1−k
    case Schedule::Shuffled: {
      if (count <= 1) return Order{count, 1, 0};
      uint64_t step;
      do step = 1 + nextRandom() % (count - 1);
      while (gcd(step, count) != 1);
      return Order{count, step, nextRandom() % count};
    }
  }
  return Order{count, 1, 0};
}

[[noreturn]] void threadEntry() {
  Scheduler &s = scheduler();
  s.body(s.closure);
  Thread &self = s.threads[s.current];
  self.wait = Wait::Returned;
  ibhost_switch(&self.sp, s.schedulerSp);
  std::abort();  // a returned thread is never resumed
}

char *stackTop(int index) {
  Scheduler &s = scheduler();
  while ((int)s.stacks.size() <= index) {
    long page = sysconf(_SC_PAGESIZE);
    void *base = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::runtime_error("host emulation: no memory for a kernel thread's stack");
    mprotect(base, page, PROT_NONE);  // a stack overflow faults instead of corrupting its neighbour
    s.stacks.push_back(static_cast<char *>(base) + page + kStackBytes);
  }
  return s.stacks[index];
}

/** A fresh fiber whose first switch-in "returns" into threadEntry with an ABI-aligned stack. */
void *freshStack(int index) {
  uintptr_t *sp = reinterpret_cast<uintptr_t *>(stackTop(index));
  *--sp = 0;                                            // threadEntry's (never used) return address
  *--sp = reinterpret_cast<uintptr_t>(&threadEntry);    // popped by ibhost_switch's ret
  for (int i = 0; i < 6; ++i) *--sp = 0;                // rbp rbx r12 r13 r14 r15
  uint32_t mxcsr;
  uint16_t fpucw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  *--sp = uintptr_t(mxcsr) | (uintptr_t(fpucw) << 32);
  return sp;
}

/** From inside a thread: wait (or give up with an error) and switch to the scheduler. */
void suspend(Wait wait) {
  Scheduler &s = scheduler();
  if (s.current < 0) {
    std::fprintf(stderr, "host emulation: __syncthreads or a warp shuffle called outside a kernel\n");
    std::abort();
  }
  Thread &self = s.threads[s.current];
  self.wait = wait;
  ibhost_switch(&self.sp, s.schedulerSp);
}

void failInThread(const std::string &message) {
  Scheduler &s = scheduler();
  if (s.error.empty()) s.error = message;
  suspend(Wait::Returned);
  std::abort();  // never resumed once an error is set
}

std::string describe(const char *kernel, int thread) {
  const dim3 &b = blockDim;
  return std::string(kernel) + " (block " + std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) + "," + std::to_string(blockIdx.z) +
         ", thread " + std::to_string(thread % b.x) + "," + std::to_string(thread / b.x % b.y) + "," + std::to_string(thread / (b.x * b.y)) + ")";
}

/** Completes the shuffles whose lanes have all arrived; returns whether any did, or sets an error. */
bool releaseShuffles(const char *kernel) {
  Scheduler &s = scheduler();
  int count = (int)s.threads.size();
  bool released = false;
  for (int warp = 0; warp * 32 < count; ++warp) {
    int first = warp * 32;
    int waiting = -1;
    for (int lane = 0; lane < 32 && first + lane < count; ++lane) {
      if (s.threads[first + lane].wait == Wait::Shuffle) waiting = first + lane;
    }
    if (waiting < 0) continue;
    unsigned mask = s.threads[waiting].shuffleMask;
    bool complete = true;
    for (int lane = 0; lane < 32; ++lane) {
      if (!(mask >> lane & 1u)) continue;
      int t = first + lane;
      if (t >= count) {
        s.error = "host emulation: a warp shuffle in " + describe(kernel, waiting) + " names lane " + std::to_string(lane) + ", which this block does not have";
        return false;
      }
      const Thread &other = s.threads[t];
      if (other.wait == Wait::Returned) {
        s.error = "host emulation: a warp shuffle in " + describe(kernel, waiting) + " waits for lane " + std::to_string(lane) + ", which has returned";
        return false;
      }
      if (other.wait != Wait::Shuffle) complete = false;
      else if (other.shuffleMask != mask) {
        s.error = "host emulation: the lanes of a warp shuffle in " + describe(kernel, waiting) + " disagree on its mask";
        return false;
      }
    }
    if (!complete) continue;
    unsigned char values[32][8];
    for (int lane = 0; lane < 32; ++lane) {
      if (!(mask >> lane & 1u)) continue;
      const Thread &self = s.threads[first + lane];
      int partner = lane ^ self.shuffleLaneMask;
      if (partner < 0 || partner >= 32 || !(mask >> partner & 1u)) {
        s.error = "host emulation: a warp shuffle in " + describe(kernel, first + lane) + " reads lane " + std::to_string(partner) + ", outside its mask";
        return false;
      }
      std::memcpy(values[lane], s.threads[first + partner].value, 8);
    }
    for (int lane = 0; lane < 32; ++lane) {
      if (!(mask >> lane & 1u)) continue;
      Thread &self = s.threads[first + lane];
      std::memcpy(self.value, values[lane], 8);
      self.wait = Wait::Runnable;
    }
    released = true;
  }
  return released;
}

/** Under Schedule::Shuffled, the warp held back from the start and after each barrier (−1: none): it
 *  resumes only once every other thread waits at the barrier or has returned, as a warp a GPU delays
 *  would. A write another warp makes early in its next round then lands before the held warp's reads. */
int heldWarp(int count) {
  int warps = (count + 31) / 32;
  return scheduler().schedule == Schedule::Shuffled && warps > 1 ? (int)(nextRandom() % (uint64_t)warps) : -1;
}

void runBlock(const char *kernel) {
  Scheduler &s = scheduler();
  int count = (int)s.threads.size();
  for (int i = 0; i < count; ++i) {
    s.threads[i] = Thread();
    s.threads[i].sp = freshStack(i);
  }
  int held = heldWarp(count);
  for (;;) {
    Order order = orderOf((uint64_t)count);
    for (int k = 0; k < count; ++k) {
      int i = (int)order((uint64_t)k);
      Thread &t = s.threads[i];
      if (t.wait != Wait::Runnable || i / 32 == held) continue;
      s.current = i;
      threadIdx = uint3{i % blockDim.x, i / blockDim.x % blockDim.y, i / (blockDim.x * blockDim.y)};
      ibhost_switch(&s.schedulerSp, t.sp);
      if (!s.error.empty()) return;
    }
    int live = 0, atBarrier = 0, heldRunnable = 0;
    for (int i = 0; i < count; ++i) {
      const Thread &t = s.threads[i];
      live += t.wait != Wait::Returned;
      atBarrier += t.wait == Wait::Barrier;
      heldRunnable += t.wait == Wait::Runnable;  // after a round only the held warp's threads can be
    }
    if (live == 0) return;
    if (releaseShuffles(kernel)) continue;
    if (!s.error.empty()) return;
    if (heldRunnable > 0) {  // the others cannot go on without it
      held = -1;
      continue;
    }
    if (atBarrier == live) {
      for (Thread &t : s.threads) {
        if (t.wait == Wait::Barrier) t.wait = Wait::Runnable;
      }
      held = heldWarp(count);
      continue;
    }
    s.error = "host emulation: " + std::string(kernel) + " deadlocks: in block " + std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) + "," +
              std::to_string(blockIdx.z) + ", " + std::to_string(atBarrier) + " of " + std::to_string(live) +
              " live threads wait at __syncthreads() while the others wait at a warp shuffle that cannot complete";
    return;
  }
}

bool validConfiguration(const LaunchConfig &c) {
  unsigned long long threads = (unsigned long long)c.block.x * c.block.y * c.block.z;
  return threads >= 1 && threads <= kMaxThreads && c.block.x <= 1024 && c.block.y <= 1024 && c.block.z <= 64 && c.grid.x >= 1 &&
         c.grid.x <= 2147483647u && c.grid.y >= 1 && c.grid.y <= 65535 && c.grid.z >= 1 && c.grid.z <= 65535 && c.sharedBytes == 0;
}

}  // namespace

void shuffleXor(unsigned mask, int laneMask, int width, void *value, size_t bytes) {
  Scheduler &s = scheduler();
  if (width != 32) failInThread("host emulation: a warp shuffle of width " + std::to_string(width) + " (only 32 is emulated)");
  Thread &self = s.threads[s.current];
  int lane = s.current % 32;
  if (!(mask >> lane & 1u)) failInThread("host emulation: a warp shuffle's mask leaves out the lane that calls it, lane " + std::to_string(lane));
  self.shuffleMask = mask;
  self.shuffleLaneMask = laneMask;
  std::memcpy(self.value, value, bytes);
  suspend(Wait::Shuffle);
  std::memcpy(value, self.value, bytes);
}

Schedule setSchedule(Schedule schedule, uint64_t seed) {
  Scheduler &s = scheduler();
  Schedule previous = s.schedule;
  s.schedule = schedule;
  s.random = seed * 0x9e3779b97f4a7c15ull + 1;  // never 0, which xorshift would keep
  return previous;
}

void checkKernelArgument(const char *kernel, int index, const void *ptr) {
  checkDevicePointer(ptr, std::string(kernel) + "'s argument " + std::to_string(index));
}

const std::map<std::string, unsigned long long> &kernelLaunches() { return scheduler().launches; }

void describeRunningThread(char *buffer, size_t size) {
  const Scheduler &s = scheduler();
  if (!s.kernel || s.current < 0) {
    std::snprintf(buffer, size, "host code (no kernel running)");
    return;
  }
  unsigned t = (unsigned)s.current;
  std::snprintf(buffer, size, "kernel %s, block %u,%u,%u, thread %u,%u,%u,", s.kernel, blockIdx.x, blockIdx.y, blockIdx.z, t % blockDim.x,
                t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y));
}

bool acceptLaunch(const char *kernel, const LaunchConfig &config) {
  if (scheduler().current >= 0) throw MisuseError(std::string("host emulation: ") + kernel + " launched from inside a kernel");
  if (validConfiguration(config)) return true;
  // What a GPU launch does: nothing runs, and the error is the next cudaGetLastError's.
  setLastError(cudaErrorInvalidConfiguration);
  return false;
}

void runGrid(const char *kernel, const LaunchConfig &config, ThreadBody body, void *closure) {
  Scheduler &s = scheduler();
  if (s.current >= 0) throw MisuseError(std::string("host emulation: ") + kernel + " launched from inside a kernel");
  if (!validConfiguration(config)) {
    // What a GPU launch does: nothing runs, and the error is the next cudaGetLastError's.
    setLastError(cudaErrorInvalidConfiguration);
    return;
  }
  s.launches[kernel] += 1;
  s.kernel = kernel;
  gridDim = config.grid;
  blockDim = config.block;
  s.threads.assign(config.block.x * config.block.y * config.block.z, Thread{});
  s.body = body;
  s.closure = closure;
  s.error.clear();
  uint64_t gx = config.grid.x, gy = config.grid.y, blocks = gx * gy * config.grid.z;
  Order order = orderOf(blocks);
  for (uint64_t k = 0; k < blocks; ++k) {
    uint64_t b = order(k);
    blockIdx = uint3{(unsigned)(b % gx), (unsigned)(b / gx % gy), (unsigned)(b / (gx * gy))};
    runBlock(kernel);
    if (!s.error.empty()) {
      s.current = -1;
      s.kernel = nullptr;
      throw MisuseError(s.error);
    }
  }
  s.current = -1;
  s.kernel = nullptr;
}

}  // namespace ibhost

void __syncthreads() { ibhost::suspend(ibhost::Wait::Barrier); }
