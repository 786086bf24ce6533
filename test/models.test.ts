import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel } from '../src/models/registry.js';
import { loadModel, saveModel } from '../src/io/model-files.js';

function count(weights: { shape: readonly (number | null)[] }[]): number {
  return weights.reduce((sum, w) => sum + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
}

describe('CIFAR ResNets', () => {
  it('ResNet-18 for CIFAR-10 has 11,173,962 trainable parameters and 9,600 BatchNorm statistics', async () => {
    await tf.setBackend('cpu');
    const model = buildModel('ResNet18', { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
    assert.equal(count(model.trainableWeights), 11_173_962);
    assert.equal(count(model.nonTrainableWeights), 9_600);
    assert.deepEqual(model.outputs[0]!.shape, [null, 10]);
    model.dispose();
  });

  it('ResNet-20 (option-A shortcuts) has 269,722 and the narrow ResNet-18 701,466 trainable parameters', () => {
    const r20 = buildModel('ResNet20', { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
    assert.equal(count(r20.trainableWeights), 269_722);
    const narrow = buildModel('ResNet18Narrow', { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
    assert.equal(count(narrow.trainableWeights), 701_466);
    r20.dispose();
    narrow.dispose();
  });

  it('builds for any input shape and class count, ResNet-50 included', () => {
    const model = buildModel('ResNet50', { inputShape: [28, 28, 1], numClasses: 100, seed: 0 });
    assert.deepEqual(model.outputs[0]!.shape, [null, 100]);
    // CIFAR ResNet-50 for 10 classes has 23,520,842; here 90 more classes on the 2048-wide head, and a 1-channel stem.
    assert.equal(count(model.trainableWeights), 23_520_842 + 90 * 2048 + 90 - 2 * 64 * 9);
    model.dispose();
  });

  it('is seeded: same seed, same weights; other seed, other weights', () => {
    const weights = (seed: number) => {
      const model = buildModel('ResNetTiny', { inputShape: [8, 8, 3], numClasses: 3, seed });
      const values = model.getWeights().map((w) => Array.from(w.dataSync()));
      model.dispose();
      return values;
    };
    assert.deepEqual(weights(1), weights(1));
    assert.notDeepEqual(weights(1), weights(2));
  });

  it('saves and loads in tfjs format with identical predictions, custom layers included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'infobatch-model-'));
    try {
      const model = buildModel('ResNet20', { inputShape: [8, 8, 3], numClasses: 4, seed: 3 });
      await saveModel(model, dir);
      const loaded = await loadModel(dir);
      const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 5);
      const a = (model.predict(x) as tf.Tensor).arraySync();
      const b = (loaded.predict(x) as tf.Tensor).arraySync();
      assert.deepEqual(a, b);
      tf.dispose([x, model, loaded] as never);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
