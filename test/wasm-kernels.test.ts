import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers' Node bundle registers the gradient functions of all core ops (tfjs-core's own does not).
import * as tfl from '@tensorflow/tfjs-layers';
import { activateWasm } from '../src/backend/wasm.js';
import { buildModel } from '../src/models/registry.js';

/**
 * Our wasm convolution-gradient kernels (src/backend/wasm/) against the pure-JS
 * `cpu` backend, which is the reference: same inputs, same ops, results compared element-wise relative
 * to the largest magnitude of the reference.
 */

type Padding = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvCase {
  readonly x: [number, number, number, number];
  readonly filter: [number, number, number, number];
  readonly strides: number | [number, number];
  readonly pad: Padding;
}

const CONV_CASES: ConvCase[] = [
  { x: [2, 8, 8, 3], filter: [3, 3, 3, 5], strides: 1, pad: 'same' },
  { x: [2, 7, 7, 3], filter: [3, 3, 3, 5], strides: 1, pad: 'same' },
  { x: [2, 8, 8, 4], filter: [3, 3, 4, 6], strides: 2, pad: 'same' }, // TF pads 0 top / 1 bottom here
  { x: [3, 7, 9, 4], filter: [3, 3, 4, 6], strides: 2, pad: 'same' },
  { x: [1, 9, 9, 3], filter: [3, 3, 3, 2], strides: 1, pad: 'valid' },
  { x: [2, 8, 8, 3], filter: [3, 3, 3, 2], strides: 2, pad: 'valid' }, // the last input row is never read
  { x: [2, 8, 8, 6], filter: [1, 1, 6, 4], strides: 1, pad: 'same' },
  { x: [2, 8, 6, 6], filter: [1, 1, 6, 4], strides: 2, pad: 'same' }, // padding of −1: crop, not pad
  { x: [1, 7, 7, 4], filter: [1, 1, 4, 8], strides: 2, pad: 'valid' },
  { x: [2, 9, 7, 2], filter: [3, 2, 2, 3], strides: 2, pad: 1 },
  { x: [2, 9, 7, 2], filter: [3, 3, 2, 3], strides: 1, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
  { x: [2, 6, 7, 3], filter: [3, 3, 3, 4], strides: [1, 2], pad: 'same' },
  { x: [1, 5, 5, 3], filter: [5, 5, 3, 2], strides: 1, pad: 'valid' }, // filter as large as the input
  { x: [2, 9, 7, 2], filter: [3, 3, 2, 3], strides: 2, pad: 3 }, // some windows lie wholly in the padding
  { x: [2, 6, 5, 2], filter: [2, 2, 2, 3], strides: 2, pad: 'same' }, // even filter
  { x: [2, 10, 10, 3], filter: [3, 3, 3, 4], strides: 3, pad: 'same' },
  { x: [1, 7, 8, 2], filter: [1, 1, 2, 3], strides: 3, pad: 'valid' }, // most dx entries get no tap at all
];

/** Deterministic values in [−0.5, 0.5) (an LCG, so both backends get identical inputs). */
function values(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let state = seed >>> 0;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 32 - 0.5;
  }
  return out;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** max |actual − expected| / max |expected|. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, 'result sizes differ');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  assert.ok(scale > 0, 'reference result is all zeros: the comparison would prove nothing');
  return diff / scale;
}

/** Tensors the engine tracks plus buffers the backend holds: intermediates leaked inside a kernel show in the latter. */
function liveCounts(): { tensors: number; buffers: number } {
  return { tensors: tf.memory().numTensors, buffers: tf.engine().backend.numDataIds() };
}

/** Forward output, input gradient and filter gradient of one convolution on the current backend. */
function convAndGradients(c: ConvCase): { y: Float32Array; dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor4d(values(sizeOf(c.x), 1), c.x);
    const filter = tf.tensor4d(values(sizeOf(c.filter), 2), c.filter);
    const conv = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.conv2d(a, b, c.strides, c.pad);
    const y = conv(x, filter);
    const dy = tf.tensor(values(y.size, 3), y.shape);
    const [dx, dw] = tf.grads(conv as (...args: tf.Tensor[]) => tf.Tensor)([x, filter], dy);
    return { y: y.dataSync() as Float32Array, dx: dx!.dataSync() as Float32Array, dw: dw!.dataSync() as Float32Array };
  });
}

