// HOST EMULATION ONLY: the fake device's memory blocks (device_memory.cc), for fake_runtime.cc. Kernels
// dereference raw pointers, so for them the memory itself is the check: a block ends at an inaccessible
// guard page and a freed block becomes inaccessible, so a kernel touching either stops the process with
// a message naming the kernel, its block and thread. New blocks are filled with 0xff bytes (NaN as
// float32, -1 as int32), so a result that is read before it is written shows.
#pragma once
#include <cstddef>
#include "fake_runtime.h"

namespace ibhost {

enum class BlockKind { Pool, Direct, Pinned };

/** A new block of `kind` (null if the host is out of memory). */
void *allocateBlock(size_t bytes, BlockKind kind);
/** Frees the live block of `kind` that starts at `ptr` and returns its size; MisuseError otherwise. */
size_t releaseBlock(void *ptr, BlockKind kind, const char *what);
/** Whether [ptr, ptr + bytes) lies in a live pinned block (a copy from or to it is asynchronous). */
bool insidePinnedBlock(const void *ptr, size_t bytes);
/** A host-side copy operand: inside a pinned block, within its bounds; or outside every block (pageable). */
void checkHostRange(const void *ptr, size_t bytes, const char *what);

}  // namespace ibhost
