import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { CONV_LAYOUTS } from '../src/backend/cuda/addon.js';
import { setCudaPrecision } from '../src/backend/cuda.js';
import type { Precision } from '../src/config.js';
import { startKernelProfile, stopKernelProfile } from '../src/backend/cuda/kernel-profile.js';
import { buildModel } from '../src/models/registry.js';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, SGD_MOMENTUM } from '../src/ops/kernel-names.js';
import { makeTrainStep } from '../scripts/gpu-check-train-step.js';
import { hostAddon, hostSkip, valuesOn } from './helpers/cuda-host-addon.js';
import { relativeError, t } from './helpers/cuda-kernel-suite.js';

/**
 * dnn.cc and blas.cc as they are, on the host emulation's stand-ins for cuDNN and cuBLAS: plans (heuristic,
 * then search), layouts, workspaces, bf16 and its fallback, TF32 only where asked for; and the kernel
 * profile of the cuda backend.
 */

/** Calls of the stand-ins made by `body`, by function. */
async function libraryCallsOf(body: () => Promise<void> | void): Promise<Record<string, number>> {
  const before = hostAddon!.hostEmulationLibraryCalls();
  await body();
  const after = hostAddon!.hostEmulationLibraryCalls();
  return Object.fromEntries(Object.entries(after).filter(([name, n]) => n !== (before[name] ?? 0)).map(([name, n]) => [name, n - (before[name] ?? 0)]));
}

describe('dnn.cc and blas.cc on the cuDNN and cuBLAS stand-ins', { skip: hostSkip }, () => {
  const clearPlans = () => {
    hostAddon!.setConvLayout(CONV_LAYOUTS.nhwc); // a change of mode clears dnn.cc's plans
    hostAddon!.setConvLayout(CONV_LAYOUTS.auto);
  };
  const conv = (x: number[], f: number[]) => () => [tf.conv2d(t(x, 1) as tf.Tensor4D, t(f, 2) as tf.Tensor4D, 1, 'same')];

  it('clearing the plans destroys every cuDNN descriptor the suite made; one cuDNN and one cuBLAS handle stay', () => {
    clearPlans();
    const { 'cuBLAS handle': cublas, 'cuDNN handle': cudnn, ...descriptors } = hostAddon!.hostEmulationLibraryObjects();
    assert.deepEqual([cublas, cudnn], [1, 1]);
    assert.ok(Object.values(descriptors).every((n) => n === 0), JSON.stringify(descriptors));
  });

  it("a shape's first convolution takes the heuristic's pick; its second searches both layouts and keeps one", async () => {
    clearPlans();
    const first = await libraryCallsOf(() => valuesOn('cuda', conv([2, 9, 9, 4], [3, 3, 4, 8])).then(() => undefined));
    assert.deepEqual(first, { cudnnGetConvolutionForwardAlgorithm_v7: 1, 'cudnnConvolutionForward algo 1': 1 });
    // fp32: FMA only, so the heuristic lists 1, 0, 3 and dnn.cc takes the first.
    assert.match(hostAddon!.convAlgorithms(), /^fwd fp32 n2 h9 w9 c4 k8 3x3 s1 p1: NHWC algo 1 math 3, heuristic \(seen once, not searched\), workspace 0\.0 MiB$/m);
    const second = await libraryCallsOf(() => valuesOn('cuda', conv([2, 9, 9, 4], [3, 3, 4, 8])).then(() => undefined));
    assert.equal(second.cudnnFindConvolutionForwardAlgorithmEx, 2, 'one search per layout');
    assert.match(hostAddon!.convAlgorithms(), /^fwd fp32 n2 h9 w9 c4 k8 3x3 s1 p1: (NHWC|NCHW) algo [01] math 3, \d+\.\d{3} ms \+ \d+\.\d{3} ms layout, workspace \d+\.\d MiB$/m);
    // The 3 GiB algorithm was never run: the search got less, and the plan is one the search timed.
    assert.ok(!Object.keys(hostAddon!.hostEmulationLibraryCalls()).some((name) => name.endsWith('algo 3')));
  });

  it("the heuristic's pick is passed over when its workspace would not fit in half the free memory", () => {
    clearPlans();
    // [n h w c k kh kw oh ow strideH strideW padH padW]: algorithm 1 needs 64·64·16 floats (256 KiB) of workspace.
    const shape = [1, 64, 64, 8, 16, 3, 3, 64, 64, 1, 1, 1, 1];
    const buffers = [64 * 64 * 8, 3 * 3 * 8 * 16, 64 * 64 * 16].map((n) => hostAddon!.malloc(n * 4));
    const stats = hostAddon!.stats();
    const previous = hostAddon!.hostEmulationSetCapacity(stats.deviceTotalBytes - stats.deviceFreeBytes + 96 * 1024);
    try {
      hostAddon!.conv2d(buffers[0]!, buffers[1]!, buffers[2]!, shape, 0);
    } finally {
      hostAddon!.hostEmulationSetCapacity(previous);
      buffers.forEach((b) => hostAddon!.free(b));
    }
    assert.match(hostAddon!.convAlgorithms(), /^fwd fp32 n1 h64 w64 c8 k16 3x3 s1 p1: NHWC algo 0 math 3, heuristic/m);
  });

  it('bf16 runs on tensor-op math where the stand-in has a bf16 algorithm, and falls back to fp32 for the shape where it has none', async () => {
    clearPlans();
    setCudaPrecision('bf16');
    try {
      await valuesOn('cuda', () => [...conv([1, 6, 6, 4], [3, 3, 4, 8])(), ...conv([1, 6, 6, 3], [3, 3, 3, 8])()]);
    } finally {
      setCudaPrecision('fp32');
    }
    const plans = hostAddon!.convAlgorithms();
    assert.match(plans, /^fwd bf16 n1 h6 w6 c4 k8 3x3 s1 p1: NHWC algo 2 math 1, heuristic/m);
    assert.match(plans, /^fwd fp32 n1 h6 w6 c3 k8 3x3 s1 p1: NHWC algo 1 math 3, heuristic/m);
    assert.doesNotMatch(plans, /^fwd bf16 n1 h6 w6 c3 /m);
  });

  it('fp32 keeps TF32 off in convolutions and products; tf32 turns it on (the stand-ins round TF32 operands)', async () => {
    const build = () => [...conv([2, 8, 8, 16], [3, 3, 16, 8])(), tf.matMul(t([33, 64], 3), t([64, 17], 4))];
    const want = await valuesOn('cpu', build);
    const onCuda = async (precision: Precision) => {
      clearPlans();
      setCudaPrecision(precision);
      try {
        return await valuesOn('cuda', build);
      } finally {
        setCudaPrecision('fp32');
      }
    };
    const fp32 = await onCuda('fp32');
    const tf32 = await onCuda('tf32');
    want.forEach((w, i) => {
      assert.ok(relativeError(fp32[i]!, w) < 1e-6, `fp32 output ${i}: ${relativeError(fp32[i]!, w)}`);
      const error = relativeError(tf32[i]!, w);
      assert.ok(error > 1e-5 && error < 5e-3, `tf32 output ${i}: relative error ${error}`);
    });
    assert.match(hostAddon!.convAlgorithms(), /^fwd tf32 n2 h8 w8 c16 k8 3x3 s1 p1: NHWC algo 2 math 1, heuristic/m);
  });
});

