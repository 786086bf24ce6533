import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ALLOCATORS, CONV_LAYOUTS, isCudaOutOfMemory, type CudaDeviceInfo } from '../src/backend/cuda/addon.js';
import { registerCudaBackend } from '../src/backend/cuda/register.js';
import { buildModel } from '../src/models/registry.js';
import { makeTrainStep } from '../scripts/gpu-check-train-step.js';
import { hostAddonPath, hostSkip, uninitializedHostAddon, type HostMemoryPools } from './helpers/cuda-host-build.js';
import { random } from './helpers/cuda-kernel-suite.js';

/**
 * The device allocator (native/cuda/src/device_allocator.cc) where CUDA's memory pools cannot be used, as
 * on vGPU profiles and some sandboxed drivers: which allocator init chooses and why, and the caching
 * allocator on cudaMalloc that it falls back to — reuse, bookkeeping, the retry when the device is full,
 * and training through it. The kernel suites of the other cuda-host files run on the pool; the CLI test
 * runs on this fallback.
 */

const NO_LIBRARIES = { cudnnParts: [], cudnn: '', cublasLt: '', cublas: '', device: 0 };
const MiB = 2 ** 20;

/** init's report in a fresh process whose emulated device has `pools`, with `allocator` asked for. */
function initElsewhere(pools: HostMemoryPools, allocator: keyof typeof ALLOCATORS): { info?: CudaDeviceInfo; error?: string } {
  const script = `const a = require(${JSON.stringify(hostAddonPath)});
    a.hostEmulationSetMemoryPools(${JSON.stringify(pools)});
    try { console.log(JSON.stringify({ info: a.init(${JSON.stringify({ ...NO_LIBRARIES, allocator: ALLOCATORS[allocator] })}) })); }
    catch (error) { console.log(JSON.stringify({ error: error.message })); }`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as { info?: CudaDeviceInfo; error?: string };
}

describe('choosing the device allocator', { skip: hostSkip }, () => {
  it('auto takes the CUDA memory pool where it works', () => {
    const { info } = initElsewhere('working', 'auto');
    assert.equal(info?.allocator, 'CUDA memory pool');
    assert.equal(info?.poolUnavailable, undefined);
  });

  it('auto falls back to the caching allocator, saying why, where the device has no pools or refuses to allocate from one', () => {
    const absent = initElsewhere('absent', 'auto').info;
    assert.equal(absent?.allocator, 'caching allocator on cudaMalloc');
    assert.equal(absent?.poolUnavailable, 'the device has no memory pools (cudaDevAttrMemoryPoolsSupported is 0)');
    const refusing = initElsewhere('refusing', 'auto').info;
    assert.equal(refusing?.allocator, 'caching allocator on cudaMalloc');
    assert.equal(refusing?.poolUnavailable, 'cudaMallocFromPoolAsync failed: cudaErrorNotSupported (operation not supported)');
  });

  it('pool insists on the pool (init fails, saying why) and caching takes the caching allocator even where pools work', () => {
    assert.deepEqual(initElsewhere('refusing', 'pool'), { error: 'the CUDA memory pool cannot be used: cudaMallocFromPoolAsync failed: cudaErrorNotSupported (operation not supported)' });
    assert.deepEqual(initElsewhere('working', 'caching').info?.allocator, 'caching allocator on cudaMalloc');
  });
});

