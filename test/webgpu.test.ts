import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { BACKENDS, selectBackend } from '../src/backend/select.js';
import { describeAdapter, probeWebgpuAdapter, type WebgpuAdapterSummary } from '../src/backend/webgpu.js';
import { buildModel } from '../src/models/registry.js';
import { makeTrainStep } from '../scripts/gpu-check-train-step.js';

/**
 * The `webgpu` backend, run on whatever Vulkan adapter Dawn finds: on CI that is Mesa's lavapipe
 * (software), installed from bookworm-backports. Without any adapter (or without the optional packages)
 * the tests are skipped, so developers without Vulkan still pass the suite.
 */
async function findAdapter(): Promise<{ adapter?: WebgpuAdapterSummary; skip: string | false }> {
  try {
    const adapter = await probeWebgpuAdapter();
    if (!adapter) return { skip: 'no Vulkan adapter for Dawn (install mesa-vulkan-drivers >= 25 and libvulkan1 to run these)' };
    return { adapter, skip: false };
  } catch (error) {
    return { skip: `webgpu packages unavailable: ${(error as Error).message}` };
  }
}

const { adapter, skip } = await findAdapter();
if (adapter) console.log(`# webgpu adapter: ${describeAdapter(adapter)}`);

const HEIGHT = 16;
const CLASSES = 10;

interface Batch {
  images: Float32Array;
  labels: Float32Array;
  weights: Float32Array;
}

function randomBatch(size: number, seed: string): Batch {
  const random = seedrandom(seed);
  return {
    images: Float32Array.from({ length: size * HEIGHT * HEIGHT * 3 }, () => random() * 2 - 1),
    labels: Float32Array.from({ length: size }, (_, i) => i % CLASSES),
    // InfoBatch rescales kept samples by 1/(1−r); mix such weights in so the weighted loss is exercised.
    weights: Float32Array.from({ length: size }, () => (random() < 0.5 ? 1 : 2)),
  };
}

function toTensors(batch: Batch, size: number): [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D] {
  return [tf.tensor4d(batch.images, [size, HEIGHT, HEIGHT, 3]), tf.tensor1d(batch.labels), tf.tensor1d(batch.weights)];
}

