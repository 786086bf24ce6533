import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { rewriteLaunches } from '../native/cuda/host/launch-syntax.mjs';
import { CONV_LAYOUTS, isCudaOutOfMemory, type CudaAddon } from '../src/backend/cuda/addon.js';
import { registerCudaBackend } from '../src/backend/cuda/register.js';
import { defineCudaKernelSuite } from './helpers/cuda-kernel-suite.js';
import { buildModel } from '../src/models/registry.js';
import { fit } from '../src/train/fit.js';
import { startKernelProfile, stopKernelProfile } from '../src/backend/cuda/kernel-profile.js';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, SGD_MOMENTUM } from '../src/ops/kernel-names.js';
import { makeTrainStep } from '../scripts/gpu-check-train-step.js';
import { cliSourcesPresent, runCli } from './helpers/run-cli.js';

/**
 * The cuda addon's own C++ and CUDA sources (native/cuda/src), compiled for the CPU with g++ against a
 * fake CUDA runtime (native/cuda/host, docs/cuda-host-emulation.md), under the kernel suite of
 * test/cuda.test.ts. Proves the N-API marshaling, runtime.cc's allocator, every kernel of kernels.cu and
 * reduce.cu, and dnn.cc's and blas.cc's own code (descriptors, layouts, algorithm choice, workspaces,
 * operand order) against tfjs's cpu backend, with stand-ins for cuDNN and cuBLAS.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const buildDir = join(root, 'native', 'cuda', 'build-host');
const addonPath = join(buildDir, 'infobatch_cuda_host.node');
const selftestPath = join(buildDir, 'emulation_selftest');

interface HostAddon extends CudaAddon {
  readonly hostEmulation: string;
  /** The fake device's memory size in bytes; returns the previous one. */
  hostEmulationSetCapacity(bytes: number): number;
  /** Launches so far per kernel, by the name written at the launch (template arguments as in the source). */
  hostEmulationLaunches(): Record<string, number>;
  /** Stream work queued up to `items` deep and run behind the host (0: synchronous); returns the previous depth. */
  hostEmulationSetDeferred(items: number): number;
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

/** Builds the host addon when missing or stale; returns why it cannot be built here, or null. A failed
 *  compile is not a reason to skip: it throws. */
function buildIfStale(): string | null {
  const built = [addonPath, selftestPath].every((file) => existsSync(file) && statSync(file).mtimeMs >= newestSource());
  if (built) return null;
  const build = spawnSync(process.execPath, [join(root, 'scripts', 'build-cuda.mjs'), '--host-emulation', '--strict'], { encoding: 'utf8' });
  const line = build.stdout.trim().split('\n').at(-1) ?? '';
  if (build.status === 3) return line;
  if (build.status !== 0) throw new Error(`the host emulation build failed: ${line}${build.stderr}`);
  return null;
}

const skipReason = buildIfStale();
if (skipReason) console.log(`cuda host emulation tests skipped: ${skipReason}`);
const addon = skipReason ? null : (createRequire(import.meta.url)(addonPath) as HostAddon);
if (addon) {
  addon.init({ cudnnParts: [], cudnn: '', cublasLt: '', cublas: '', device: 0 });
  // dnn.cc's algorithm search takes a workspace of half the free memory (at most 1 GiB) each time; on the
  // emulated device that is host memory written in full, so a small device keeps the suite fast.
  addon.hostEmulationSetCapacity(256 * 2 ** 20);
  registerCudaBackend(addon);
}
const skip = skipReason ?? false;

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

describe('the host emulation itself', { skip }, () => {
  it('passes its own checks: barriers, warp shuffles, launch errors, misuse errors, guard pages, pool bookkeeping, bf16 rounding', () => {
    const run = spawnSync(selftestPath, { encoding: 'utf8' });
    const lines = run.stdout.trim().split('\n');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.ok(lines.length >= 20 && lines.every((l) => l.startsWith('ok ')), run.stdout);
  });

  it('reports itself as the host emulation, with no CUDA, cuDNN or cuBLAS version', () => {
    const info = addon!.init({ cudnnParts: [], cudnn: '', cublasLt: '', cublas: '', device: 0 });
    assert.equal(info.name, 'host emulation (no GPU)');
    assert.deepEqual([info.driverVersion, info.runtimeVersion, info.cudnnVersion, info.cublasVersion], [0, 0, 0, 0]);
    assert.match(addon!.hostEmulation, /stand-ins for cuDNN and cuBLAS/);
  });
});

