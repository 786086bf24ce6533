import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers' Node bundle registers the gradients of tfjs's own ops, which the references use.
import '@tensorflow/tfjs-layers';
import seedrandom from 'seedrandom';
import { activateNative, NATIVE_BACKEND } from '../src/backend/native.js';
import { loadNativeAddon } from '../src/backend/native/addon.js';
import { activateWasm } from '../src/backend/wasm.js';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, batchNormTrain, conv2d, FORK, fork, RELU_GRAD, relu, SGD_MOMENTUM, sgdMomentum } from '../src/ops/index.js';
import { backendHasKernel, customOp } from '../src/ops/dispatch.js';

/**
 * Our training ops (src/ops) against plain tfjs formulas computed independently: forward values and
 * gradients (tf.grads of the reference formula, through tfjs's own gradients), on cpu and wasm (the
 * composites) and on native (its kernels). Bound: max |op − reference| ≤ TOL · max(1, max |reference|).
 */
const TOL = 2e-5;

let nativeUnavailable: string | undefined;
try {
  loadNativeAddon();
} catch (error) {
  nativeUnavailable = (error as Error).message;
}

function randomArray(size: number, seed: string, low = -1, high = 1): Float32Array {
  const rng = seedrandom(seed);
  return Float32Array.from({ length: size }, () => low + (high - low) * rng());
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = TOL): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(worst <= tol * scale, `${what}: max |op − reference| = ${worst}, bound ${tol * scale}`);
}

function values(tensors: tf.Tensor[]): Float32Array[] {
  return tensors.map((t) => Float32Array.from(t.dataSync() as ArrayLike<number>));
}

/** Kernels that ran inside f on the active backend. */
async function kernelsRun(f: () => tf.Tensor | tf.Tensor[]): Promise<Set<string>> {
  const profile = await tf.profile(() => {
    tf.dispose(f());
  });
  return new Set(profile.kernels.map((k) => k.name));
}

const BACKENDS: Array<{ name: string; activate: () => Promise<string>; skip: string | false }> = [
  { name: 'cpu', activate: async () => ((await tf.setBackend('cpu')), 'cpu'), skip: false },
  { name: 'wasm', activate: activateWasm, skip: false },
  { name: NATIVE_BACKEND, activate: activateNative, skip: nativeUnavailable ? `native addon unavailable: ${nativeUnavailable}` : false },
];

/** Reference training-mode BatchNorm: tf.moments and arithmetic, differentiated by tfjs's own gradients. */
function referenceBatchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor[] {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const mean = tf.mean(x, axes);
  const variance = tf.mean(tf.square(tf.sub(x, mean)), axes);
  const y = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, epsilon))), gamma), beta);
  return [y, mean, variance];
}