async function weightsOf(model: ReturnType<typeof buildModel>): Promise<Float32Array[]> {
  // data(), not dataSync(): tfjs-backend-webgpu's synchronous read needs OffscreenCanvas, which Node lacks.
  return Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

/** Runs `steps` training steps of ResNetTiny from the given weights on the current backend. */
async function train(initial: Float32Array[] | null, batch: Batch, size: number, steps: number) {
  const model = buildModel('ResNetTiny', { inputShape: [HEIGHT, HEIGHT, 3], numClasses: CLASSES, seed: 7 });
  if (initial) model.setWeights(model.getWeights().map((w, i) => tf.tensor(initial[i]!, w.shape)));
  const start = await weightsOf(model);
  const step = makeTrainStep(model);
  const inputs = toTensors(batch, size);
  const losses: number[] = [];
  for (let i = 0; i < steps; i += 1) {
    losses.push(await step(...inputs));
  }
  const final = await weightsOf(model);
  step.dispose();
  inputs.forEach((t) => t.dispose());
  model.dispose();
  return { start, final, losses };
}

function relativeL2(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let norm = 0;
  expected.forEach((value, i) => {
    diff += (value - actual[i]!) ** 2;
    norm += value * value;
  });
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

describe('webgpu backend', { skip }, () => {
  test('auto takes a hardware adapter and refuses a software one; by name either works', async () => {
    const candidate = BACKENDS.find((b) => b.name === 'webgpu');
    assert.ok(candidate, 'webgpu is a backend candidate');
    assert.deepEqual(BACKENDS.slice(0, 2).map((b) => b.name), ['cuda', 'webgpu'], 'auto tries cuda, then webgpu');
    if (adapter!.software) {
      await assert.rejects(candidate.activate({ byName: false, precision: 'fp32' }), /software adapter/);
    } else {
      assert.equal((await candidate.activate({ byName: false, precision: 'fp32' }) as { tfName: string }).tfName, 'webgpu');
    }
    const lines: string[] = [];
    const selected = await selectBackend('webgpu', (line) => lines.push(line));
    assert.equal(selected.tfName, 'webgpu');
    assert.equal(tf.getBackend(), 'webgpu');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^backend: webgpu \(requested\), adapter: \S/);
  });

  // Measured on lavapipe: losses agree to ~1e-7 and weights to ~3e-7 (relative) after 5 steps.
  test('five training steps of a small ResNet agree with the cpu backend', async () => {
    const size = 8;
    const batch = randomBatch(size, 'agree');
    await selectBackend('cpu');
    const reference = await train(null, batch, size, 5);
    await selectBackend('webgpu');
    const onGpu = await train(reference.start, batch, size, 5);
    reference.losses.forEach((loss, i) => {
      const relative = Math.abs(onGpu.losses[i]! - loss) / Math.abs(loss);
      assert.ok(relative < 1e-5, `step ${i + 1}: loss ${onGpu.losses[i]} on webgpu vs ${loss} on cpu (relative ${relative})`);
    });
    reference.final.forEach((expected, i) => {
      const relative = relativeL2(onGpu.final[i]!, expected);
      assert.ok(relative < 1e-4, `weight tensor ${i}: relative L2 difference ${relative} after 5 steps`);
    });
    // The steps must have moved the weights far more than the tolerance, or the comparison proves nothing.
    const moved = reference.final.map((w, i) => relativeL2(w, reference.start[i]!));
    assert.ok(Math.max(...moved) > 1e-2, `weights barely moved (${Math.max(...moved)})`);
  });

  test('no tensor or GPU buffer leaks over many steps', async () => {
    await selectBackend('webgpu');
    const size = 8;
    const model = buildModel('ResNetTiny', { inputShape: [HEIGHT, HEIGHT, 3], numClasses: CLASSES, seed: 1 });
    const step = makeTrainStep(model);
    const inputs = toTensors(randomBatch(size, 'leak'), size);
    const run = async (steps: number) => {
      for (let i = 0; i < steps; i += 1) {
        await step(...inputs);
      }
    };
    await run(3); // the first step creates the momentum buffers
    const before = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
    await run(30);
    const after = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
    assert.equal(after.numTensors, before.numTensors, 'tensor count grew');
    assert.equal(after.numDataBuffers, before.numDataBuffers, 'data buffer count grew');
    assert.equal(after.numBytesInGPU, before.numBytesInGPU, 'GPU bytes in use grew');
    step.dispose();
    inputs.forEach((t) => t.dispose());
    model.dispose();
  });

  test('a short synthetic run learns', async () => {
    await selectBackend('webgpu');
    // Four classes, each a bright square in its own quadrant and colour channel, under noise.
    const classes = 4;
    const random = seedrandom('learn');
    const makeSet = (count: number) => {
      const images = new Float32Array(count * HEIGHT * HEIGHT * 3);
      const labels = new Float32Array(count);
      for (let n = 0; n < count; n += 1) {
        const label = n % classes;
        labels[n] = label;
        for (let y = 0; y < HEIGHT; y += 1) {
          for (let x = 0; x < HEIGHT; x += 1) {
            const inSquare = Math.floor(y / (HEIGHT / 2)) * 2 + Math.floor(x / (HEIGHT / 2)) === label;
            for (let c = 0; c < 3; c += 1) {
              const signal = inSquare && c === label % 3 ? 1.5 : 0;
              images[((n * HEIGHT + y) * HEIGHT + x) * 3 + c] = signal + (random() - 0.5);
            }
          }
        }
      }
      return { images, labels };
    };
    const batchSize = 16;
    const trainSet = makeSet(64);
    const testSet = makeSet(32);
    const model = buildModel('ResNetTiny', { inputShape: [HEIGHT, HEIGHT, 3], numClasses: classes, seed: 2 });
    const step = makeTrainStep(model);
    const ones = tf.ones([batchSize]) as tf.Tensor1D;
    const losses: number[] = [];
    const pixels = HEIGHT * HEIGHT * 3;
    for (let epoch = 0; epoch < 6; epoch += 1) {
      for (let start = 0; start < 64; start += batchSize) {
        const images = tf.tensor4d(trainSet.images.subarray(start * pixels, (start + batchSize) * pixels), [batchSize, HEIGHT, HEIGHT, 3]);
        const labels = tf.tensor1d(trainSet.labels.subarray(start, start + batchSize));
        losses.push(await step(images, labels, ones));
        tf.dispose([images, labels]);
      }
    }
    const logits = tf.tidy(() => model.predict(tf.tensor4d(testSet.images, [32, HEIGHT, HEIGHT, 3])) as tf.Tensor2D);
    const predicted = await tf.argMax(logits, -1).data();
    const correct = Array.from(predicted).reduce((sum, label, i) => sum + (label === testSet.labels[i] ? 1 : 0), 0);
    const lastEpoch = losses.slice(-4).reduce((a, b) => a + b, 0) / 4;
    assert.ok(lastEpoch < losses[0]! / 2, `loss did not halve: ${losses[0]} → ${lastEpoch}`);
    assert.ok(correct >= 28, `held-out accuracy ${correct}/32`);
    tf.dispose(logits);
    step.dispose();
    ones.dispose();
    model.dispose();
  });
});