defineCudaKernelSuite('cuda kernels of native/cuda/src on the host emulation, against the cpu backend', {
  skip,
  setup: async () => {
    await tf.setBackend('cuda');
    return addon!;
  },
  memorySteps: 20,
  learnSteps: 40,
});

// The same suite with the stream running behind the host, as a GPU does: a read that does not wait for its
// copy, a staging buffer reused while a queued copy still reads it, or a result taken before its kernel ran
// gives stale values here. A reading worker thread runs queued work while the main thread queues more.
defineCudaKernelSuite('the same kernels with stream work deferred (64 operations behind the host)', {
  skip,
  setup: async () => {
    await tf.setBackend('cuda');
    addon!.hostEmulationSetDeferred(64);
    return addon!;
  },
  teardown: () => addon!.hostEmulationSetDeferred(0),
  memorySteps: 20,
  learnSteps: 40,
});

describe('coverage of the kernel suite on the host emulation', { skip }, () => {
  it('ran every kernel of kernels.cu and reduce.cu', () => {
    const sources = ['kernels.cu', 'reduce.cu'].map((name) => readFileSync(join(root, 'native', 'cuda', 'src', name), 'utf8')).join('\n');
    const kernels = [...sources.matchAll(/__global__\s+void\s+(\w+)/g)].map((match) => match[1]!);
    const launched = new Set(Object.keys(addon!.hostEmulationLaunches()).map((name) => name.replace(/<.*$/, '')));
    assert.ok(kernels.length >= 20, `${kernels.length} kernels found`);
    assert.deepEqual(kernels.filter((name) => !launched.has(name)), [], 'kernels the suite never launched');
  });
});

/** Outputs of `build` on `backend`, as plain arrays. */
async function valuesOn(backend: string, build: () => tf.Tensor[]): Promise<number[][]> {
  await tf.setBackend(backend);
  const outputs = tf.tidy(build);
  const values = outputs.map((o) => Array.from(o.dataSync()));
  tf.dispose(outputs);
  return values;
}

function relativeError(got: number[], want: number[]): number {
  let diff = 0;
  let norm = 0;
  want.forEach((w, i) => {
    diff += (got[i]! - w) ** 2;
    norm += w ** 2;
  });
  return Math.sqrt(diff / norm);
}

/** Reproducible values in [−1, 1). */
function values(n: number, seed: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length: n }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}
const tensor = (shape: number[], seed: number) => tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape);

/** Calls of the stand-ins made by `body`, by function. */
async function libraryCallsOf(body: () => Promise<void> | void): Promise<Record<string, number>> {
  const before = addon!.hostEmulationLibraryCalls();
  await body();
  const after = addon!.hostEmulationLibraryCalls();
  return Object.fromEntries(Object.entries(after).filter(([name, n]) => n !== (before[name] ?? 0)).map(([name, n]) => [name, n - (before[name] ?? 0)]));
}