for (const backend of BACKENDS) {
  describe(`training ops on ${backend.name}`, { skip: backend.skip }, () => {
    before(async () => {
      await backend.activate();
      await tf.setBackend(backend.name);
    });

    for (const shape of [[8, 6, 6, 5], [16, 4, 4, 32], [32, 10], [3, 5, 7, 3]]) {
      it(`batchNormTrain ${shape}: y, the running statistics (unbiased variance) and the gradients for x, gamma, beta`, async () => {
        await tf.setBackend(backend.name);
        const channels = shape.at(-1)!;
        const n = tf.util.sizeFromShape(shape) / channels;
        const x = tf.tensor(randomArray(tf.util.sizeFromShape(shape), `x${shape}`, -2, 4), shape);
        const r = tf.tensor(randomArray(x.size, `r${shape}`), shape);
        const gamma = tf.tensor1d(randomArray(channels, `g${shape}`, 0.5, 1.5));
        const beta = tf.tensor1d(randomArray(channels, `b${shape}`));
        const runningMean = tf.variable(tf.tensor1d(randomArray(channels, `m${shape}`)), false);
        const runningVar = tf.variable(tf.tensor1d(randomArray(channels, `v${shape}`, 0.5, 2)), false);
        const options = { epsilon: 1e-5, momentum: 0.1 };
        const expectedRunning = tf.tidy(() => {
          const [, mean, variance] = referenceBatchNorm(x, gamma, beta, options.epsilon);
          return values([
            tf.add(tf.mul(runningMean, 0.9), tf.mul(mean!, 0.1)),
            tf.add(tf.mul(runningVar, 0.9), tf.mul(variance!, (0.1 * n) / (n - 1))),
          ]);
        });
        const running = {
          mean: runningMean,
          variance: runningVar,
          update: (mean: tf.Tensor, variance: tf.Tensor) => {
            runningMean.assign(mean as tf.Tensor1D);
            runningVar.assign(variance as tf.Tensor1D);
          },
        };
        const ours = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTrain(a, g, b, running, options);
        const reference = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => referenceBatchNorm(a, g, b, options.epsilon)[0]!;
        const loss = (f: typeof ours) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b), r));
        const before = values([runningMean, runningVar]);
        const actualY = tf.tidy(() => values([ours(x, gamma, beta)]));
        const actualRunning = values([runningMean, runningVar]);
        runningMean.assign(tf.tensor1d(before[0]!));
        runningVar.assign(tf.tensor1d(before[1]!));
        const [actual, expected] = [ours, reference].map((f) => tf.tidy(() => values(tf.grads(loss(f))([x, gamma, beta]))));
        assertClose(actualY[0]!, values([tf.tidy(() => reference(x, gamma, beta))])[0]!, `y ${shape}`, TOL);
        ['running mean', 'running variance'].forEach((what, i) => assertClose(actualRunning[i]!, expectedRunning[i]!, `${what} ${shape}`, TOL));
        ['dx', 'dgamma', 'dbeta'].forEach((what, i) => assertClose(actual![i]!, expected![i]!, `${what} ${shape}`, what === 'dx' ? 1e-4 : TOL));
        const ran = await kernelsRun(() => tf.grads(loss(ours))([x, gamma, beta]));
        const fused = backend.name === NATIVE_BACKEND;
        assert.equal(ran.has(BATCH_NORM_TRAIN) && ran.has(BATCH_NORM_TRAIN_GRAD), fused, `the backend's kernels ran: ${fused}`);
        tf.dispose([x, r, gamma, beta, runningMean, runningVar]);
      });
    }

    it('batchNormTrain with a residual and a ReLU: relu(bn(x) + residual) and the gradients for x, gamma, beta and the residual', async () => {
      await tf.setBackend(backend.name);
      const shape = [6, 5, 5, 8];
      const x = tf.tensor(randomArray(tf.util.sizeFromShape(shape), 'fx', -2, 4), shape);
      const residual = tf.tensor(randomArray(x.size, 'fres'), shape);
      const r = tf.tensor(randomArray(x.size, 'fr'), shape);
      const gamma = tf.tensor1d(randomArray(8, 'fg', 0.5, 1.5));
      const beta = tf.tensor1d(randomArray(8, 'fb'));
      const runningMean = tf.variable(tf.zeros([8]), false);
      const runningVar = tf.variable(tf.ones([8]), false);
      const running = { mean: runningMean, variance: runningVar, update: (m: tf.Tensor, v: tf.Tensor) => (runningMean.assign(m as tf.Tensor1D), runningVar.assign(v as tf.Tensor1D)) };
      const epsilon = 1e-5;
      for (const variant of [{ relu: true, withResidual: true }, { relu: true, withResidual: false }, { relu: false, withResidual: true }]) {
        const label = `relu ${variant.relu}, residual ${variant.withResidual}`;
        const ours = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, res: tf.Tensor) =>
          batchNormTrain(a, g, b, running, { epsilon, momentum: 0.1, relu: variant.relu, ...(variant.withResidual ? { residual: res } : {}) });
        const reference = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, res: tf.Tensor) => {
          const y = referenceBatchNorm(a, g, b, epsilon)[0]!;
          const sum = variant.withResidual ? tf.add(y, res) : y;
          return variant.relu ? tf.relu(sum) : sum;
        };
        const loss = (f: typeof ours) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, res: tf.Tensor) => tf.sum(tf.mul(f(a, g, b, res), r));
        const [actualY, expectedY] = [ours, reference].map((f) => tf.tidy(() => values([f(x, gamma, beta, residual)])[0]!));
        assertClose(actualY!, expectedY!, `y (${label})`);
        // Without a residual the op does not depend on it, and tf.grads refuses an unused input.
        const grads = (f: typeof ours) => (variant.withResidual ? tf.grads(loss(f))([x, gamma, beta, residual]) : tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => loss(f)(a, g, b, residual))([x, gamma, beta]));
        const [actual, expected] = [ours, reference].map((f) => tf.tidy(() => values(grads(f))));
        assert.equal(actual!.length, variant.withResidual ? 4 : 3);
        actual!.forEach((got, i) => assertClose(got, expected![i]!, `${['dx', 'dgamma', 'dbeta', 'dresidual'][i]} (${label})`, i === 0 ? 1e-4 : TOL));
      }
      const before = tf.memory().numTensors;
      tf.dispose(tf.tidy(() => tf.grads((a: tf.Tensor, res: tf.Tensor) => tf.sum(batchNormTrain(a, gamma, beta, running, { epsilon, momentum: 0.1, relu: true, residual: res })))([x, residual])));
      assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
      assert.throws(() => batchNormTrain(x, gamma, beta, running, { epsilon, momentum: 0.1, residual: tf.zeros([6, 5, 5, 4]) }), /the residual's shape \[6, 5, 5, 4\] differs from x's \[6, 5, 5, 8\]/);
      tf.dispose([x, residual, r, gamma, beta, runningMean, runningVar]);
    });

    it('batchNormTrain leaves no tensors behind and refuses one value per channel', async () => {
      await tf.setBackend(backend.name);
      const x = tf.randomNormal([4, 3, 3, 6], 0, 1, 'float32', 1);
      const gamma = tf.ones([6]);
      const beta = tf.zeros([6]);
      const runningMean = tf.variable(tf.zeros([6]), false);
      const runningVar = tf.variable(tf.ones([6]), false);
      const running = { mean: runningMean, variance: runningVar, update: (m: tf.Tensor, v: tf.Tensor) => (runningMean.assign(m as tf.Tensor1D), runningVar.assign(v as tf.Tensor1D)) };
      const options = { epsilon: 1e-5, momentum: 0.1 };
      const before = tf.memory().numTensors;
      tf.dispose(tf.tidy(() => tf.grads((a: tf.Tensor) => tf.sum(batchNormTrain(a, gamma, beta, running, options)))([x])));
      tf.dispose(tf.tidy(() => batchNormTrain(x, gamma, beta, running, options)));
      assert.equal(tf.memory().numTensors, before);
      assert.throws(() => batchNormTrain(tf.ones([1, 1, 1, 6]), gamma, beta, running, options), /more than one value per channel/);
      tf.dispose([x, gamma, beta, runningMean, runningVar]);
    });

    it('relu: max(x, 0) and the gradient dy·[y > 0] from its output', async () => {
      await tf.setBackend(backend.name);
      const shape = [4, 6, 6, 8];
      const x = tf.tensor(randomArray(tf.util.sizeFromShape(shape), 'rx'), shape);
      const r = tf.tensor(randomArray(x.size, 'rr'), shape);
      const [actual, expected] = [relu, tf.relu].map((f) =>
        tf.tidy(() => values([f(x), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), r)))(x)])),
      );
      assertClose(actual![0]!, expected![0]!, 'relu', 0);
      assertClose(actual![1]!, expected![1]!, 'relu gradient', 0);
      const ran = await kernelsRun(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(relu(a), r)))(x));
      assert.equal(ran.has(RELU_GRAD), backend.name === NATIVE_BACKEND, 'the fused gradient kernel ran where registered');
      assert.ok(!ran.has('Step'), "tfjs's own Relu gradient (dy·step(x)) did not run");
      // Where y is NaN the gradient is 0 on every backend (y > 0 ? dy : 0).
      const nan = tf.tidy(() => Array.from(tf.grad((a: tf.Tensor) => tf.sum(tf.mul(relu(a), tf.tensor1d([5, 5, 5, 5]))))(tf.tensor1d([Number.NaN, -1, 0, 2])).dataSync()));
      assert.deepEqual(nan, [0, 0, 0, 5]);
      tf.dispose([x, r]);
    });

    const convCases: Array<{ x: [number, number, number, number]; filter: [number, number, number, number]; strides: number; pad: number }> = [
      { x: [2, 8, 8, 3], filter: [3, 3, 3, 5], strides: 1, pad: 1 },
      { x: [2, 8, 8, 4], filter: [3, 3, 4, 6], strides: 2, pad: 1 },
      { x: [3, 7, 9, 4], filter: [3, 3, 4, 6], strides: 2, pad: 1 },
      { x: [2, 8, 8, 6], filter: [1, 1, 6, 4], strides: 2, pad: 0 },
      { x: [2, 7, 7, 6], filter: [1, 1, 6, 4], strides: 2, pad: 0 },
      { x: [1, 9, 9, 2], filter: [5, 5, 2, 3], strides: 2, pad: 2 },
    ];
    for (const c of convCases) {
      it(`conv2d ${c.filter[0]}×${c.filter[1]} stride ${c.strides} pad ${c.pad} on ${c.x}: output and gradients against pad-then-valid`, async () => {
        await tf.setBackend(backend.name);
        const x = tf.tensor4d(randomArray(tf.util.sizeFromShape(c.x), `cx${c.x}`), c.x);
        const filter = tf.tensor4d(randomArray(tf.util.sizeFromShape(c.filter), `cf${c.filter}`), c.filter);
        const ours = (a: tf.Tensor4D, f: tf.Tensor4D) => conv2d(a, f, { strides: c.strides, pad: c.pad });
        const reference = (a: tf.Tensor4D, f: tf.Tensor4D) =>
          tf.conv2d(tf.pad(a, [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]]), f, c.strides, 'valid');
        const outShape = tf.tidy(() => reference(x, filter).shape);
        const r = tf.tensor(randomArray(tf.util.sizeFromShape(outShape), `cr${c.x}`), outShape);
        const [actual, expected] = [ours, reference].map((f) =>
          tf.tidy(() => {
            const y = f(x, filter);
            const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), r)))([x, filter]);
            return { shape: y.shape, values: values([y, ...grads]) };
          }),
        );
        assert.deepEqual(actual!.shape, expected!.shape, 'output shape ⌊(H + 2p − k)/s⌋ + 1');
        ['y', 'dx', 'dfilter'].forEach((what, i) => assertClose(actual!.values[i]!, expected!.values[i]!, what, 1e-5));
        tf.dispose([x, filter, r]);
      });
    }

    it('conv2d with stride 2 and pad 1 centres its 3×3 windows on pixels 0 and 2 of a 4×4 input (hand-computed)', async () => {
      await tf.setBackend(backend.name);
      // x[i][j] = 4i + j + 1; the windows centred on (0,0), (0,2), (2,0), (2,2), zero outside the image.
      const x = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i + 1), [1, 4, 4, 1]);
      const ones = tf.ones([3, 3, 1, 1]) as tf.Tensor4D;
      const y = conv2d(x, ones, { strides: 2, pad: 1 });
      assert.deepEqual(y.shape, [1, 2, 2, 1]);
      assert.deepEqual(Array.from(y.dataSync()), [1 + 2 + 5 + 6, 2 + 3 + 4 + 6 + 7 + 8, 5 + 6 + 9 + 10 + 13 + 14, 6 + 7 + 8 + 10 + 11 + 12 + 14 + 15 + 16]);
      // The 1×1 stride-2 shortcut samples the same centres.
      const shortcut = conv2d(x, tf.ones([1, 1, 1, 1]) as tf.Tensor4D, { strides: 2, pad: 0 });
      assert.deepEqual(Array.from(shortcut.dataSync()), [1, 3, 9, 11]);
      // TF's 'same' padding would centre on (1,1), (1,3), (3,1), (3,3) instead.
      const same = tf.conv2d(x, ones, 2, 'same');
      assert.notDeepEqual(Array.from(same.dataSync()), Array.from(y.dataSync()));
      tf.dispose([x, ones, y, shortcut, same]);
    });

    it('fork: x twice; its gradient the sum of both branches\', with neither addend held to the end of the backward pass where the kernel is registered', async () => {
      await tf.setBackend(backend.name);
      const shape = [2, 5, 5, 3];
      const x = tf.tensor(randomArray(tf.util.sizeFromShape(shape), 'fx'), shape);
      const [u, v] = ['fu', 'fv'].map((seed) => tf.tensor(randomArray(x.size, seed), shape));
      // Bytes of tensors made by the backward pass and alive when it reaches its last node (the probe, below the split).
      let bytesAtEnd = 0;
      const probe = customOp<[tf.Tensor]>((a) => ({
        value: tf.clone(a),
        gradFunc: (dy) => {
          bytesAtEnd = tf.memory().numBytes;
          return [tf.clone(dy)];
        },
      }));
      const run = (split: (a: tf.Tensor) => tf.Tensor[]) => {
        const [[a, b], dx] = tf.tidy(() => {
          const branches = split(x);
          const bytesBefore = tf.memory().numBytes;
          const grad = tf.grad((input: tf.Tensor) => {
            const [p, q] = split(probe(input));
            return tf.sum(tf.add(tf.mul(p!, u!), tf.mul(tf.square(q!), v!)));
          })(x);
          bytesAtEnd -= bytesBefore;
          return [values(branches), values([grad])[0]!] as const;
        });
        return { a: a!, b: b!, dx, bytesAtEnd };
      };
      const forked = run((a) => fork(a));
      const plain = run((a) => [a, a]);
      assertClose(forked.a, x.dataSync(), 'first branch', 0);
      assertClose(forked.b, x.dataSync(), 'second branch', 0);
      assertClose(forked.dx, plain.dx, 'gradient');
      assert.equal(backendHasKernel(FORK), backend.name === NATIVE_BACKEND, 'the fork kernel is registered where expected');
      const released = backendHasKernel(FORK) ? x.size * 4 : 0;
      assert.equal(plain.bytesAtEnd - forked.bytesAtEnd, released, 'bytes that tfjs holds to the end of the pass without the fork kernel');
      tf.dispose([x, u!, v!]);
    });

    it('sgdMomentum follows torch.optim.SGD over three steps for several tensors', async () => {
      await tf.setBackend(backend.name);
      const ran = await kernelsRun(() => {
        checkSgdAgainstHandComputation();
        return [];
      });
      assert.equal(ran.has(SGD_MOMENTUM), backend.name === NATIVE_BACKEND, 'the fused kernel ran where registered');
    });
  });
}