async function onBackend<T>(name: string, run: () => T | Promise<T>): Promise<T> {
  assert.ok(await tf.setBackend(name), `backend ${name} did not initialize`);
  return run();
}

describe('wasm backend', () => {
  const errorListenerCounts = () => [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
  let listenersBefore: number[] = [];
  let listenersAfter: number[] = [];

  before(async () => {
    listenersBefore = errorListenerCounts();
    assert.equal(await activateWasm(), 'wasm');
    listenersAfter = errorListenerCounts();
  });

  test("activateWasm leaves no Emscripten process error handlers behind (they bury errors under minified code)", () => {
    assert.deepEqual(listenersAfter, listenersBefore);
  });

  test('activateWasm can be called again', async () => {
    assert.equal(await activateWasm(), 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
  });

  test('a failed wasm allocation is reported as running out of memory', () => {
    const backend = tf.findBackend('wasm') as unknown as { wasm: { onAbort: (what: unknown) => void } };
    assert.throws(() => backend.wasm.onAbort(''), /wasm backend ran out of memory \(heap \d+ MiB, at most 4096\): use a smaller batch size/);
  });

  for (const c of CONV_CASES) {
    const label = `x ${c.x.join('×')}, filter ${c.filter.join('×')}, strides ${c.strides}, pad ${JSON.stringify(c.pad)}`;
    test(`conv2d and its gradients match cpu: ${label}`, async () => {
      const expected = await onBackend('cpu', () => convAndGradients(c));
      const actual = await onBackend('wasm', () => {
        const start = liveCounts();
        const result = convAndGradients(c);
        assert.deepEqual(liveCounts(), start, 'tensors or wasm buffers leaked');
        return result;
      });
      assert.ok(relativeError(actual.y, expected.y) < 1e-5, 'forward');
      assert.ok(relativeError(actual.dx, expected.dx) < 1e-5, 'input gradient');
      assert.ok(relativeError(actual.dw, expected.dw) < 1e-5, 'filter gradient');
    });
  }

  test('conv2dTranspose (a Conv2DBackpropInput forward) matches cpu', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(values(2 * 4 * 5 * 6, 4), [2, 4, 5, 6]);
        const filter = tf.tensor4d(values(3 * 3 * 3 * 6, 5), [3, 3, 3, 6]);
        return tf.conv2dTranspose(x, filter, [2, 8, 9, 3], 2, 'same').dataSync() as Float32Array;
      });
    const expected = await onBackend('cpu', run);
    const actual = await onBackend('wasm', run);
    assert.ok(relativeError(actual, expected) < 1e-5);
  });

  test('tile matches cpu for several ranks, repetitions and dtypes', async () => {
    const cases: Array<{ shape: number[]; reps: number[]; dtype: 'float32' | 'int32' | 'bool' }> = [
      { shape: [1, 1, 1, 5], reps: [2, 3, 4, 1], dtype: 'float32' }, // BatchNorm's gradient tiles like this
      { shape: [2, 3], reps: [3, 2], dtype: 'float32' },
      { shape: [4], reps: [3], dtype: 'int32' },
      { shape: [2, 1, 3], reps: [1, 4, 1], dtype: 'bool' },
      { shape: [2, 3, 1, 2, 2], reps: [2, 1, 3, 1, 2], dtype: 'float32' },
      { shape: [3, 2], reps: [1, 1], dtype: 'float32' },
      { shape: [0, 2], reps: [2, 2], dtype: 'float32' },
    ];
    for (const { shape, reps, dtype } of cases) {
      const input = Array.from(values(sizeOf(shape), 9), (v) => (dtype === 'float32' ? v : Math.round(v * 10) + (dtype === 'bool' ? 5 : 0)));
      const run = () => tf.tidy(() => Array.from(tf.tile(tf.tensor(input, shape, dtype), reps).dataSync()));
      const expected = await onBackend('cpu', run);
      const actual = await onBackend('wasm', run);
      assert.deepEqual(actual, expected, `tile of ${shape} by ${reps} (${dtype})`);
    }
  });

  test('inputs our kernels hand back to the stock kernels (NCHW input gradient, scalar tile) still work', async () => {
    const run = () =>
      tf.tidy(() => {
        const dy = tf.tensor4d(values(2 * 3 * 4 * 4, 16), [2, 3, 4, 4]); // NCHW
        const filter = tf.tensor4d(values(3 * 3 * 2 * 3, 17), [3, 3, 2, 3]);
        const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW', inputShape: [2, 2, 7, 8] };
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        return [dx.dataSync() as Float32Array, tf.tile(tf.scalar(3), []).dataSync() as Float32Array];
      });
    const expected = await onBackend('cpu', run);
    const actual = await onBackend('wasm', run);
    assert.ok(relativeError(actual[0]!, expected[0]!) < 1e-5, 'NCHW input gradient');
    assert.deepEqual(Array.from(actual[1]!), [3]);
  });

  test('batchNorm gradients match cpu', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(values(3 * 5 * 4 * 6, 10), [3, 5, 4, 6]);
        const [mean, variance, scale, offset] = [11, 12, 13, 14].map((seed, i) => tf.add(tf.tensor1d(values(6, seed)), i === 1 || i === 2 ? 1 : 0) as tf.Tensor1D);
        const dy = tf.tensor4d(values(x.size, 15), x.shape);
        const bn = (a: tf.Tensor4D, m: tf.Tensor1D, v: tf.Tensor1D, s: tf.Tensor1D, o: tf.Tensor1D) => tf.batchNorm(a, m, v, o, s, 1e-3);
        return tf.grads(bn as (...args: tf.Tensor[]) => tf.Tensor)([x, mean!, variance!, scale!, offset!], dy).map((g) => g.dataSync() as Float32Array);
      });
    const expected = await onBackend('cpu', run);
    const actual = await onBackend('wasm', run);
    expected.forEach((e, i) => assert.ok(relativeError(actual[i]!, e) < 1e-5, `gradient ${i}`));
  });

  /**
   * One training step as InfoBatch takes it (per-sample label-smoothed cross-entropy, weighted mean,
   * SGD with momentum). Returns the per-sample losses, the number of right predictions and the
   * per-variable gradients.
   */
  function trainingStep(model: tfl.LayersModel, x: tf.Tensor, labels: tf.Tensor, optimizer: tf.Optimizer): Float32Array[] {
    const variables = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const batch = x.shape[0]!;
    const weights = tf.tensor1d(Array.from({ length: batch }, (_, i) => (i % 2 ? 2 : 1))); // InfoBatch's 1/(1−r) on some samples
    let perSample: tf.Tensor | undefined;
    let correct: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor;
      const losses = tf.losses.softmaxCrossEntropy(labels, logits, undefined, 0.1, tf.Reduction.NONE);
      perSample = tf.keep(losses);
      correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(labels, 1)), 'int32')));
      return tf.mean(tf.mul(losses, weights)) as tf.Scalar;
    }, variables);
    const result = [
      perSample!.dataSync() as Float32Array,
      Float32Array.from(correct!.dataSync()),
      ...variables.map((v) => grads[v.name]!.dataSync() as Float32Array),
    ];
    optimizer.applyGradients(grads as unknown as Parameters<tf.Optimizer['applyGradients']>[0]); // typed as Variables, used as tensors
    tf.dispose([value, weights, perSample!, correct!, ...Object.values(grads)]);
    return result;
  }

  /** Builds the model on each backend from the same weights and compares two training steps. */
  async function compareTraining(build: () => tfl.LayersModel, inputShape: [number, number, number], batch: number, tolerance: number): Promise<void> {
    const images = values(batch * sizeOf(inputShape), 6);
    const classes = Array.from({ length: batch }, (_, i) => (i * 7) % 10);
    let weights: Array<{ values: Float32Array; shape: number[] }> | undefined;
    const results: Record<string, Float32Array[][]> = {};
    for (const backend of ['cpu', 'wasm']) {
      await onBackend(backend, () => {
        const model = build();
        if (weights) model.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
        else weights = model.getWeights().map((w) => ({ values: w.dataSync() as Float32Array, shape: w.shape }));
        const x = tf.tensor4d(images, [batch, ...inputShape]);
        const labels = tf.oneHot(tf.tensor1d(classes, 'int32'), 10);
        const optimizer = tf.train.momentum(0.05, 0.9);
        results[backend] = [trainingStep(model, x, labels, optimizer), trainingStep(model, x, labels, optimizer)];
        tf.dispose([x, labels]);
        optimizer.dispose();
        model.dispose();
      });
    }
    for (const step of [0, 1]) {
      const [cpuLosses, cpuCorrect, ...cpuGrads] = results.cpu![step]!;
      const [wasmLosses, wasmCorrect, ...wasmGrads] = results.wasm![step]!;
      assert.ok(relativeError(wasmLosses!, cpuLosses!) < tolerance, `step ${step} per-sample losses`);
      assert.deepEqual(wasmCorrect, cpuCorrect, `step ${step} right predictions`);
      cpuGrads.forEach((expected, i) => {
        const error = relativeError(wasmGrads[i]!, expected);
        assert.ok(error < tolerance, `step ${step}, gradient of variable ${i}: relative error ${error}`);
      });
    }
  }

  function smallConvBnNet(): tfl.LayersModel {
    const input = tfl.input({ shape: [9, 9, 3] });
    const conv = (filters: number, kernelSize: number, strides: number, seed: number) =>
      tfl.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.heNormal({ seed }) });
    let y = conv(8, 3, 1, 1).apply(input) as tfl.SymbolicTensor;
    y = tfl.layers.reLU().apply(tfl.layers.batchNormalization().apply(y)) as tfl.SymbolicTensor;
    const main = tfl.layers.batchNormalization().apply(conv(12, 3, 2, 2).apply(y)) as tfl.SymbolicTensor;
    const shortcut = conv(12, 1, 2, 3).apply(y) as tfl.SymbolicTensor;
    y = tfl.layers.reLU().apply(tfl.layers.add().apply([main, shortcut])) as tfl.SymbolicTensor;
    y = tfl.layers.globalAveragePooling2d({}).apply(y) as tfl.SymbolicTensor;
    const logits = tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }).apply(y) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: logits });
  }

  test('a conv + BatchNorm + residual net trains on wasm as on cpu', async () => {
    await compareTraining(smallConvBnNet, [9, 9, 3], 4, 1e-2);
  });

  test('a ResNetTiny training step on wasm matches cpu', async () => {
    await compareTraining(() => buildModel('ResNetTiny', { inputShape: [8, 8, 3], numClasses: 10, seed: 3 }), [8, 8, 3], 3, 1e-2);
  });

  test('repeated ResNetTiny training steps on wasm leak no tensors or wasm buffers', async () => {
    await onBackend('wasm', () => {
      const model = buildModel('ResNetTiny', { inputShape: [8, 8, 3], numClasses: 10, seed: 5 });
      const x = tf.tensor4d(values(2 * 8 * 8 * 3, 8), [2, 8, 8, 3]);
      const labels = tf.oneHot(tf.tensor1d([1, 4], 'int32'), 10);
      const optimizer = tf.train.momentum(0.05, 0.9);
      trainingStep(model, x, labels, optimizer); // creates the optimizer's momentum slots
      const start = liveCounts();
      for (let i = 0; i < 3; i++) trainingStep(model, x, labels, optimizer);
      assert.deepEqual(liveCounts(), start);
      tf.dispose([x, labels]);
      optimizer.dispose();
      model.dispose();
    });
  });
});