describe('dnn.cc and blas.cc on the cuDNN and cuBLAS stand-ins', { skip }, () => {
  const clearPlans = () => {
    addon!.setConvLayout(CONV_LAYOUTS.nhwc); // a change of mode clears dnn.cc's plans
    addon!.setConvLayout(CONV_LAYOUTS.auto);
  };
  const conv = (x: number[], f: number[]) => () => [tf.conv2d(tensor(x, 1) as tf.Tensor4D, tensor(f, 2) as tf.Tensor4D, 1, 'same')];

  it('clearing the plans destroys every cuDNN descriptor the suite made; one cuDNN and one cuBLAS handle stay', () => {
    clearPlans();
    const { 'cuBLAS handle': cublas, 'cuDNN handle': cudnn, ...descriptors } = addon!.hostEmulationLibraryObjects();
    assert.deepEqual([cublas, cudnn], [1, 1]);
    assert.ok(Object.values(descriptors).every((n) => n === 0), JSON.stringify(descriptors));
  });

  it("a shape's first convolution takes the heuristic's pick; its second searches both layouts and keeps one", async () => {
    clearPlans();
    const first = await libraryCallsOf(() => valuesOn('cuda', conv([2, 9, 9, 4], [3, 3, 4, 8])).then(() => undefined));
    assert.deepEqual(first, { cudnnGetConvolutionForwardAlgorithm_v7: 1, 'cudnnConvolutionForward algo 1': 1 });
    // fp32: FMA only, so the heuristic lists 1, 0, 3 and dnn.cc takes the first.
    assert.match(addon!.convAlgorithms(), /^fwd fp32 n2 h9 w9 c4 k8 3x3 s1 p1: NHWC algo 1 math 3, heuristic \(seen once, not searched\), workspace 0\.0 MiB$/m);
    const second = await libraryCallsOf(() => valuesOn('cuda', conv([2, 9, 9, 4], [3, 3, 4, 8])).then(() => undefined));
    assert.equal(second.cudnnFindConvolutionForwardAlgorithmEx, 2, 'one search per layout');
    assert.match(addon!.convAlgorithms(), /^fwd fp32 n2 h9 w9 c4 k8 3x3 s1 p1: (NHWC|NCHW) algo [01] math 3, \d+\.\d{3} ms \+ \d+\.\d{3} ms layout, workspace \d+\.\d MiB$/m);
    // The 3 GiB algorithm was never run: the search got less, and the plan is one the search timed.
    assert.ok(!Object.keys(addon!.hostEmulationLibraryCalls()).some((name) => name.endsWith('algo 3')));
  });

  it("the heuristic's pick is passed over when its workspace would not fit in half the free memory", () => {
    clearPlans();
    // [n h w c k kh kw oh ow strideH strideW padH padW]: algorithm 1 needs 64·64·16 floats (256 KiB) of workspace.
    const shape = [1, 64, 64, 8, 16, 3, 3, 64, 64, 1, 1, 1, 1];
    const buffers = [64 * 64 * 8, 3 * 3 * 8 * 16, 64 * 64 * 16].map((n) => addon!.malloc(n * 4));
    const stats = addon!.stats();
    const previous = addon!.hostEmulationSetCapacity(stats.deviceTotalBytes - stats.deviceFreeBytes + 96 * 1024);
    try {
      addon!.conv2d(buffers[0]!, buffers[1]!, buffers[2]!, shape);
    } finally {
      addon!.hostEmulationSetCapacity(previous);
      buffers.forEach((b) => addon!.free(b));
    }
    assert.match(addon!.convAlgorithms(), /^fwd fp32 n1 h64 w64 c8 k16 3x3 s1 p1: NHWC algo 0 math 3, heuristic/m);
  });

  it('bf16 runs on tensor-op math where the stand-in has a bf16 algorithm, and falls back to fp32 for the shape where it has none', async () => {
    clearPlans();
    addon!.setPrecision(2);
    try {
      await valuesOn('cuda', () => [...conv([1, 6, 6, 4], [3, 3, 4, 8])(), ...conv([1, 6, 6, 3], [3, 3, 3, 8])()]);
    } finally {
      addon!.setPrecision(0);
    }
    const plans = addon!.convAlgorithms();
    assert.match(plans, /^fwd bf16 n1 h6 w6 c4 k8 3x3 s1 p1: NHWC algo 2 math 1, heuristic/m);
    assert.match(plans, /^fwd fp32 n1 h6 w6 c3 k8 3x3 s1 p1: NHWC algo 1 math 3, heuristic/m);
    assert.doesNotMatch(plans, /^fwd bf16 n1 h6 w6 c3 /m);
  });

  it('fp32 keeps TF32 off in convolutions and products; tf32 turns it on (the stand-ins round TF32 operands)', async () => {
    const build = () => [...conv([2, 8, 8, 16], [3, 3, 16, 8])(), tf.matMul(tensor([33, 64], 3), tensor([64, 17], 4))];
    const want = await valuesOn('cpu', build);
    const onCuda = async (precision: number) => {
      clearPlans();
      addon!.setPrecision(precision);
      try {
        return await valuesOn('cuda', build);
      } finally {
        addon!.setPrecision(0);
      }
    };
    const fp32 = await onCuda(0);
    const tf32 = await onCuda(1);
    want.forEach((w, i) => {
      assert.ok(relativeError(fp32[i]!, w) < 1e-6, `fp32 output ${i}: ${relativeError(fp32[i]!, w)}`);
      const error = relativeError(tf32[i]!, w);
      assert.ok(error > 1e-5 && error < 5e-3, `tf32 output ${i}: relative error ${error}`);
    });
    assert.match(addon!.convAlgorithms(), /^fwd tf32 n2 h8 w8 c16 k8 3x3 s1 p1: NHWC algo 2 math 1, heuristic/m);
  });
});