/** torch.optim.SGD by hand in float64, against our op over three steps with changing lr and momentum. */
function checkSgdAgainstHandComputation(): void {
  const shapes = [[3], [2, 2]];
  let params = shapes.map((s, i) => Array.from(randomArray(tf.util.sizeFromShape(s), `p${i}`)));
  let buffers: number[][] = shapes.map((s) => new Array<number>(tf.util.sizeFromShape(s)).fill(0));
  let paramTensors = params.map((p, i) => tf.tensor(p, shapes[i]));
  let bufferTensors = buffers.map((b, i) => tf.tensor(b, shapes[i]));
  const weightDecay = 0.01;
  const steps = [{ lr: 0.1, momentum: 0.9 }, { lr: 0.2, momentum: 0.8 }, { lr: 0.05, momentum: 0.95 }];
  steps.forEach(({ lr, momentum }, step) => {
    const grads = shapes.map((s, i) => Array.from(randomArray(tf.util.sizeFromShape(s), `g${i}${step}`)));
    const gradTensors = grads.map((g, i) => tf.tensor(g, shapes[i]));
    const out = sgdMomentum(paramTensors, gradTensors, bufferTensors, { lr, momentum, weightDecay, firstStep: step === 0 });
    buffers = buffers.map((b, i) => b.map((bv, k) => (step === 0 ? 0 : momentum * bv) + grads[i]![k]! + weightDecay * params[i]![k]!));
    params = params.map((p, i) => p.map((pv, k) => pv - lr * buffers[i]![k]!));
    tf.dispose([...paramTensors, ...bufferTensors, ...gradTensors]);
    [paramTensors, bufferTensors] = [out.params, out.buffers];
    paramTensors.forEach((t, i) => assertClose(t.dataSync(), params[i]!, `param ${i} after step ${step + 1}`, 1e-6));
    bufferTensors.forEach((t, i) => assertClose(t.dataSync(), buffers[i]!, `buffer ${i} after step ${step + 1}`, 1e-6));
  });
  tf.dispose([...paramTensors, ...bufferTensors]);
}

