import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CudaAddon } from '../../src/backend/cuda/addon.js';

/**
 * The cuda addon's own C++ and CUDA sources (native/cuda/src) compiled for the CPU with g++ against a fake
 * CUDA runtime and stand-ins for cuDNN and cuBLAS (native/cuda/host, docs/cuda-host-emulation.md), for the
 * test/cuda-host*.test.ts files: built when missing or older than its sources (a few seconds) and loaded,
 * not yet initialized (./cuda-host-addon.ts initializes it the usual way; a file that sets the emulation up
 * first, or starts the CLI on it, takes it from here). Where it cannot be built (not x86-64, no g++, no node
 * headers) `hostSkip` says why; a failed compile is not a reason to skip: it throws.
 */
export const root = fileURLToPath(new URL('../..', import.meta.url));
const buildDir = join(root, 'native', 'cuda', 'build-host');
export const hostAddonPath = join(buildDir, 'infobatch_cuda_host.node');
export const selftestPath = join(buildDir, 'emulation_selftest');

export type HostSchedule = 'in-order' | 'reversed' | 'shuffled';
export type HostMemoryPools = 'working' | 'absent' | 'refusing';

export interface HostAddon extends CudaAddon {
  readonly hostEmulation: string;
  /** The fake device's memory size in bytes; returns the previous one. */
  hostEmulationSetCapacity(bytes: number): number;
  /** Launches so far per kernel, by the name written at the launch (template arguments as in the source). */
  hostEmulationLaunches(): Record<string, number>;
  /** Stream work queued up to `items` deep and run behind the host (0: synchronous); returns the previous depth. */
  hostEmulationSetDeferred(items: number): number;
  /**
   * The order the kernel threads run in: blocks and each round of a block's threads by index ('in-order', the
   * default), highest first ('reversed'), or pseudo-random from `seed` ('shuffled'). A kernel with a race
   * gives a different result under another order (fake_runtime.h). Returns the previous schedule.
   */
  hostEmulationSetSchedule(schedule: HostSchedule, seed?: number): HostSchedule;
  /**
   * The most blocks the addon's launches ask for along x and along y/z before their grid-stride loops take
   * over (kernels.h's GridCaps; 1048560 and 65535 by default); returns the previous pair. Lowered, the loops
   * and the barriers between their rounds run on small tensors.
   */
  hostEmulationSetGridCaps(x: number, yz: number): [number, number];
  /**
   * Whether the emulated device has memory pools: 'working' (the default), 'absent' (the attribute reads 0
   * and the pool calls fail, as on a vGPU) or 'refusing' (the attribute reads 1, allocations fail). Takes
   * effect for init, which chooses the allocator. Returns the previous value.
   */
  hostEmulationSetMemoryPools(pools: HostMemoryPools): HostMemoryPools;
  /** cuDNN and cuBLAS objects of the stand-ins alive now, by kind. */
  hostEmulationLibraryObjects(): Record<string, number>;
  /** Calls of the stand-ins so far, by function (convolutions also by algorithm: "cudnnConvolutionForward algo 1"). */
  hostEmulationLibraryCalls(): Record<string, number>;
}

/** The newest modification time of what the host build compiles. */
function newestSource(): number {
  const dirs = [join(root, 'native', 'cuda', 'src'), join(root, 'native', 'cuda', 'host')];
  const files = [join(root, 'scripts', 'build-cuda.mjs'), ...dirs.flatMap((dir) => readdirSync(dir).map((name) => join(dir, name)))];
  return Math.max(...files.map((file) => statSync(file).mtimeMs));
}

/** Builds the host addon when missing or stale; returns why it cannot be built here, or null. */
function buildIfStale(): string | null {
  const built = [hostAddonPath, selftestPath].every((file) => existsSync(file) && statSync(file).mtimeMs >= newestSource());
  if (built) return null;
  const build = spawnSync(process.execPath, [join(root, 'scripts', 'build-cuda.mjs'), '--host-emulation', '--strict'], { encoding: 'utf8' });
  const line = build.stdout.trim().split('\n').at(-1) ?? '';
  if (build.status === 3) return line;
  if (build.status !== 0) throw new Error(`the host emulation build failed: ${line}${build.stderr}`);
  return null;
}

const skipReason = buildIfStale();
if (skipReason) console.log(`cuda host emulation tests skipped: ${skipReason}`);
/** false, or why the host emulation tests cannot run here. */
export const hostSkip: string | false = skipReason ?? false;
/** The loaded host addon, not initialized (null where it cannot be built). */
export const uninitializedHostAddon = skipReason ? null : (createRequire(import.meta.url)(hostAddonPath) as HostAddon);
