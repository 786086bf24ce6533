import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { rewriteLaunches } from '../native/cuda/host/launch-syntax.mjs';
import { isCudaOutOfMemory } from '../src/backend/cuda/addon.js';
import { outOfGpuMemory } from '../src/train/trainer.js';
import { hostAddon, hostAddonPath, hostSkip, root, selftestPath } from './helpers/cuda-host-addon.js';
import { defineCudaKernelSuite } from './helpers/cuda-kernel-suite.js';

/**
 * The cuda addon's own sources on the CPU (test/helpers/cuda-host-addon.ts): the emulation's own checks,
 * the kernel suite of test/cuda.test.ts against tfjs's cpu backend with every kernel of kernels.cu and
 * reduce.cu launched, and the misuses the emulation reports that a GPU would not. The stand-ins for cuDNN
 * and cuBLAS, deferred stream work and the CLI have their own cuda-host-*.test.ts files.
 */

describe('the launch-syntax rewrite of the host build', () => {
  it('turns launches, with template arguments, dim3 configurations and empty argument lists, into ::ibhost::launch calls', () => {
    const source = [
      'fillKernel<<<gridFor(n), kThreads, 0, s>>>(out, n, bits);',
      'return (void)castKernel<float, int><<<grid, kThreads, 0, s>>>((const float *)x, n);',
      'bnSums<<<dim3((c + 31) / 32, splits), dim3(32, 8), 0, s>>>(0, x);',
      'tick<<<1, 1>>>( );',
    ].join('\n');
    assert.equal(rewriteLaunches(source), [
      '::ibhost::launch("fillKernel", ::ibhost::LaunchConfig(gridFor(n), kThreads, 0, s), fillKernel, out, n, bits);',
      'return (void)::ibhost::launch("castKernel<float,int>", ::ibhost::LaunchConfig(grid, kThreads, 0, s), castKernel<float,int>, (const float *)x, n);',
      '::ibhost::launch("bnSums", ::ibhost::LaunchConfig(dim3((c + 31) / 32, splits), dim3(32, 8), 0, s), bnSums, 0, x);',
      '::ibhost::launch("tick", ::ibhost::LaunchConfig(1, 1), tick);',
    ].join('\n'));
  });

  it('fails, naming the line, where a launch is left', () => {
    assert.throws(() => rewriteLaunches('int a;\nk<<<1, 1; >>>(x);', 'k.cu'), /^Error: k\.cu:2: a kernel launch the host emulation cannot rewrite: k<<<1, 1; >>>\(x\);$/);
  });
});

describe('the host emulation itself', { skip: hostSkip }, () => {
  it('passes its own checks: barriers, warp shuffles, the schedules that expose races, launch errors, misuse errors, guard pages, pool bookkeeping, bf16 rounding', () => {
    const run = spawnSync(selftestPath, { encoding: 'utf8' });
    const lines = run.stdout.trim().split('\n');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.ok(lines.length >= 20 && lines.every((l) => l.startsWith('ok ')), run.stdout);
  });

  it('reports itself as the host emulation, with no CUDA, cuDNN or cuBLAS version', () => {
    const info = hostAddon!.init({ cudnnParts: [], cudnn: '', cublasLt: '', cublas: '', device: 0 });
    assert.equal(info.name, 'host emulation (no GPU)');
    assert.deepEqual([info.driverVersion, info.runtimeVersion, info.cudnnVersion, info.cublasVersion], [0, 0, 0, 0]);
    assert.match(hostAddon!.hostEmulation, /stand-ins for cuDNN and cuBLAS/);
  });
});

defineCudaKernelSuite('cuda kernels of native/cuda/src on the host emulation, against the cpu backend', {
  skip: hostSkip,
  setup: async () => {
    await tf.setBackend('cuda');
    return hostAddon!;
  },
  memorySteps: 20,
  learnSteps: 40,
});

describe('coverage of the kernel suite on the host emulation', { skip: hostSkip }, () => {
  it('ran every kernel of kernels.cu and reduce.cu', () => {
    const sources = ['kernels.cu', 'reduce.cu'].map((name) => readFileSync(join(root, 'native', 'cuda', 'src', name), 'utf8')).join('\n');
    const kernels = [...sources.matchAll(/__global__\s+void\s+(\w+)/g)].map((match) => match[1]!);
    const launched = new Set(Object.keys(hostAddon!.hostEmulationLaunches()).map((name) => name.replace(/<.*$/, '')));
    assert.ok(kernels.length >= 20, `${kernels.length} kernels found`);
    assert.deepEqual(kernels.filter((name) => !launched.has(name)), [], 'kernels the suite never launched');
  });
});