describe('the caching allocator on cudaMalloc (the emulated device has no memory pools)', { skip: hostSkip }, () => {
  const addon = uninitializedHostAddon!;
  if (!hostSkip) {
    addon.hostEmulationSetMemoryPools('absent');
    const info = addon.init(NO_LIBRARIES);
    assert.equal(info.allocator, 'caching allocator on cudaMalloc');
    // Small workspaces for dnn.cc's algorithm searches, and one layout to search: they write the workspace in full.
    addon.hostEmulationSetCapacity(64 * MiB);
    addon.setConvLayout(CONV_LAYOUTS.nhwc);
    registerCudaBackend(addon);
  }
  const stats = () => addon.stats();

  it('hands a freed block out again to a request of at least half its size, and takes a new one for a smaller request', () => {
    const a = addon.malloc(MiB);
    const reserved = stats().bytesReserved;
    addon.free(a);
    assert.equal(stats().bytesReserved, reserved, 'a freed block stays cached');
    const small = addon.malloc(400 * 1024);
    assert.notEqual(small, a);
    assert.equal(stats().bytesReserved, reserved + 400 * 1024, 'under half the cached size: a block of its own');
    const b = addon.malloc(600 * 1024);
    assert.equal(b, a, 'best fit: the cached 1 MiB block serves 600 KiB');
    assert.equal(stats().bytesReserved, reserved + 400 * 1024);
    addon.free(b);
    addon.free(small);
  });

  it('counts what is in use, reserved and the peak (in 512-byte granules), and releaseCaches gives the cache back to the device', () => {
    addon.releaseCaches();
    const base = stats();
    assert.equal(base.bytesReserved, base.bytesInUse);
    addon.resetPeak();
    const a = addon.malloc(1000);
    const b = addon.malloc(3000);
    addon.free(a);
    const now = stats();
    assert.deepEqual([now.bytesInUse - base.bytesInUse, now.peakBytesInUse - base.bytesInUse, now.bytesReserved - base.bytesInUse], [3072, 4096, 4096]);
    addon.resetPeak();
    assert.equal(stats().peakBytesInUse, base.bytesInUse + 3072);
    addon.free(b);
    const freeBefore = stats().deviceFreeBytes;
    addon.releaseCaches();
    assert.deepEqual([stats().bytesReserved, stats().deviceFreeBytes], [base.bytesInUse, freeBefore + 4096]);
  });

  it('when the device is full it gives its cache back and tries again; past that, one out-of-memory error and nothing held', () => {
    addon.releaseCaches();
    const base = stats();
    const cached = [addon.malloc(8 * MiB), addon.malloc(8 * MiB)];
    cached.forEach((ptr) => addon.free(ptr));
    // Room for 12 MiB beyond what is in use: only the 16 MiB cached must go for a new 12 MiB block.
    const previous = addon.hostEmulationSetCapacity(base.deviceTotalBytes - base.deviceFreeBytes + 12 * MiB);
    try {
      const big = addon.malloc(12 * MiB);
      assert.deepEqual([stats().bytesInUse, stats().bytesReserved], [base.bytesInUse + 12 * MiB, base.bytesInUse + 12 * MiB]);
      let caught: unknown;
      try {
        addon.malloc(20 * MiB);
      } catch (error) {
        caught = error;
      }
      assert.ok(isCudaOutOfMemory(caught), String(caught));
      assert.match((caught as Error).message, /^CUDA out of memory: could not allocate 20\.0 MiB \(\d+\.\d MiB free of \d+\.\d MiB\)$/);
      assert.equal(stats().bytesInUse, base.bytesInUse + 12 * MiB);
      addon.free(big);
    } finally {
      addon.hostEmulationSetCapacity(previous);
    }
  });

  it('refuses to free an address it did not hand out', () => {
    const a = addon.malloc(64);
    assert.throws(() => addon.free(a + 512), /release of a device address the allocator did not hand out/);
    addon.free(a);
    assert.throws(() => addon.free(a), /release of a device address the allocator did not hand out/);
  });

  it('trains as the cpu backend does, blocks reused with the last step\'s values in them, and allocates nothing new after the first steps', async () => {
    // Reused blocks hold stale numbers where a fresh one is NaN-filled: a kernel that relies on what an
    // output held before it ran shows here as a loss apart from the cpu's.
    const steps = 8;
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const model = buildModel('ResNetTiny', { inputShape: [8, 8, 3], numClasses: 4, seed: 3 });
      const step = makeTrainStep(model, { learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4, labelSmoothing: 0.1 });
      const labels = tf.tensor1d(Array.from({ length: 8 }, (_, i) => i % 4), 'int32');
      const images = tf.tensor4d(random(8 * 8 * 8 * 3, 11), [8, 8, 8, 3]);
      const weights = tf.tensor1d(Array.from({ length: 8 }, (_, i) => 1 + (i % 3) / 2));
      const losses: number[] = [];
      const reserved: number[] = [];
      for (let i = 0; i < steps; i++) {
        losses.push(await step(images, labels, weights));
        if (backend === 'cuda') reserved.push(stats().bytesReserved);
      }
      step.dispose();
      model.dispose();
      tf.dispose([images, labels, weights]);
      return { losses, reserved };
    };
    const cpu = await run('cpu');
    const cuda = await run('cuda');
    cuda.losses.forEach((loss, i) => assert.ok(Math.abs(loss - cpu.losses[i]!) < 1e-3 * Math.abs(cpu.losses[i]!), `step ${i}: cuda ${loss}, cpu ${cpu.losses[i]}`));
    assert.deepEqual(cuda.reserved.slice(3), Array(steps - 3).fill(cuda.reserved[2]), `device bytes reserved per step: ${cuda.reserved.join(', ')}`);
    await tf.setBackend('cpu');
  });
});