describe('the CLI on the host-emulated cuda backend', { skip: skip || (!cliSourcesPresent && 'no CLI sources here') }, () => {
  it('trains with InfoBatch (`train --backend cuda`), records the backend and precision, and `test` scores the saved model the same', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'infobatch-cuda-cli-'));
    try {
      // Library discovery only looks for the files; the host addon opens none of them.
      const cudaHome = join(cwd, 'cuda');
      mkdirSync(join(cudaHome, 'lib64'), { recursive: true });
      for (const name of ['libcudnn.so.9', 'libcublas.so.13', 'libcublasLt.so.13']) writeFileSync(join(cudaHome, 'lib64', name), '');
      // NHWC only and a 256 MiB device: fewer and smaller algorithm searches (each writes its workspace in full).
      const env = { CUDA_HOME: cudaHome, INFOBATCH_CUDA_ADDON: addonPath, INFOBATCH_CUDA_CONV_LAYOUT: 'nhwc', INFOBATCH_HOST_EMULATION_MIB: '256' };
      const common = ['--backend', 'cuda', '--dataset', 'fashion-mnist-10k', '--model', 'ResNetTiny', '--test_limit', '64', '--experiment_name', 'e2e'];
      const train = runCli(cwd, ['train', ...common, '--train_limit', '128', '--train_batch_size', '32', '--num_epoch', '3', '--use_info_batch', '--ratio', '0.5'], 300_000, env);
      assert.equal(train.status, 0, train.stdout + train.stderr);
      assert.match(train.stdout, /^backend: cuda \(requested\), host emulation \(no GPU\) \(compute 9\.0, 0 GiB\).*precision fp32, convolutions NHWC$/m);
      const saved = /sample-steps saved (\d+\.\d) %/.exec(train.stdout);
      assert.ok(saved && Number(saved[1]) > 0, train.stdout);
      const record = JSON.parse(readFileSync(join(cwd, 'saved_models', 'e2e', 'run.json'), 'utf8')) as { status: string; backend: string; bestTestAcc: number; config: { precision: string } };
      assert.deepEqual([record.status, record.backend, record.config.precision], ['complete', 'cuda', 'fp32']);
      const test = runCli(cwd, ['test', ...common], 120_000, env);
      assert.equal(test.status, 0, test.stdout + test.stderr);
      const accuracy = /^top-1 accuracy: (\d+\.\d\d) %$/m.exec(test.stdout);
      assert.ok(accuracy, test.stdout);
      // The last epoch was the best or not: the saved model is the best one, which `test` must score as training did.
      assert.equal(Number(accuracy[1]), Number(record.bestTestAcc.toFixed(2)));
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('the kernel profile of the cuda backend', { skip }, () => {
  it('gives each tfjs kernel of a training step its calls and GPU time, heaviest first, adding up to the whole', async () => {
    await tf.setBackend('cuda');
    const model = buildModel('ResNetTiny', { inputShape: [8, 8, 3], numClasses: 3, seed: 1 });
    const step = makeTrainStep(model);
    const images = tensor([8, 8, 8, 3], 9) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32');
    const weights = tf.ones([8]) as tf.Tensor1D;
    try {
      await step(images, labels, weights); // plans made outside the profile
      const start = addon!.markTime();
      startKernelProfile(addon!);
      await step(images, labels, weights);
      const profile = stopKernelProfile();
      const names = profile.kernels.map((k) => k.kernel);
      for (const kernel of ['Conv2D', 'Conv2DBackpropFilter', BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, SGD_MOMENTUM]) assert.ok(names.includes(kernel), `${kernel} in ${names.join(', ')}`);
      const convs = model.layers.filter((l) => l.getClassName() === 'InfobatchConv2d').length;
      assert.equal(profile.kernels.find((k) => k.kernel === 'Conv2D')!.calls, convs);
      assert.ok(profile.kernels.every((k, i) => k.ms >= 0 && (i === 0 || profile.kernels[i - 1]!.ms >= k.ms)));
      assert.ok(Math.abs(profile.kernels.reduce((sum, k) => sum + k.ms, 0) - profile.totalMs) < 1e-6 * Math.max(1, profile.totalMs));
      assert.ok(profile.totalMs > 0);
      assert.throws(() => addon!.elapsedMs(start, start), /unknown mark/, 'the profile clears its timing events');
    } finally {
      step.dispose();
      model.dispose();
      tf.dispose([images, labels, weights]);
    }
  });
});

describe('stream work deferred behind the host', { skip }, () => {
  const deferred = async (body: () => Promise<void> | void) => {
    await tf.setBackend('cuda');
    const previous = addon!.hostEmulationSetDeferred(64);
    try {
      await body();
    } finally {
      addon!.hostEmulationSetDeferred(previous);
    }
  };

  it('an asynchronous read, made while hundreds of kernels are still queued, returns the last one\'s result', async () => {
    await deferred(async () => {
      let x = tf.zeros([1000]);
      for (let i = 0; i < 300; i++) {
        const next = tf.add(x, 1);
        x.dispose();
        x = next;
      }
      const values = await x.data();
      x.dispose();
      assert.ok(values.every((v) => v === 300), `first value ${values[0]}`);
    });
  });

  it('uploads and reads back-to-back reuse a bounded set of pinned staging blocks, each only once its copy has run', async () => {
    await deferred(async () => {
      const pinned = () => addon!.stats().pinnedBytes;
      const before = pinned(); // what earlier tests left in the pool (kept for reuse)
      let peak = before;
      for (let i = 0; i < 100; i++) {
        const t = tf.tensor1d(new Float32Array(4096).fill(i));
        const doubled = tf.mul(t, 2);
        const [first] = await doubled.data();
        tf.dispose([t, doubled]);
        assert.equal(first, 2 * i);
        peak = Math.max(peak, pinned());
      }
      // An upload, a scalar and a read are in flight at once: a few 64 KiB blocks, not one per iteration.
      assert.ok(peak - before <= 4 * 65536, `pinned staging grew by ${peak - before} bytes`);
    });
  });

  it('fit with InfoBatch trains a ResNetTiny as on cpu: the same samples pruned each epoch, the same losses', async () => {
    const n = 96;
    const images = values(n * 8 * 8 * 3, 7);
    // The label is the channel with the largest mean, a rule the network can learn.
    const labels = Int32Array.from({ length: n }, (_, i) => {
      const sums = [0, 0, 0];
      for (let p = 0; p < 64; p++) for (let c = 0; c < 3; c++) sums[c]! += images[(i * 64 + p) * 3 + c]!;
      return sums.indexOf(Math.max(...sums));
    });
    const train = async () => {
      const model = buildModel('ResNetTiny', { inputShape: [8, 8, 3], numClasses: 3, seed: 5 });
      const x = tf.tensor4d(images, [n, 8, 8, 3]);
      const y = tf.tensor1d(labels, 'int32');
      try {
        return await fit(model, { x, y }, { epochs: 4, batchSize: 16, loss: 'softmaxCrossEntropy', learningRate: 0.05, seed: 0 });
      } finally {
        tf.dispose([x, y]);
        model.dispose();
      }
    };
    await tf.setBackend('cpu');
    const want = await train();
    let got: Awaited<ReturnType<typeof train>> | undefined;
    await deferred(async () => {
      got = await train();
    });
    assert.equal(got!.backend, 'cuda');
    assert.ok(want.savedFraction > 0.05, `InfoBatch pruned ${want.savedFraction}`);
    assert.deepEqual(got!.epochs.map((e) => e.samplesTrained), want.epochs.map((e) => e.samplesTrained));
    got!.epochs.forEach((e, i) => assert.ok(Math.abs(e.loss - want.epochs[i]!.loss) <= 1e-3 * want.epochs[i]!.loss, `epoch ${i}: loss ${e.loss} on cuda, ${want.epochs[i]!.loss} on cpu`));
    // The scores InfoBatch kept (each sample's last loss, read back behind the device) agree too.
    assert.ok(relativeError(Array.from(got!.infobatch.scores), Array.from(want.infobatch.scores)) < 1e-4);
  });

  it('a kernel queued on a buffer freed before it runs fails at the next wait, naming the kernel', async () => {
    await deferred(() => {
      const ptr = addon!.malloc(64);
      const other = addon!.malloc(64);
      addon!.free(ptr); // queued
      addon!.fill(ptr, 16, 0x3f800000); // accepted at the call: the free has not run yet
      try {
        assert.throws(() => addon!.readSync(other, new Float32Array(16)), /^Error: host emulation: queued stream work failed \(reported at the next wait, as a GPU does\): host emulation: fillKernel's argument 0 uses 0x[0-9a-f]+, inside a 64-byte pool block that was already freed/);
      } finally {
        addon!.free(other);
      }
      addon!.synchronize(); // the error was reported once
      // A queued memset (fill with zero bits) is checked when it runs too.
      const zeroed = addon!.malloc(64);
      addon!.free(zeroed);
      addon!.fill(zeroed, 16, 0);
      assert.throws(() => addon!.synchronize(), /cudaMemsetAsync \(when it ran\) uses 0x[0-9a-f]+, inside a 64-byte pool block that was already freed/);
    });
  });
});

describe('the host emulation catches what a GPU would not report', { skip }, () => {
  it('running out of device memory goes through runtime.cc: one out-of-memory error, and nothing left allocated', async () => {
    await tf.setBackend('cuda');
    const before = addon!.stats();
    const previous = addon!.hostEmulationSetCapacity(before.deviceTotalBytes - before.deviceFreeBytes + 2 ** 20);
    let caught: unknown;
    try {
      tf.tidy(() => tf.matMul(tf.ones([2048, 8]), tf.ones([8, 2048]))); // a 16 MiB product
    } catch (error) {
      caught = error;
    } finally {
      addon!.hostEmulationSetCapacity(previous);
    }
    assert.ok(isCudaOutOfMemory(caught), String(caught));
    assert.equal((caught as { code?: string }).code, 'ERR_CUDA_OUT_OF_MEMORY');
    // Runtime::allocate's own message, after its retry with the pool trimmed.
    assert.match((caught as Error).message, /^CUDA out of memory: could not allocate 16\.0 MiB \(\d+\.\d MiB free of \d+\.\d MiB\)$/);
    assert.equal(addon!.stats().bytesInUse, before.bytesInUse, 'nothing the failed step allocated stays behind');
  });

  it('a freed device buffer used again, freed again or read past its end is an error naming it', () => {
    const ptr = addon!.malloc(64);
    addon!.free(ptr);
    assert.throws(() => addon!.free(ptr), /host emulation: cudaFreeAsync uses 0x[0-9a-f]+, inside a 64-byte pool block that was already freed/);
    assert.throws(() => addon!.fill(ptr, 16, 0x3f800000), /host emulation: fillKernel's argument 0 uses 0x[0-9a-f]+, inside a 64-byte pool block that was already freed/);
    assert.throws(() => addon!.unary(0, 0, ptr, ptr, 16, 0, 0), /unaryKernel<float>'s argument 1 .* already freed/);
    const small = addon!.malloc(16);
    try {
      assert.throws(() => addon!.readSync(small, new Float32Array(8)), /cudaMemcpyAsync \(source\) uses 32 bytes at offset 0 of a 16-byte block \(past its end\)/);
    } finally {
      addon!.free(small);
    }
  });

  it('a copy that fails gives its pinned staging block back (addon.cc leaked one per failure)', () => {
    const ptr = addon!.malloc(64);
    addon!.upload(ptr, new Float32Array(16));
    addon!.free(ptr);
    const pinned = addon!.stats().pinnedBytes;
    for (let i = 0; i < 3; i++) {
      assert.throws(() => addon!.upload(ptr, new Float32Array(16)), /already freed/);
      assert.throws(() => addon!.readSync(ptr, new Float32Array(16)), /already freed/);
      assert.throws(() => addon!.readAsync(ptr, 64), /already freed/);
    }
    assert.equal(addon!.stats().pinnedBytes, pinned);
  });

  it('a kernel reading past the end of a buffer stops the process with a line naming the kernel and thread', () => {
    // copyStrided from element 4 of a 4-element buffer: the kernel's first read lands on the guard page.
    const script = `const a = require(${JSON.stringify(addonPath)});
      a.init({ cudnnParts: [], cudnn: '', cublasLt: '', cublas: '', device: 0 });
      const src = a.malloc(16), dst = a.malloc(16);
      a.copyStrided(src, 4, [1], null, dst, 0, [1], [4]);`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(run.signal, 'SIGSEGV', run.stderr);
    assert.match(run.stderr, /^host emulation: kernel copyStridedKernel, block 0,0,0, thread 0,0,0, touched 0x[0-9a-f]+, past the end of a 16-byte pool block at 0x[0-9a-f]+ \(offset 16\)$/m);
  });
});