describe('the host emulation catches what a GPU would not report', { skip: hostSkip }, () => {
  it('running out of device memory goes through runtime.cc: one out-of-memory error, and nothing left allocated', async () => {
    await tf.setBackend('cuda');
    const before = hostAddon!.stats();
    const previous = hostAddon!.hostEmulationSetCapacity(before.deviceTotalBytes - before.deviceFreeBytes + 2 ** 20);
    let caught: unknown;
    try {
      tf.tidy(() => tf.matMul(tf.ones([2048, 8]), tf.ones([8, 2048]))); // a 16 MiB product
    } catch (error) {
      caught = error;
    } finally {
      hostAddon!.hostEmulationSetCapacity(previous);
    }
    assert.ok(isCudaOutOfMemory(caught), String(caught));
    assert.equal((caught as { code?: string }).code, 'ERR_CUDA_OUT_OF_MEMORY');
    // Runtime::allocate's own message, after its retry with the pool trimmed.
    assert.match((caught as Error).message, /^CUDA out of memory: could not allocate 16\.0 MiB \(\d+\.\d MiB free of \d+\.\d MiB\)$/);
    assert.equal(hostAddon!.stats().bytesInUse, before.bytesInUse, 'nothing the failed step allocated stays behind');
    // What the trainer makes of it: one line naming the batch size.
    const line = outOfGpuMemory({ batchSize: 256, evalBatchSize: 500 }, caught).message;
    assert.match(line, /^out of GPU memory with --train_batch_size 256 \(--eval_batch_size 500\): CUDA out of memory: .*; try a smaller batch, e\.g\. --train_batch_size 128; the last checkpoint and the best model are intact$/);
  });

  it('a freed device buffer used again, freed again or read past its end is an error naming it', () => {
    const ptr = hostAddon!.malloc(64);
    hostAddon!.free(ptr);
    assert.throws(() => hostAddon!.free(ptr), /host emulation: cudaFreeAsync uses 0x[0-9a-f]+, inside a 64-byte pool block that was already freed/);
    assert.throws(() => hostAddon!.fill(ptr, 16, 0x3f800000), /host emulation: fillKernel's argument 0 uses 0x[0-9a-f]+, inside a 64-byte pool block that was already freed/);
    assert.throws(() => hostAddon!.unary(0, 0, ptr, ptr, 16, 0, 0, 0), /unaryKernel<float,FloatsIn,FloatsOut>'s argument 1 .* already freed/);
    const small = hostAddon!.malloc(16);
    try {
      assert.throws(() => hostAddon!.readSync(small, new Float32Array(8)), /cudaMemcpyAsync \(source\) uses 32 bytes at offset 0 of a 16-byte block \(past its end\)/);
    } finally {
      hostAddon!.free(small);
    }
  });

  it('a copy that fails gives its pinned staging block back (addon.cc leaked one per failure)', () => {
    const ptr = hostAddon!.malloc(64);
    hostAddon!.upload(ptr, new Float32Array(16));
    hostAddon!.free(ptr);
    const pinned = hostAddon!.stats().pinnedBytes;
    for (let i = 0; i < 3; i++) {
      assert.throws(() => hostAddon!.upload(ptr, new Float32Array(16)), /already freed/);
      assert.throws(() => hostAddon!.readSync(ptr, new Float32Array(16)), /already freed/);
      assert.throws(() => hostAddon!.readAsync(ptr, 64), /already freed/);
    }
    assert.equal(hostAddon!.stats().pinnedBytes, pinned);
  });

  it('a kernel reading past the end of a buffer stops the process with a line naming the kernel and thread', () => {
    // copyStrided from element 4 of a 4-element buffer: the kernel's first read lands on the guard page.
    const script = `const a = require(${JSON.stringify(hostAddonPath)});
      a.init({ cudnnParts: [], cudnn: '', cublasLt: '', cublas: '', device: 0 });
      const src = a.malloc(16), dst = a.malloc(16);
      a.copyStrided(src, 4, [1], null, dst, 0, [1], [4]);`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(run.signal, 'SIGSEGV', run.stderr);
    assert.match(run.stderr, /^host emulation: kernel copyStridedKernel, block 0,0,0, thread 0,0,0, touched 0x[0-9a-f]+, past the end of a 16-byte pool block at 0x[0-9a-f]+ \(offset 16\)$/m);
  });
});
