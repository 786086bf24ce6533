import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { CONV_LAYOUTS, type CudaAddon } from '../../src/backend/cuda/addon.js';
import type { CudaBackend } from '../../src/backend/cuda/backend.js';
import { cudaFallbacks, setCudaPrecision } from '../../src/backend/cuda.js';
import { asBatchedTranspose } from '../../src/backend/cuda/kernels/shape.js';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, FORK, RELU_GRAD, SGD_MOMENTUM } from '../../src/ops/kernel-names.js';
import { batchNormTrain, fork } from '../../src/ops/index.js';
import { buildModel } from '../../src/models/registry.js';
import { perSampleCrossEntropy } from '../../src/train/loss.js';
import { makeTrainStep } from '../../scripts/gpu-check-train-step.js';
import type { Precision } from '../../src/config.js';

/**
 * The cuda backend's kernels against the cpu backend, shared by test/cuda.test.ts (the real addon, on a
 * GPU) and test/cuda-host.test.ts (the addon's own sources on the host emulation, on any machine).
 */
export interface SuiteOptions {
  /** false, or why the suite cannot run here. */
  readonly skip: string | false;
  /** Makes `cuda` the current backend and returns its addon. */
  readonly setup: () => Promise<CudaAddon>;
  /** Undoes what setup changed beyond the backend (run after the suite). */
  readonly teardown?: () => void;
  /** Steps of the memory-growth test (the baseline is taken after 10) and of the learning test. */
  readonly memorySteps: number;
  readonly learnSteps: number;
}

/** Reproducible inputs in [−1, 1). */
export function random(n: number, seed: number): Float32Array {
  let state = seed * 2654435761 + 1;
  return Float32Array.from({ length: n }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}
/** A tensor of `shape` filled with random(·, seed). */
export const t = (shape: number[], seed: number) => tf.tensor(random(shape.reduce((a, b) => a * b, 1), seed), shape);

/** ‖a − b‖ / ‖b‖ (absolute where b is all zeros); NaN never passes. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < want.length; i++) {
    diff += (got[i]! - want[i]!) ** 2;
    norm += want[i]! ** 2;
  }
  const error = Math.sqrt(diff) / (norm > 0 ? Math.sqrt(norm) : 1);
  return Number.isNaN(error) ? Infinity : error;
}

/** A ResNetTiny on a 16×16×3 batch of 16 with the trainer's step, on the current backend. */
function tinyTraining(seed: number) {
  const model = buildModel('ResNetTiny', { inputShape: [16, 16, 3], numClasses: 10, seed });
  const step = makeTrainStep(model);
  const images = t([16, 16, 16, 3], seed + 4) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 10), 'int32');
  const weights = tf.ones([16]) as tf.Tensor1D;
  const dispose = () => {
    step.dispose();
    model.dispose();
    tf.dispose([images, labels, weights]);
  };
  return { model, step, images, labels, weights, dispose };
}

/** Runs `build` on cpu and on cuda and compares every output; no kernel of the cuda run may fall back to the CPU. */
async function matchesCpu(build: () => tf.Tensor | tf.Tensor[], tolerance = 1e-5, label = ''): Promise<void> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const outputs = tf.tidy(() => {
      const out = build();
      return Array.isArray(out) ? out : [out];
    });
    const values = outputs.map((o) => ({ shape: o.shape, dtype: o.dtype, data: Array.from(o.dataSync()) }));
    tf.dispose(outputs);
    return values;
  };
  const want = await run('cpu');
  const fallbacksBefore = new Map(cudaFallbacks());
  const got = await run('cuda');
  // A kernel that fell back to the CPU would match trivially.
  const fellBack = [...cudaFallbacks()].filter(([name, count]) => count !== (fallbacksBefore.get(name) ?? 0)).map(([name]) => name);
  assert.deepEqual(fellBack, [], `${label} kernels that ran on the CPU`);
  assert.equal(got.length, want.length);
  got.forEach((g, i) => {
    assert.deepEqual(g.shape, want[i]!.shape, `${label} output ${i} shape`);
    assert.equal(g.dtype, want[i]!.dtype, `${label} output ${i} dtype`);
    const error = relativeError(g.data, want[i]!.data);
    assert.ok(error <= tolerance, `${label} output ${i}: relative error ${error} > ${tolerance}`);
  });
}

