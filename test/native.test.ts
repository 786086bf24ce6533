import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import seedrandom from 'seedrandom';
import { activateNative, nativeInfo, NATIVE_BACKEND } from '../src/backend/native.js';
import { loadNativeAddon } from '../src/backend/native/addon.js';
import { BatchNorm } from '../src/models/layers/index.js';
import { buildModel } from '../src/models/registry.js';
import { relu } from '../src/ops/index.js';
import { SgdMomentum } from '../src/train/sgd.js';
import { trainableVariables, trainStep } from '../src/train/step.js';

/**
 * Every native kernel against the pure-JS `cpu` backend on the same random inputs, several shapes each.
 * Error bound: max |native − cpu| ≤ tol · max(1, max |cpu|), with tol = 1e-5 for single kernels
 * (float32 sums of up to a few thousand terms, accumulated in a different order), 1e-6 for exact
 * element-wise ops and 1e-3 for a whole training step of a small ResNet (errors compound through
 * a dozen layers and BatchNorm's division by small variances).
 *
 * Where the addon is not built the suite is skipped, except on CI (CI=true) or with
 * INFOBATCH_REQUIRE_NATIVE=1, where a missing addon fails it: CI installs oneDNN and must test this path.
 */
let unavailable: string | undefined;
try {
  loadNativeAddon();
} catch (error) {
  unavailable = (error as Error).message;
}
const required = process.env.CI === 'true' || process.env.INFOBATCH_REQUIRE_NATIVE === '1';
const skip = unavailable !== undefined && !required ? `native addon unavailable: ${unavailable}` : false;

const KERNEL_TOL = 1e-5;
const EXACT_TOL = 1e-6;
const STEP_TOL = 1e-3;

function randomArray(size: number, seed: string, low = -1, high = 1): Float32Array {
  const rng = seedrandom(seed);
  return Float32Array.from({ length: size }, () => low + (high - low) * rng());
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    if (!(diff <= worst)) {
      worst = diff;
      at = i;
    }
  }
  assert.ok(worst <= tol * scale, `${what}: max |native − cpu| = ${worst} at ${at} (native ${actual[at]}, cpu ${expected[at]}), bound ${tol * scale}`);
}

/** Runs f on cpu, then on native, and returns each result's values (f must build its tensors itself). */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<{ cpu: Float32Array[]; native: Float32Array[] }> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const out = f();
      return (Array.isArray(out) ? out : [out]).map((t) => Float32Array.from(t.dataSync() as ArrayLike<number>));
    });
  };
  const cpu = await run('cpu');
  const native = await run(NATIVE_BACKEND);
  return { cpu, native };
}

async function compare(what: string, f: () => tf.Tensor | tf.Tensor[], tol = KERNEL_TOL): Promise<void> {
  const { cpu, native } = await onBoth(f);
  cpu.forEach((expected, i) => assertClose(native[i]!, expected, tol, `${what} [output ${i}]`));
}

/** Counts how often each kernel ran on the native backend inside f (to prove the native path was taken). */
async function kernelsRun(f: () => tf.Tensor | tf.Tensor[]): Promise<Set<string>> {
  await tf.setBackend(NATIVE_BACKEND);
  const profile = await tf.profile(() => {
    const out = f();
    tf.dispose(out);
  });
  return new Set(profile.kernels.map((k) => k.name));
}

it('the native addon is built where it is required (CI)', { skip: required ? false : 'only required on CI or with INFOBATCH_REQUIRE_NATIVE=1' }, () => {
  assert.equal(unavailable, undefined, `CI requires the native addon: ${unavailable}`);
});