describe('the kernel profile of the cuda backend', { skip: hostSkip }, () => {
  it('gives each tfjs kernel of a training step its calls and GPU time, heaviest first, adding up to the whole', async () => {
    await tf.setBackend('cuda');
    const model = buildModel('ResNetTiny', { inputShape: [8, 8, 3], numClasses: 3, seed: 1 });
    const step = makeTrainStep(model);
    const images = t([8, 8, 8, 3], 9) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32');
    const weights = tf.ones([8]) as tf.Tensor1D;
    try {
      await step(images, labels, weights); // plans made outside the profile
      const start = hostAddon!.markTime();
      startKernelProfile(hostAddon!);
      await step(images, labels, weights);
      const profile = stopKernelProfile();
      const names = profile.kernels.map((k) => k.kernel);
      for (const kernel of ['Conv2D', 'Conv2DBackpropFilter', BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, SGD_MOMENTUM]) assert.ok(names.includes(kernel), `${kernel} in ${names.join(', ')}`);
      const convs = model.layers.filter((l) => l.getClassName() === 'InfobatchConv2d').length;
      assert.equal(profile.kernels.find((k) => k.kernel === 'Conv2D')!.calls, convs);
      assert.ok(profile.kernels.every((k, i) => k.ms >= 0 && (i === 0 || profile.kernels[i - 1]!.ms >= k.ms)));
      assert.ok(Math.abs(profile.kernels.reduce((sum, k) => sum + k.ms, 0) - profile.totalMs) < 1e-6 * Math.max(1, profile.totalMs));
      assert.ok(profile.totalMs > 0);
      assert.throws(() => hostAddon!.elapsedMs(start, start), /unknown mark/, 'the profile clears its timing events');
    } finally {
      step.dispose();
      model.dispose();
      tf.dispose([images, labels, weights]);
    }
  });
});