export function defineCudaKernelSuite(title: string, options: SuiteOptions): void {
describe(title, { skip: options.skip }, () => {
  let addon: CudaAddon;
  before(async () => {
    addon = await options.setup();
  });
  after(async () => {
    options.teardown?.();
    setCudaPrecision('fp32');
    await tf.setBackend('cpu');
  });

  const convCases: Array<{ x: number[]; f: number[]; stride: number; pad: 'same' | 'valid' | number }> = [
    { x: [2, 9, 9, 3], f: [3, 3, 3, 8], stride: 1, pad: 'same' },
    { x: [2, 8, 8, 4], f: [3, 3, 4, 8], stride: 2, pad: 'same' }, // asymmetric 'same' padding
    { x: [3, 7, 5, 5], f: [1, 1, 5, 6], stride: 1, pad: 'valid' },
    { x: [2, 8, 8, 6], f: [1, 1, 6, 4], stride: 2, pad: 'same' },
    { x: [2, 11, 11, 4], f: [3, 3, 4, 5], stride: 2, pad: 1 },
    { x: [1, 6, 6, 2], f: [3, 3, 2, 3], stride: 1, pad: 'valid' },
    { x: [2, 7, 6, 4], f: [3, 1, 4, 6], stride: 1, pad: 'same' }, // a non-square kernel: height and width not swapped
  ];
  for (const [i, c] of convCases.entries()) {
    it(`Conv2D, its input and filter gradients: x ${c.x}, filter ${c.f}, stride ${c.stride}, pad ${c.pad}`, async () => {
      const build = () => {
        const x = t(c.x, 10 + i);
        const f = t(c.f, 20 + i);
        const y = tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.stride, c.pad);
        const dy = t(y.shape, 30 + i);
        const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), dy)))([x, f]);
        return [y, dx!, df!];
      };
      // Each convolution layout the fp32 search may pick, forced, then the search's own choice; each twice:
      // a shape's first call takes cuDNN's heuristic pick, its second the searched one.
      try {
        for (const [name, mode] of [['nhwc', CONV_LAYOUTS.nhwc], ['nchw', CONV_LAYOUTS.nchw], ['auto', CONV_LAYOUTS.auto]] as const) {
          addon.setConvLayout(mode);
          await matchesCpu(build, 1e-5, `fp32 ${name} heuristic`);
          await matchesCpu(build, 1e-5, `fp32 ${name} searched`);
        }
      } finally {
        addon.setConvLayout(CONV_LAYOUTS.auto);
      }
      setCudaPrecision('bf16');
      try {
        await matchesCpu(build, 2e-2, 'bf16'); // bf16 operands: ~3 significant digits
      } finally {
        setCudaPrecision('fp32');
      }
    });
  }

  it("a filter is put in cuDNN's layout once per buffer and forgotten as the buffer is freed (its memory may hold the next filter)", async () => {
    await tf.setBackend('cuda');
    const x = t([2, 8, 8, 4], 61) as tf.Tensor4D;
    const kept = addon.stats().preparedFilters;
    const old = t([3, 3, 4, 6], 62) as tf.Tensor4D;
    for (let call = 0; call < 3; call++) tf.dispose(tf.conv2d(x, old, 1, 'same'));
    const prepared = addon.stats().preparedFilters - kept;
    // One per layout the search timed (NHWC, NCHW), however many calls.
    assert.ok(prepared >= 1 && prepared <= 2, `${prepared} prepared copies of one filter`);
    old.dispose();
    assert.equal(addon.stats().preparedFilters, kept);
    const values = random(3 * 3 * 4 * 6, 63);
    const next = tf.tensor4d(values, [3, 3, 4, 6]);
    const got = tf.conv2d(x, next, 1, 'same');
    const gotValues = await got.data();
    const xValues = await x.data();
    await tf.setBackend('cpu');
    const want = tf.tidy(() => tf.conv2d(tf.tensor4d(xValues, [2, 8, 8, 4]), tf.tensor4d(values, [3, 3, 4, 6]), 1, 'same').dataSync());
    await tf.setBackend('cuda');
    assert.ok(relativeError(gotValues, want) <= 1e-5, 'the convolution used the old filter');
    tf.dispose([x, next, got]);
  });

  it('the convolution layout mode is checked', () => {
    assert.throws(() => addon.setConvLayout(3), /convolution layout must be 0 \(auto\), 1 \(NHWC\) or 2 \(NCHW\)/);
  });

  it('matmul: transposes, batches, a broadcast batch, the fused bias + relu; bf16 looser', async () => {
    const build = () => [
      tf.matMul(t([5, 7], 1), t([7, 3], 2)),
      tf.matMul(t([7, 5], 3), t([3, 7], 4), true, true),
      tf.matMul(t([4, 5, 6], 5), t([4, 6, 2], 6)),
      tf.matMul(t([4, 5, 6], 7), t([1, 6, 2], 8)),
      tf.matMul(t([1, 5, 6], 12), t([3, 6, 2], 13)),
      tf.fused.matMul({ a: t([9, 17], 9), b: t([17, 10], 10), bias: t([10], 11), activation: 'relu' }),
    ];
    await matchesCpu(build, 1e-5);
    setCudaPrecision('bf16');
    try {
      await matchesCpu(build, 2e-2, 'bf16');
    } finally {
      setCudaPrecision('fp32');
    }
  });

  it('element-wise binary ops with broadcasting, comparisons and int32', async () => {
    await matchesCpu(() => {
      const a = t([2, 3, 4, 5], 1);
      const outs: tf.Tensor[] = [];
      for (const b of [t([2, 3, 4, 5], 2), t([5], 3), t([4, 1], 4), t([2, 1, 4, 1], 5), tf.scalar(0.25), t([3, 1, 1], 6)]) {
        outs.push(tf.add(a, b), tf.sub(b, a), tf.mul(a, b), tf.div(a, tf.add(tf.abs(b), 0.5)), tf.maximum(a, b), tf.minimum(a, b), tf.squaredDifference(a, b));
        outs.push(tf.cast(tf.greater(a, b), 'float32'), tf.cast(tf.equal(tf.sign(a), tf.sign(b)), 'float32'));
      }
      const i = tf.tensor1d([3, -2, 7, 0, 5], 'int32');
      outs.push(tf.cast(tf.add(i, tf.tensor1d([1, 2, 3, 4, 5], 'int32')), 'float32'), tf.cast(tf.mul(i, tf.scalar(3, 'int32')), 'float32'));
      return outs;
    });
  });

  it('unary ops', async () => {
    await matchesCpu(() => {
      const x = t([3, 17], 7);
      const positive = tf.add(tf.abs(x), 0.1);
      return [tf.relu(x), tf.relu6(tf.mul(x, 10)), tf.step(x), tf.neg(x), tf.square(x), tf.sqrt(positive), tf.rsqrt(positive), tf.exp(x), tf.log(positive), tf.reciprocal(positive), tf.sigmoid(x), tf.tanh(x), tf.leakyRelu(x, 0.1), tf.elu(x), tf.clipByValue(x, -0.3, 0.4)];
    });
  });

  it('reductions over each axis, axis sets and all axes; arg max; softmax', async () => {
    await matchesCpu(() => {
      const x = t([4, 5, 6, 7], 3);
      const outs: tf.Tensor[] = [];
      for (const axis of [0, 1, 2, 3, [0, 1, 2], [1, 2], [0, 2], [1, 3], [0, 1, 2, 3]]) {
        outs.push(tf.sum(x, axis), tf.mean(x, axis, true), tf.max(x, axis), tf.min(x, axis));
      }
      outs.push(tf.cast(tf.argMax(x, 3), 'float32'), tf.cast(tf.argMax(x, 1), 'float32'), tf.softmax(t([6, 10], 4)), tf.logSoftmax(t([6, 10], 5)));
      outs.push(tf.sum(t([300_000], 6)), tf.sum(t([3000, 130], 7), 0));
      return outs;
    }, 1e-5);
  });

  it('int32 and bool: unary ops, casts, reductions, arg max; a column sum split over many rows', async () => {
    await matchesCpu(() => {
      const i = tf.tensor2d([[3, -2, 7, 0], [5, -9, 1, 4], [-6, 8, 2, -1]], [3, 4], 'int32');
      const f = (x: tf.Tensor) => tf.cast(x, 'float32');
      return [
        f(tf.abs(i)), f(tf.neg(i)), f(tf.square(i)), f(tf.relu(i)), f(tf.sign(i)), f(tf.clipByValue(i, -3, 4)),
        f(tf.cast(i, 'bool')), f(tf.logicalNot(tf.cast(i, 'bool'))), f(tf.cast(tf.cast(i, 'float32'), 'int32')),
        f(tf.sum(i, 1)), f(tf.sum(i, 0)), f(tf.max(i, 1)), f(tf.min(i, 0)), f(tf.argMax(i, 1)), f(tf.argMin(i, 0)),
        tf.sum(t([20_000, 40], 22), 0),
      ];
    });
  });

  it('transposes: batched 2-D ones through the tiled kernel (partial tiles, int32), others through the strided copy', async () => {
    await matchesCpu(() => {
      const x = t([3, 45, 70], 40);
      const nhwc = t([2, 9, 7, 33], 41);
      return [
        tf.transpose(t([37, 70], 42)), // [1, 0]
        tf.transpose(x, [0, 2, 1]),
        tf.transpose(x, [2, 0, 1]),
        tf.transpose(nhwc, [0, 3, 1, 2]), // NHWC → NCHW
        tf.transpose(tf.transpose(nhwc, [0, 3, 1, 2]), [0, 2, 3, 1]), // and back
        tf.transpose(x, [1, 0, 2]), // not a batched 2-D transpose
        tf.transpose(tf.tensor2d(Array.from({ length: 40 * 33 }, (_, i) => i), [40, 33], 'int32')),
        tf.transpose(tf.zeros([0, 5])),
      ];
    });
    assert.deepEqual(asBatchedTranspose([2, 9, 7, 33], [0, 3, 1, 2]), { batch: 2, rows: 63, cols: 33 });
    assert.deepEqual(asBatchedTranspose([2, 9, 7, 33], [0, 2, 3, 1]), { batch: 2, rows: 9, cols: 231 });
    assert.equal(asBatchedTranspose([3, 45, 70], [1, 0, 2]), null);
    assert.equal(asBatchedTranspose([3, 45, 70], [0, 1, 2]), null);
  });

  it('copies: transpose, tile, slice, pad, concat, broadcastTo, gather, one-hot, cast, reshape', async () => {
    await matchesCpu(() => {
      const x = t([2, 3, 4, 5], 8);
      const labels = tf.tensor1d([3, 0, 9, 4], 'int32');
      return [
        tf.transpose(x, [0, 3, 1, 2]),
        tf.tile(t([2, 3], 9), [3, 2]),
        tf.slice(x, [1, 0, 2, 1], [1, 3, 2, 3]),
        tf.pad(x, [[0, 0], [1, 1], [2, 0], [0, 3]], 0.5),
        tf.concat([x, t([2, 3, 4, 2], 10)], 3),
        tf.broadcastTo(t([1, 5], 11), [4, 5]),
        tf.gather(t([10, 3], 12), labels),
        tf.oneHot(labels, 10),
        tf.cast(tf.cast(tf.mul(x, 3), 'int32'), 'float32'),
        tf.reshape(x, [6, 20]),
        tf.where(tf.greater(x, 0), x, tf.mul(x, -2)),
        tf.where(tf.greater(t([4, 1], 19), 0), t([4, 5], 20), t([4, 5], 21)),
      ];
    });
  });

  it('max pooling (ties, padding, stride) and its gradient; the ELU gradient', async () => {
    await matchesCpu(() => {
      const x = t([2, 7, 6, 3], 30);
      // Repeated values: the gradient goes to the first maximum of each window, as tfjs's cpu kernel.
      const ties = tf.round(tf.mul(t([1, 5, 5, 2], 31), 2));
      const r = (shape: number[]) => t(shape, 32);
      const pool = (a: tf.Tensor, k: number, s: number, pad: 'same' | 'valid') => tf.maxPool(a as tf.Tensor4D, k, s, pad);
      const gradOf = (a: tf.Tensor, k: number, s: number, pad: 'same' | 'valid') =>
        tf.grad((v: tf.Tensor) => tf.sum(tf.mul(pool(v, k, s, pad), r(pool(a, k, s, pad).shape))))(a);
      const elu = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.elu(v), t([4, 9], 34))))(tf.mul(t([4, 9], 33), 3));
      return [pool(x, 3, 2, 'same'), pool(x, 2, 2, 'valid'), gradOf(x, 3, 2, 'same'), gradOf(x, 2, 1, 'valid'), pool(ties, 3, 1, 'same'), gradOf(ties, 3, 1, 'same'), elu];
    });
  });

  it('average pooling and its gradient; inference batch norm', async () => {
    await matchesCpu(() => {
      const x = t([2, 8, 8, 3], 13);
      const pooled = tf.avgPool(x as tf.Tensor4D, 1, 2, 'valid');
      const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(a as tf.Tensor4D, 3, 2, 'same'), t([2, 4, 4, 3], 14))))(x);
      const bn = tf.batchNorm(x, t([3], 15), tf.add(tf.abs(t([3], 16)), 0.5), t([3], 17), t([3], 18), 1e-5);
      return [pooled, dx, bn, tf.mean(x, [1, 2])];
    });
  });

  it(`${BATCH_NORM_TRAIN} and ${BATCH_NORM_TRAIN_GRAD} match the batch-norm formula, PyTorch's running update and the autodiff gradient`, async () => {
    const shape = [4, 6, 6, 8];
    const rows = 4 * 6 * 6;
    const attrs = { epsilon: 1e-5, momentum: 0.1 };
    const run = (name: string, inputs: Record<string, tf.Tensor>) => tf.engine().runKernel(name, inputs as never, attrs as never) as tf.Tensor[];
    const inputs = () => [t(shape, 1), t([8], 2), t([8], 3), t(shape, 4), t([8], 5), tf.add(tf.abs(t([8], 6)), 0.5)];
    await tf.setBackend('cpu');
    const composite = tf.tidy(() => {
      const [x, gamma, beta, dy, runningMean, runningVar] = inputs();
      const { mean, variance } = tf.moments(x!, [0, 1, 2]);
      const norm = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const m = tf.moments(a, [0, 1, 2]);
        return tf.add(tf.mul(tf.div(tf.sub(a, m.mean), tf.sqrt(tf.add(m.variance, attrs.epsilon))), g), b);
      };
      const [dx, dg, db] = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(norm(a, g, b), dy!)))([x!, gamma!, beta!]);
      const runningMeanOut = tf.add(tf.mul(runningMean!, 0.9), tf.mul(mean, 0.1));
      const runningVarOut = tf.add(tf.mul(runningVar!, 0.9), tf.mul(variance, (0.1 * rows) / (rows - 1)));
      return [norm(x!, gamma!, beta!), mean, variance, runningMeanOut, runningVarOut, dx!, dg!, db!].map((v) => v.dataSync().slice());
    });
    await tf.setBackend('cuda');
    const fused = tf.tidy(() => {
      const [x, gamma, beta, dy, runningMean, runningVar] = inputs();
      const outputs = run(BATCH_NORM_TRAIN, { x: x!, gamma: gamma!, beta: beta!, runningMean: runningMean!, runningVar: runningVar! });
      const [, mean, variance] = outputs;
      const [dx, dg, db] = run(BATCH_NORM_TRAIN_GRAD, { x: x!, dy: dy!, gamma: gamma!, mean: mean!, variance: variance! });
      return [...outputs, dx!, dg!, db!].map((v) => v.dataSync().slice());
    });
    assert.equal(fused.length, composite.length);
    fused.forEach((values, i) => assert.ok(relativeError(values, composite[i]!) < 1e-4, `output ${i}: ${relativeError(values, composite[i]!)}`));
  });

  it(`${BATCH_NORM_TRAIN} with a residual and a ReLU (a ResNet block's end) and its gradients, against the op's composite`, async () => {
    for (const shape of [[4, 6, 6, 8], [3, 5, 5, 3]]) {
      const c = shape.at(-1)!;
      await matchesCpu(() => {
        const [x, residual, dy, gamma, beta] = [t(shape, 11), t(shape, 12), t(shape, 13), t([c], 14), t([c], 15)];
        const running = { mean: tf.zeros([c]), variance: tf.ones([c]), update: () => undefined };
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r: tf.Tensor) => batchNormTrain(a, g, b, running, { epsilon: 1e-5, momentum: 0.1, relu: true, residual: r });
        const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r: tf.Tensor) => tf.sum(tf.mul(f(a, g, b, r), dy)))([x, gamma, beta, residual]);
        return [f(x, gamma, beta, residual), ...grads];
      }, 1e-4, `shape ${shape}`);
    }
  });

  it(`${FORK}: two shares of x, and its gradient the sum of both branches'`, async () => {
    await matchesCpu(() => {
      const [x, u, v] = [t([3, 4, 5], 1), t([3, 4, 5], 2), t([3, 4, 5], 3)];
      const dx = tf.grad((a: tf.Tensor) => {
        const [p, q] = fork(a);
        return tf.sum(tf.add(tf.mul(p, u), tf.mul(tf.square(q), v)));
      })(x);
      return [...fork(x), dx];
    });
  });

  it(`${RELU_GRAD} and ${SGD_MOMENTUM} (first and later steps)`, async () => {
    const reluGrad = () => tf.engine().runKernel(RELU_GRAD, { dy: t([5, 7], 1), y: tf.relu(t([5, 7], 2)) } as never, {} as never) as tf.Tensor;
    await tf.setBackend('cpu');
    const want = tf.tidy(() => tf.mul(t([5, 7], 1), tf.step(tf.relu(t([5, 7], 2)))).dataSync().slice());
    await tf.setBackend('cuda');
    assert.ok(relativeError(tf.tidy(() => reluGrad().dataSync().slice()), want) < 1e-7);
    for (const firstStep of [true, false]) {
      const shapes = [[3, 3, 4, 5], [5], [10_000]];
      const params = shapes.map((s, i) => t(s, 40 + i));
      const grads = shapes.map((s, i) => t(s, 50 + i));
      const buffers = shapes.map((s, i) => t(s, 60 + i));
      const attrs = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, firstStep };
      const outs = tf.engine().runKernel(SGD_MOMENTUM, Object.fromEntries([...params, ...grads, ...buffers].map((v, i) => [String(i), v])) as never, attrs as never) as tf.Tensor[];
      shapes.forEach((_, i) => {
        const p = params[i]!.dataSync();
        const g = grads[i]!.dataSync();
        const b = buffers[i]!.dataSync();
        const buf = Float32Array.from(p, (pv, j) => (firstStep ? g[j]! + 5e-4 * pv : 0.9 * b[j]! + g[j]! + 5e-4 * pv));
        assert.ok(relativeError(outs[shapes.length + i]!.dataSync(), buf) < 1e-6, 'buffer');
        assert.ok(relativeError(outs[i]!.dataSync(), Float32Array.from(p, (pv, j) => pv - 0.05 * buf[j]!)) < 1e-6, 'param');
      });
      tf.dispose([...params, ...grads, ...buffers, ...outs]);
    }
  });

  for (const precision of ['fp32', 'bf16'] as const) {
    it(`${precision}: a training step and an evaluation pass run entirely on the GPU, with no growth of tensors or device memory over ${options.memorySteps} steps`, async () => {
      await tf.setBackend('cuda');
      setCudaPrecision(precision);
      const { model, step, images, labels, weights, dispose } = tinyTraining(1);
      try {
        let baseline: { tensors: number; bytes: number } | null = null;
        for (let i = 0; i < options.memorySteps; i++) {
          await step(images, labels, weights);
          if (i === 9) baseline = { tensors: tf.memory().numTensors, bytes: addon.stats().bytesInUse };
        }
        assert.equal(tf.memory().numTensors, baseline!.tensors, `tensors after ${options.memorySteps} steps`);
        assert.equal(addon.stats().bytesInUse, baseline!.bytes, `device bytes in use after ${options.memorySteps} steps`);
        const out = tf.tidy(() => {
          const logits = model.predict(images, { batchSize: 16 }) as tf.Tensor2D;
          return [perSampleCrossEntropy(logits, labels, 0.1), tf.argMax(logits, 1)];
        });
        await Promise.all(out.map((o) => o.data()));
        tf.dispose(out);
        assert.deepEqual([...cudaFallbacks().keys()], [], 'kernels that ran on the CPU');
      } finally {
        dispose();
        setCudaPrecision('fp32');
      }
    });
  }

  it('bf16 storage: convolutions write bf16; element-wise ops, BatchNorm and their gradients keep it where their inputs have it; other kernels read a float32 copy, freed after them', async () => {
    const c = 8;
    const eye = () => tf.reshape(tf.eye(c), [1, 1, c, c]) as tf.Tensor4D;
    // The identity 1×1 convolution: x itself on cpu, x rounded to bf16 on cuda with --precision bf16.
    const h = (seed: number) => tf.conv2d(t([2, 4, 4, c], seed) as tf.Tensor4D, eye(), 1, 'valid');
    const stored: Record<string, boolean> = {};
    const build = () => {
      const [a, b] = [h(1), h(2)];
      const dy = t([2, 4, 4, c], 3);
      const running = { mean: tf.zeros([c]), variance: tf.ones([c]), update: () => undefined };
      const block = (x: tf.Tensor, r: tf.Tensor) => batchNormTrain(x, tf.ones([c]), tf.zeros([c]), running, { epsilon: 1e-5, momentum: 0.1, relu: true, residual: r });
      const [bnDx, bnDr] = tf.grads((x: tf.Tensor, r: tf.Tensor) => tf.sum(tf.mul(block(x, r), dy)))([a, b]);
      const f = t([3, 3, c, 4], 4) as tf.Tensor4D;
      const [convDx, convDf] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 1), t([2, 4, 4, 4], 5))))([a, f]);
      const named: Record<string, tf.Tensor> = {
        a, add: tf.add(a, b), mulScalar: tf.mul(a, 3), subRow: tf.sub(a, t([c], 6)), greater: tf.cast(tf.greater(a, b), 'float32'), relu: tf.relu(a), exp: tf.exp(a),
        sum: tf.sum(a, [0, 1, 2]), transpose: tf.transpose(a, [0, 3, 1, 2]), inference: tf.batchNorm(a, t([c], 7), tf.add(tf.abs(t([c], 8)), 0.5), t([c], 9), t([c], 10), 1e-5),
        block: block(a, b), bnDx: bnDx!, bnDr: bnDr!, convDx: convDx!, convDf: convDf!,
      };
      if (tf.getBackend() === 'cuda') {
        const backend = tf.engine().findBackend('cuda') as CudaBackend;
        for (const [name, tensor] of Object.entries(named)) stored[name] = backend.stored(tensor).bf16;
      }
      return Object.values(named);
    };
    setCudaPrecision('bf16');
    try {
      await tf.setBackend('cuda');
      // Stream-ordered frees count once the stream has run them.
      const bytesInUse = () => (addon.synchronize(), addon.stats().bytesInUse);
      const bytesBefore = bytesInUse();
      await matchesCpu(build, 2e-2, 'bf16');
      assert.equal(bytesInUse(), bytesBefore, 'device bytes in use after the outputs are disposed (the float32 copies freed)');
      // An asynchronous read of a bf16-stored tensor converts as a synchronous one does.
      const a = h(1);
      assert.deepEqual(Array.from(await a.data()), Array.from(a.dataSync()));
      a.dispose();
    } finally {
      setCudaPrecision('fp32');
    }
    // bf16 with bf16 stays bf16, with a float32 tensor becomes float32, a scalar does not decide (PyTorch's
    // promotion); the ReLU mask of the block's gradient meets a float32 dy, so the residual's gradient is float32.
    assert.deepEqual(stored, {
      a: true, add: true, mulScalar: true, subRow: false, greater: false, relu: true, exp: true, sum: false, transpose: false, inference: true,
      block: true, bnDx: true, bnDr: false, convDx: true, convDf: false,
    });
  });

  it('bf16: one ResNetTiny training step is cpu fp32\'s within bf16 rounding (the loss, and every weight and running statistic update)', async () => {
    const stepOn = async (backend: string, precision: Precision) => {
      await tf.setBackend(backend);
      if (backend === 'cuda') setCudaPrecision(precision);
      const { model, step, images, labels, weights, dispose } = tinyTraining(5);
      try {
        const before = model.getWeights().map((w) => w.dataSync().slice());
        const loss = await step(images, labels, weights);
        return { loss, updates: model.getWeights().map((w, i) => w.dataSync().map((v, j) => v - before[i]![j]!)) };
      } finally {
        dispose();
        if (backend === 'cuda') setCudaPrecision('fp32');
      }
    };
    const want = await stepOn('cpu', 'fp32');
    const got = await stepOn('cuda', 'bf16');
    // 2.5e-4 relative on the host emulation; cuDNN's and cuBLAS's bf16 algorithms may round differently.
    assert.ok(Math.abs(got.loss - want.loss) < 1e-2 * want.loss, `loss ${got.loss} vs ${want.loss}`);
    // At initialization the gradients are small differences (BatchNorm's backward subtracts two means), so
    // bf16 operands move them by 7–19 % (host emulation; 7–16 % with float32 activations and bf16
    // convolutions only). A buffer read in the wrong format is off by 100 % or more.
    want.updates.forEach((w, i) => {
      const error = relativeError(got.updates[i]!, w);
      assert.ok(error < 0.3, `weight ${i}: relative error of its update ${error}`);
    });
  });

  it('a training step uploads a few scalars at most: nothing the size of an activation is made on the host', async () => {
    await tf.setBackend('cuda');
    const { step, images, labels, weights, dispose } = tinyTraining(3);
    await step(images, labels, weights);
    const upload = addon.upload;
    const sizes: number[] = [];
    addon.upload = (ptr, values) => {
      sizes.push(values.length);
      upload.call(addon, ptr, values);
    };
    try {
      await step(images, labels, weights);
    } finally {
      addon.upload = upload;
    }
    // Found this way: tf.mean's gradient uploaded a ones tensor of the pooled activation's size every step,
    // and BatchNorm's statistics outputs a zero gradient each.
    assert.ok(sizes.length <= 8 && sizes.every((n) => n <= 16), `uploads in one step (elements each): ${sizes.join(', ')}`);
    dispose();
  });

  for (const precision of ['fp32', 'bf16'] as const) {
    it(`${precision}: a short synthetic run learns (fixed batch, loss falls)`, async () => {
      await tf.setBackend('cuda');
      setCudaPrecision(precision);
      const model = buildModel('ResNetTiny', { inputShape: [16, 16, 3], numClasses: 4, seed: 2 });
      const step = makeTrainStep(model, { learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4, labelSmoothing: 0 });
      const labels = tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 4), 'int32');
      // Each class a constant image of its own brightness plus noise: easy to learn.
      const images = tf.tidy(() => tf.add(tf.mul(t([32, 16, 16, 3], 9), 0.3), tf.reshape(tf.cast(labels, 'float32'), [32, 1, 1, 1]))) as tf.Tensor4D;
      const weights = tf.ones([32]) as tf.Tensor1D;
      const losses: number[] = [];
      try {
        for (let i = 0; i < options.learnSteps; i++) losses.push(await step(images, labels, weights));
      } finally {
        setCudaPrecision('fp32');
      }
      assert.ok(losses[losses.length - 1]! < 0.5 * losses[0]!, `loss ${losses[0]} → ${losses[losses.length - 1]}`);
      step.dispose();
      model.dispose();
      tf.dispose([images, labels, weights]);
    });
  }
});
}