describe('native backend', { skip }, () => {
  before(async () => {
    if (unavailable !== undefined) assert.fail(`CI requires the native addon: ${unavailable}`);
    assert.equal(await activateNative(), NATIVE_BACKEND);
    await tf.setBackend('cpu');
  });

  it('loads the addon and reports oneDNN', () => {
    const info = nativeInfo();
    assert.match(info.onednn, /^\d+\.\d+\.\d+$/);
    assert.ok(info.threads >= 1);
  });

  it('rejects wrong arguments with a JavaScript error instead of reading out of bounds', () => {
    const addon = loadNativeAddon();
    const shape = [1, 4, 4, 2, 3, 3, 3, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1];
    assert.throws(() => addon.conv2d(new Float32Array(31), new Float32Array(54), null, new Float32Array(48), shape, false), /x has 31 elements, expected 32/);
    assert.throws(() => addon.binary(0, new Float32Array(6), [2, 3], new Float32Array(4), [4], new Float32Array(6), [2, 3]), /do not broadcast/);
    assert.throws(() => addon.copyBox(new Float32Array(4), 2, [1], new Float32Array(4), 0, [1], [3]), /out of bounds/);
    assert.throws(() => addon.unary(0, new Float64Array(4) as unknown as Float32Array, new Float32Array(4)), /Float32Array/);
    const f = (n: number) => [new Float32Array(n)];
    assert.throws(() => addon.sgdMomentum(f(3), f(2), f(3), f(3), f(3), 0.1, 0.9, 0, false), /grads\[0\] has 2 elements, expected 3/);
    assert.throws(() => addon.sgdMomentum(f(3), [], f(3), f(3), f(3), 0.1, 0.9, 0, false), /grads differs in length/);
  });

  it('reads stay valid after a tensor is disposed and its memory reused by the next output', async () => {
    await tf.setBackend(NATIVE_BACKEND);
    const size = 1 << 17; // above the size from which outputs are pooled
    const x = tf.tensor1d(randomArray(size, 'pool'));
    const first = tf.relu(x);
    const read = first.dataSync();
    const asyncRead = await first.data();
    const expected = Float32Array.from(read);
    first.dispose();
    const second = tf.neg(x); // same size: reuses the released array
    assert.deepEqual(Float32Array.from(read), expected, 'dataSync result unchanged');
    assert.deepEqual(Float32Array.from(asyncRead as Float32Array), expected, 'data() result unchanged');
    assertClose(second.dataSync(), Float32Array.from(x.dataSync(), (v) => -v), EXACT_TOL, 'new output');
    tf.dispose([x, second]);
    await tf.setBackend('cpu');
  });

  describe('convolution', () => {
    const cases = [
      { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' as const },
      { x: [2, 9, 9, 5], f: [3, 3, 5, 7], strides: 2, pad: 'same' as const },
      { x: [1, 7, 7, 4], f: [1, 1, 4, 6], strides: 2, pad: 'valid' as const },
      { x: [3, 6, 6, 3], f: [3, 3, 3, 2], strides: 1, pad: 'valid' as const },
      { x: [2, 8, 8, 16], f: [3, 3, 16, 32], strides: 2, pad: 'same' as const },
    ];
    for (const c of cases) {
      const name = `x ${c.x} filter ${c.f} stride ${c.strides} ${c.pad}`;
      it(`forward, input gradient and filter gradient: ${name}`, async () => {
        const x = randomArray(tf.util.sizeFromShape(c.x), `x${name}`);
        const w = randomArray(tf.util.sizeFromShape(c.f), `w${name}`);
        const body = () => {
          const xt = tf.tensor4d(x, c.x as [number, number, number, number]);
          const wt = tf.tensor4d(w, c.f as [number, number, number, number]);
          const y = tf.conv2d(xt, wt, c.strides, c.pad);
          const r = tf.tensor(randomArray(y.size, `r${name}`), y.shape);
          const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad), r)))([xt, wt]);
          return [y, dx!, dw!];
        };
        await compare(name, body);
        const ran = await kernelsRun(body);
        for (const kernel of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) assert.ok(ran.has(kernel), `${kernel} ran`);
      });
    }

    it('dilated convolution', async () => {
      const x = randomArray(2 * 9 * 9 * 3, 'dx');
      const w = randomArray(3 * 3 * 3 * 4, 'dw');
      await compare('dilation 2', () => tf.conv2d(tf.tensor4d(x, [2, 9, 9, 3]), tf.tensor4d(w, [3, 3, 3, 4]), 1, 'same', 'NHWC', 2));
    });

    it('fused convolution with bias and ReLU, and its gradients', async () => {
      for (const [activation, withBias] of [['relu', true], ['linear', false], ['linear', true]] as const) {
        const x = randomArray(2 * 8 * 8 * 4, `fx${activation}`);
        const w = randomArray(3 * 3 * 4 * 5, `fw${activation}`);
        const b = randomArray(5, `fb${activation}`);
        await compare(`fused conv ${activation} bias ${withBias}`, () => {
          const xt = tf.tensor4d(x, [2, 8, 8, 4]);
          const wt = tf.tensor4d(w, [3, 3, 4, 5]);
          const bt = tf.tensor1d(b);
          const conv = (a: tf.Tensor, f: tf.Tensor, bias?: tf.Tensor) =>
            tf.fused.conv2d({ x: a as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 2, pad: 'same', bias, activation });
          const y = conv(xt, wt, withBias ? bt : undefined);
          const grads = withBias
            ? tf.grads((a: tf.Tensor, f: tf.Tensor, bias: tf.Tensor) => tf.sum(tf.square(conv(a, f, bias))))([xt, wt, bt])
            : tf.grads((a: tf.Tensor, f: tf.Tensor) => tf.sum(tf.square(conv(a, f))))([xt, wt]);
          return [y, ...grads];
        });
      }
    });
  });

  describe('pooling', () => {
    const cases = [
      { x: [2, 8, 8, 3], size: 1, strides: 2, pad: 'valid' as const },
      { x: [2, 9, 9, 4], size: 3, strides: 2, pad: 'same' as const },
      { x: [1, 6, 6, 2], size: 2, strides: 2, pad: 'valid' as const },
    ];
    for (const c of cases) {
      it(`average pool and its gradient: x ${c.x} size ${c.size} stride ${c.strides} ${c.pad}`, async () => {
        const x = randomArray(tf.util.sizeFromShape(c.x), `p${c.x}`);
        const body = () => {
          const xt = tf.tensor4d(x, c.x as [number, number, number, number]);
          const y = tf.avgPool(xt, c.size, c.strides, c.pad);
          const r = tf.tensor(randomArray(y.size, `pr${c.x}`), y.shape);
          const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(a as tf.Tensor4D, c.size, c.strides, c.pad), r)))(xt);
          return [y, dx];
        };
        await compare(`avgPool ${c.x}`, body);
        const ran = await kernelsRun(body);
        assert.ok(ran.has('AvgPool') && ran.has('AvgPoolGrad'));
      });
    }
  });

  describe('matrix multiplication', () => {
    const cases: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [
      { a: [5, 7], b: [7, 3], ta: false, tb: false },
      { a: [7, 5], b: [7, 3], ta: true, tb: false },
      { a: [5, 7], b: [3, 7], ta: false, tb: true },
      { a: [7, 5], b: [3, 7], ta: true, tb: true },
      { a: [4, 5, 7], b: [4, 7, 3], ta: false, tb: false },
      { a: [4, 5, 7], b: [1, 7, 3], ta: false, tb: false },
      { a: [1, 5, 7], b: [4, 3, 7], ta: false, tb: true },
      { a: [128, 512], b: [512, 10], ta: false, tb: false },
    ];
    for (const c of cases) {
      it(`a ${c.a}${c.ta ? 'ᵀ' : ''} · b ${c.b}${c.tb ? 'ᵀ' : ''}`, async () => {
        const a = randomArray(tf.util.sizeFromShape(c.a), `a${c.a}${c.ta}`);
        const b = randomArray(tf.util.sizeFromShape(c.b), `b${c.b}${c.tb}`);
        await compare('matMul', () => tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.ta, c.tb));
      });
    }

    it('fused matMul with bias and ReLU, and its gradients (a dense layer)', async () => {
      const a = randomArray(6 * 8, 'fa');
      const b = randomArray(8 * 4, 'fb');
      const bias = randomArray(4, 'fbias');
      const body = () => {
        const at = tf.tensor2d(a, [6, 8]);
        const bt = tf.tensor2d(b, [8, 4]);
        const biasT = tf.tensor1d(bias);
        const f = (x: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => tf.sum(tf.square(tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: c, activation: 'relu' })));
        return [tf.fused.matMul({ a: at, b: bt, bias: biasT, activation: 'relu' }), ...tf.grads(f)([at, bt, biasT])];
      };
      await compare('fused matMul', body);
      assert.ok((await kernelsRun(body)).has('_FusedMatMul'));
    });
  });

  describe('element-wise', () => {
    const shapes: Array<[number[], number[]]> = [
      [[2, 3, 4, 5], [2, 3, 4, 5]],
      [[2, 3, 4, 5], [5]],
      [[5], [2, 3, 4, 5]],
      [[4, 1, 3], [1, 5, 1]],
      [[2, 1, 1, 6], [2, 4, 4, 6]],
      [[3, 4], []],
      [[16, 16, 16, 16], [16]],
    ];
    const ops: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
      ['Add', tf.add],
      ['Sub', tf.sub],
      ['Multiply', tf.mul],
      ['RealDiv', tf.div],
      ['SquaredDifference', tf.squaredDifference],
      ['Maximum', tf.maximum],
      ['Minimum', tf.minimum],
    ];
    for (const [name, op] of ops) {
      it(`${name} with broadcasting`, async () => {
        for (const [sa, sb] of shapes) {
          const a = randomArray(tf.util.sizeFromShape(sa), `ea${sa}`);
          const b = randomArray(tf.util.sizeFromShape(sb), `eb${sb}`, 0.5, 2);
          await compare(`${name} ${sa} ∘ ${sb}`, () => op(tf.tensor(a, sa), tf.tensor(b, sb)), EXACT_TOL);
        }
      });
    }

    it('leaves int32 arithmetic to the cpu kernels', async () => {
      await tf.setBackend(NATIVE_BACKEND);
      const sum = tf.add(tf.tensor1d([1, 2, 3], 'int32'), tf.tensor1d([10, 20, 30], 'int32'));
      assert.equal(sum.dtype, 'int32');
      assert.deepEqual(Array.from(sum.dataSync()), [11, 22, 33]);
      sum.dispose();
    });

    const unary: Array<[string, (x: tf.Tensor) => tf.Tensor, number, number]> = [
      ['Relu', tf.relu, -1, 1],
      ['Step', (x) => tf.step(x, 0.25), -1, 1],
      ['Neg', tf.neg, -1, 1],
      ['Square', tf.square, -2, 2],
      ['Sqrt', tf.sqrt, 0.01, 4],
      ['Rsqrt', tf.rsqrt, 0.01, 4],
      ['Exp', tf.exp, -5, 5],
      ['Log', tf.log, 0.01, 10],
      ['Reciprocal', tf.reciprocal, 0.1, 4],
      ['Abs', tf.abs, -1, 1],
      ['Relu6', tf.relu6, -3, 9],
      ['Sigmoid', tf.sigmoid, -6, 6],
    ];
    for (const [name, op, low, high] of unary) {
      it(name, async () => {
        for (const shape of [[7], [3, 5, 6], [32, 4096]]) {
          const x = randomArray(tf.util.sizeFromShape(shape), `u${name}${shape}`, low, high);
          await compare(`${name} ${shape}`, () => op(tf.tensor(x, shape)), EXACT_TOL);
        }
      });
    }

    it('ReLU gradient of our relu op (one fused kernel on native)', async () => {
      const x = randomArray(4 * 6 * 6 * 8, 'rg');
      const body = () => {
        const xt = tf.tensor4d(x, [4, 6, 6, 8]);
        const r = tf.tensor4d(randomArray(x.length, 'rgr'), [4, 6, 6, 8]);
        return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(relu(a), r)))(xt);
      };
      await compare('relu grad', body, EXACT_TOL);
      const ran = await kernelsRun(body);
      assert.ok(ran.has('InfobatchReluGrad') && !ran.has('Step'));
    });

    it('Slice and PadV2, with their gradients', async () => {
      const x = randomArray(4 * 6 * 6 * 8, 'sl');
      const shape: [number, number, number, number] = [4, 6, 6, 8];
      await compare('slice channels', () => tf.slice(tf.tensor4d(x, shape), [0, 0, 0, 2], [-1, -1, -1, 4]), EXACT_TOL);
      await compare('slice box', () => tf.slice(tf.tensor4d(x, shape), [1, 2, 0, 3], [2, 3, 6, 5]), EXACT_TOL);
      await compare('slice 1d', () => tf.slice(tf.tensor1d(x), [5], [100]), EXACT_TOL);
      const body = () => {
        const xt = tf.tensor4d(x, shape);
        const padded = tf.pad(xt, [[0, 0], [1, 2], [0, 0], [4, 4]], 0.5);
        const r = tf.tensor(randomArray(padded.size, 'slr'), padded.shape);
        return [padded, tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.pad(a, [[0, 0], [1, 2], [0, 0], [4, 4]]), r)))(xt)];
      };
      await compare('pad and its gradient', body, EXACT_TOL);
      const ran = await kernelsRun(body);
      assert.ok(ran.has('PadV2') && ran.has('Slice'));
    });

    it('AddN', async () => {
      const parts = [0, 1, 2, 3].map((i) => randomArray(3 * 50, `n${i}`));
      await compare('addN', () => tf.addN(parts.map((p) => tf.tensor2d(p, [3, 50]))), EXACT_TOL);
    });
  });

  describe('reductions', () => {
    const cases: Array<[number[], number | number[] | undefined, boolean]> = [
      [[4, 5, 6, 7], [0, 1, 2], false],
      [[4, 5, 6, 7], [1, 2], false],
      [[4, 5, 6, 7], [1, 2], true],
      [[4, 5, 6, 7], -1, false],
      [[4, 5, 6, 7], 0, true],
      [[4, 5, 6, 7], undefined, false],
      [[4, 5, 6, 7], [0, 2], false],
      [[128, 10], 1, false],
      [[2, 4096, 3], 1, false],
    ];
    for (const [name, op] of [['Sum', tf.sum], ['Mean', tf.mean], ['Max', tf.max]] as const) {
      it(`${name} over axes`, async () => {
        for (const [shape, axis, keepDims] of cases) {
          const x = randomArray(tf.util.sizeFromShape(shape), `r${shape}${axis}`);
          await compare(`${name} ${shape} axis ${axis} keepDims ${keepDims}`, () => op(tf.tensor(x, shape), axis, keepDims));
        }
      });
    }
  });

  describe('batch normalization', () => {
    it('FusedBatchNorm with per-channel, scalar and missing parameters', async () => {
      const x = randomArray(4 * 5 * 5 * 6, 'bx', -3, 5);
      const mean = randomArray(6, 'bm');
      const variance = randomArray(6, 'bv', 0.1, 2);
      const offset = randomArray(6, 'bo');
      const scale = randomArray(6, 'bs', 0.5, 1.5);
      await compare('batchNorm per channel', () =>
        tf.batchNorm(tf.tensor4d(x, [4, 5, 5, 6]), tf.tensor1d(mean), tf.tensor1d(variance), tf.tensor1d(offset), tf.tensor1d(scale), 1e-3));
      await compare('batchNorm scalar', () => tf.batchNorm(tf.tensor4d(x, [4, 5, 5, 6]), tf.scalar(0.3), tf.scalar(1.7), undefined, tf.scalar(2), 1e-5));
      await compare('batchNorm 2d', () => tf.batchNorm(tf.tensor2d(x, [100, 6]), tf.tensor1d(mean), tf.tensor1d(variance), undefined, undefined, 1e-3));
    });

    for (const shape of [[8, 6, 6, 5], [16, 4, 4, 32], [32, 10]]) {
      it(`our BatchNorm layer in training: output, gradients and running statistics, ${shape}`, async () => {
        const x = randomArray(tf.util.sizeFromShape(shape), `lx${shape}`, -2, 4);
        const r = randomArray(x.length, `lr${shape}`);
        const gamma = randomArray(shape.at(-1)!, `lg${shape}`, 0.5, 1.5);
        const beta = randomArray(shape.at(-1)!, `lb${shape}`);
        const body = () => {
          const layer = new BatchNorm({ momentum: 0.1, epsilon: 1e-5 });
          const xt = tf.tensor(x, shape);
          layer.build(shape);
          layer.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta), tf.zeros([shape.at(-1)!]), tf.ones([shape.at(-1)!])]);
          const rt = tf.tensor(r, shape);
          const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
          const y = layer.apply(xt, { training: true }) as tf.Tensor;
          const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xt, { training: true }) as tf.Tensor, rt)), vars);
          const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layer.apply(a, { training: true }) as tf.Tensor, rt)))(xt);
          const [, , movingMean, movingVariance] = layer.getWeights();
          return [y, dx, grads[vars[0]!.name]!, grads[vars[1]!.name]!, movingMean!.clone(), movingVariance!.clone()];
        };
        await compare(`BatchNorm ${shape}`, body);
        const ran = await kernelsRun(body);
        assert.ok(ran.has('InfobatchBatchNormTrain') && ran.has('InfobatchBatchNormTrainGrad'), 'the fused kernels ran');
      });
    }
  });

  describe('training a small ResNet', () => {
    const batch = 4;
    const side = 8;
    const makeInput = () => ({
      images: tf.tensor4d(randomArray(batch * side * side * 3, 'img'), [batch, side, side, 3]),
      labels: tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'),
      weights: tf.tensor1d(Array.from({ length: batch }, (_, i) => (i % 3 === 0 ? 2 : 1))),
      lr: 0.05,
      momentum: 0.9,
      labelSmoothing: 0.1,
    });

    for (const modelName of ['ResNetTiny', 'ResNet20']) {
      it(`${modelName}: two steps give the same losses and weights as cpu, and the same eval logits`, async () => {
        const run = async (backend: string) => {
          await tf.setBackend(backend);
          const model = buildModel(modelName, { inputShape: [side, side, 3], numClasses: 10, seed: 7 });
          const vars = trainableVariables(model);
          const optimizer = new SgdMomentum(vars, 5e-4);
          const input = makeInput();
          const losses = [(await trainStep(model, vars, optimizer, input)).losses, (await trainStep(model, vars, optimizer, input)).losses];
          const weights = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
          const logits = tf.tidy(() => Float32Array.from((model.predict(input.images) as tf.Tensor).dataSync()));
          tf.dispose([input.images, input.labels, input.weights]);
          optimizer.dispose();
          model.dispose();
          return { losses, weights, logits };
        };
        const cpu = await run('cpu');
        const native = await run(NATIVE_BACKEND);
        cpu.losses.forEach((l, i) => assertClose(native.losses[i]!, l, STEP_TOL, `step ${i + 1} losses`));
        cpu.weights.forEach((w, i) => assertClose(native.weights[i]!, w, STEP_TOL, `weight ${i} after two steps`));
        assertClose(native.logits, cpu.logits, STEP_TOL, 'eval logits');
      });

      it(`${modelName}: a native step runs the layers' native paths (convolutions that save only inputs, fused BatchNorm)`, async () => {
        await tf.setBackend(NATIVE_BACKEND);
        const model = buildModel(modelName, { inputShape: [side, side, 3], numClasses: 10, seed: 7 });
        const vars = trainableVariables(model);
        const images = tf.tensor4d(randomArray(batch * side * side * 3, 'img'), [batch, side, side, 3]);
        const ran = await kernelsRun(() => {
          const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.apply(images, { training: true }) as tf.Tensor)), vars);
          return [value, ...Object.values(grads)];
        });
        for (const kernel of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'InfobatchBatchNormTrain', 'InfobatchBatchNormTrainGrad', 'InfobatchReluGrad']) {
          assert.ok(ran.has(kernel), `${kernel} ran`);
        }
        for (const kernel of ['FusedConv2D', 'FusedBatchNorm', 'Tile', 'Step']) assert.ok(!ran.has(kernel), `${kernel} did not run`);
        images.dispose();
        model.dispose();
      });
    }

    it('does not leak: tensor count, cached primitives and RSS stay flat over many steps', async () => {
      await tf.setBackend(NATIVE_BACKEND);
      const model = buildModel('ResNetTiny', { inputShape: [32, 32, 3], numClasses: 10, seed: 3 });
      const vars = trainableVariables(model);
      const optimizer = new SgdMomentum(vars, 5e-4);
      const input = { ...makeInput(), images: tf.tensor4d(randomArray(32 * 32 * 32 * 3, 'leak'), [32, 32, 32, 3]) };
      input.labels.dispose();
      input.weights.dispose();
      const labels = tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 10), 'int32');
      const weights = tf.ones([32]) as tf.Tensor1D;
      const step = () => trainStep(model, vars, optimizer, { ...input, labels, weights });
      for (let i = 0; i < 5; i++) await step();
      const tensors = tf.memory().numTensors;
      const primitives = nativeInfo().cachedPrimitives;
      const rssBefore = process.memoryUsage().rss;
      // Each step allocates ~40 MB of activations and gradients: a leak of any of them would show.
      for (let i = 0; i < 40; i++) {
        await step();
        assert.equal(tf.memory().numTensors, tensors, `tensor count after step ${i + 6}`);
      }
      const growthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
      assert.equal(nativeInfo().cachedPrimitives, primitives, 'no new primitives for the same shapes');
      assert.ok(growthMiB < 150, `RSS grew by ${growthMiB.toFixed(0)} MiB over 40 steps`);
      tf.dispose([input.images, labels, weights]);
      optimizer.dispose();
      model.dispose();
    });
  });
});

describe('native backend selection', () => {
  it('without the addon, auto says why in one line and falls back', { skip: unavailable !== undefined ? 'checked by the suite above' : false, timeout: 120_000 }, () => {
    const script = `
      import { selectBackend } from './src/backend/select.ts';
      const lines = [];
      const chosen = await selectBackend('auto', (line) => lines.push(line));
      console.log(JSON.stringify({ chosen: chosen.name, skipped: chosen.skipped }));
      try { await selectBackend('native'); } catch (error) { console.log(JSON.stringify({ error: error.message })); }
    `;
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, INFOBATCH_NATIVE_ADDON: '/nonexistent/infobatch_native.node' },
      encoding: 'utf8',
      timeout: 110_000,
    });
    assert.equal(result.status, 0, result.stderr);
    const [first, second] = result.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    assert.notEqual(first.chosen, 'native');
    const nativeLine = (first.skipped as string[]).find((s) => s.startsWith('native:'));
    assert.ok(nativeLine, `auto reports why native was skipped: ${first.skipped}`);
    assert.match(nativeLine!, /not built.*libdnnl-dev.*npm run build:native/);
    assert.match(second.error, /backend "native" is unavailable: .*npm run build:native/);
  });
});