describe('op dispatch', () => {
  it('sgdMomentum runs a backend kernel registered for SGD_MOMENTUM with the contract layout, in one dispatch', async () => {
    await tf.setBackend('cpu');
    // A plain-JS kernel for the cpu backend with the contract's inputs ('0'…'3n−1': params, grads,
    // buffers) and outputs (params', buffers'); the op must route to it and give the same result.
    let calls = 0;
    tf.registerKernel({
      kernelName: SGD_MOMENTUM,
      backendName: 'cpu',
      kernelFunc: ({ inputs, attrs, backend }) => {
        calls++;
        const cpu = backend as unknown as { readSync(id: tf.DataId): Float32Array; makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo };
        const { lr, momentum, weightDecay, firstStep } = attrs as unknown as { lr: number; momentum: number; weightDecay: number; firstStep: boolean };
        const all = Object.keys(inputs).sort((a, b) => Number(a) - Number(b)).map((k) => inputs[k]!);
        const n = all.length / 3;
        const params: tf.TensorInfo[] = [];
        const buffers: tf.TensorInfo[] = [];
        for (let i = 0; i < n; i++) {
          const [p, g, b] = [all[i]!, all[n + i]!, all[2 * n + i]!].map((t) => cpu.readSync(t.dataId));
          const nextB = p!.map((pv, k) => (firstStep ? 0 : momentum * b![k]!) + g![k]! + weightDecay * pv);
          const nextP = p!.map((pv, k) => pv - lr * nextB[k]!);
          params.push(cpu.makeTensorInfo([...all[i]!.shape], 'float32', nextP));
          buffers.push(cpu.makeTensorInfo([...all[i]!.shape], 'float32', nextB));
        }
        return [...params, ...buffers];
      },
    });
    try {
      checkSgdAgainstHandComputation();
      assert.equal(calls, 3, 'one dispatch per step for all tensors');
    } finally {
      tf.unregisterKernel(SGD_MOMENTUM, 'cpu');
    }
  });

  it("no gradient or layer class of tfjs is replaced, and the ReLU gradient does not depend on which backend was loaded first", { timeout: 120_000 }, () => {
    // Each order in a fresh process: load the backends, then report what relu's backward ran on cpu and
    // wasm, and whether tfjs's own Relu gradient is still the one tfjs-layers registered.
    const script = (order: string[]) => `
      import * as tf from '@tensorflow/tfjs-core';
      import '@tensorflow/tfjs-backend-cpu';
      import '@tensorflow/tfjs-layers';
      import { activateWasm } from './src/backend/wasm.ts';
      import { activateNative } from './src/backend/native.ts';
      import { relu } from './src/ops/index.ts';
      const stock = tf.getGradient('Relu');
      const layerCalls = () => ['BatchNormalization', 'Conv2D', 'ReLU'].map((name) => tf.serialization.SerializationMap.getMap().classNameMap[name][0].prototype.call);
      const stockCalls = layerCalls();
      const activate = { cpu: () => tf.setBackend('cpu'), wasm: activateWasm, native: activateNative };
      for (const name of ${JSON.stringify(order)}) { try { await activate[name](); } catch {} }
      const report = { sameReluGradient: tf.getGradient('Relu') === stock, sameLayerCalls: layerCalls().every((call, i) => call === stockCalls[i]) };
      for (const name of ['cpu', 'wasm']) {
        await tf.setBackend(name);
        const x = tf.tensor1d([-1, 2, -3, 4, 0]);
        const profile = await tf.profile(() => tf.grad((a) => tf.sum(relu(a)))(x));
        report[name] = [...new Set(profile.kernels.map((k) => k.name))].sort();
      }
      console.log(JSON.stringify(report));
    `;
    const reports = [['cpu', 'wasm', 'native'], ['native', 'wasm', 'cpu']].map((order) => {
      const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(order)], { encoding: 'utf8', timeout: 110_000 });
      assert.equal(result.status, 0, result.stderr);
      return JSON.parse(result.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)!) as Record<string, unknown>;
    });
    assert.deepEqual(reports[0], reports[1]);
    assert.equal(reports[0]!['sameReluGradient'], true);
    assert.equal(reports[0]!['sameLayerCalls'], true, "tfjs-layers' classes are not patched");
    for (const name of ['cpu', 'wasm']) assert.ok(!(reports[0]![name] as string[]).includes('Step'), `${name}: the output-saving gradient ran`);
  });
});
