import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { buildModel } from '../src/models/registry.js';
import { BatchNorm, Conv2d, GlobalAveragePool, Linear, ReLU } from '../src/models/layers/index.js';
import { loadModel, saveModel } from '../src/runs/index.js';
import { SgdMomentum } from '../src/train/sgd.js';
import { trainableVariables, trainStep } from '../src/train/step.js';

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

  it("starts from PyTorch's default init: U(±1/√fan_in) weights and biases (std 1/√(3·fan_in)), BatchNorm γ = 1, β = 0", async () => {
    await tf.setBackend('cpu');
    const model = buildModel('ResNet18', { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
    let checked = 0;
    for (const layer of model.layers) {
      const weights = layer.getWeights();
      if (layer instanceof Conv2d || layer instanceof Linear) {
        const kernel = weights[0]!;
        const fanIn = kernel.shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const bound = 1 / Math.sqrt(fanIn);
        for (const [what, w] of [['weight', kernel], ['bias', weights[1]]] as const) {
          if (!w) continue;
          const values = Array.from(w.dataSync() as Float32Array);
          const max = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          assert.ok(max <= bound, `${layer.name} ${what}: max |w| ${max} ≤ ${bound}`);
          if (values.length < 1000) continue; // too few values for a tight statistic (the classifier's bias)
          assert.ok(max > 0.99 * bound, `${layer.name} ${what}: max |w| ${max} reaches the bound ${bound}`);
          const mean = values.reduce((a, v) => a + v, 0) / values.length;
          const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
          const expected = 1 / Math.sqrt(3 * fanIn);
          assert.ok(Math.abs(std / expected - 1) < 0.03, `${layer.name} ${what}: std ${std} vs 1/√(3·${fanIn}) = ${expected}`);
          checked++;
        }
        if (layer instanceof Linear) assert.equal(weights[1]!.shape[0], 10);
      }
      if (layer instanceof BatchNorm) {
        const [gamma, beta, runningMean, runningVar] = weights.map((w) => Array.from(w.dataSync()));
        assert.ok(gamma!.every((v) => v === 1) && runningVar!.every((v) => v === 1), `${layer.name}: γ and running variance start at 1`);
        assert.ok(beta!.every((v) => v === 0) && runningMean!.every((v) => v === 0), `${layer.name}: β and running mean start at 0`);
      }
    }
    assert.equal(checked, 21, '20 convolutions and the classifier kernel');
    model.dispose();
  });

  it('BatchNorm updates its running statistics as PyTorch: momentum 0.1, unbiased running variance', async () => {
    await tf.setBackend('cpu');
    const layer = new BatchNorm();
    // Two channels over 2×2×1 positions: n = 4 values each.
    const data = [1, 10, 2, 20, 4, 30, 9, 60];
    const x = tf.tensor4d(data, [2, 2, 1, 2]);
    layer.apply(x, { training: true });
    const [, , runningMean, runningVar] = layer.getWeights().map((w) => Array.from(w.dataSync()));
    [0, 1].forEach((c) => {
      const v = data.filter((_, i) => i % 2 === c);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const unbiased = v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1);
      assert.ok(Math.abs(runningMean![c]! - 0.1 * mean) < 1e-5, `running mean ${runningMean![c]} vs ${0.1 * mean}`);
      assert.ok(Math.abs(runningVar![c]! - (0.9 + 0.1 * unbiased)) < 1e-4, `running variance ${runningVar![c]} vs ${0.9 + 0.1 * unbiased}`);
    });
    // Inference normalizes with the running statistics.
    const y = layer.apply(x) as tf.Tensor;
    const expected = data.map((v, i) => (v - runningMean![i % 2]!) / Math.sqrt(runningVar![i % 2]! + 1e-5));
    Array.from(y.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `inference output ${i}`));
    assert.throws(() => layer.apply(tf.ones([1, 1, 1, 2]), { training: true }), /more than one value per channel/);
    tf.dispose([x, y]);
  });

  it('a trained model (running statistics moved) saves and loads as our layers, with identical predictions', async () => {
    await tf.setBackend('cpu');
    const dir = mkdtempSync(join(tmpdir(), 'infobatch-model-'));
    try {
      const model = buildModel('ResNetTiny', { inputShape: [8, 8, 3], numClasses: 4, seed: 3 });
      const vars = trainableVariables(model);
      const optimizer = new SgdMomentum(vars, 5e-4);
      const images = tf.randomNormal([6, 8, 8, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
      const labels = tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32');
      const weights = tf.ones([6]) as tf.Tensor1D;
      for (let i = 0; i < 2; i++) await trainStep(model, vars, optimizer, { images, labels, weights, lr: 0.1, momentum: 0.9, labelSmoothing: 0.1 });
      await saveModel(model, dir);
      const loaded = await loadModel(dir);
      const classes = (m: tfl.LayersModel) => [...new Set(m.layers.map((l) => l.getClassName()))].sort();
      assert.deepEqual(classes(loaded), classes(model));
      for (const name of ['InfobatchBatchNorm', 'InfobatchConv2d', 'InfobatchLinear']) assert.ok(classes(loaded).includes(name), name);
      // Each block ends in relu(bn(x) + shortcut), one layer whose configuration survives the round trip.
      const blockEnds = loaded.layers.filter((l) => l.getConfig()['residual'] === true);
      assert.ok(blockEnds.length > 0 && blockEnds.every((l) => l.getConfig()['activation'] === 'relu' && l.inboundNodes[0]!.inboundLayers.length === 2));
      const a = (model.predict(images) as tf.Tensor).arraySync();
      const b = (loaded.predict(images) as tf.Tensor).arraySync();
      assert.deepEqual(a, b);
      tf.dispose([images, labels, weights]);
      optimizer.dispose();
      model.dispose();
      loaded.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a model of separate BatchNorm, ReLU and Add layers (as saved before they were fused) still trains, saves and loads', async () => {
    await tf.setBackend('cpu');
    const dir = mkdtempSync(join(tmpdir(), 'infobatch-model-'));
    try {
      const input = tfl.input({ shape: [6, 6, 3] });
      const conv = new Conv2d({ filters: 4, kernelSize: 3, padding: 1, useBias: false, seed: 1 }).apply(input) as tfl.SymbolicTensor;
      const bn = new BatchNorm().apply(conv) as tfl.SymbolicTensor;
      const sum = tfl.layers.add().apply([bn, new Conv2d({ filters: 4, kernelSize: 1, padding: 0, useBias: false, seed: 2 }).apply(input) as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
      const pooled = new GlobalAveragePool().apply(new ReLU().apply(sum)) as tfl.SymbolicTensor;
      const model = tfl.model({ inputs: input, outputs: new Linear({ units: 2, seed: 3 }).apply(pooled) as tfl.SymbolicTensor });
      const vars = trainableVariables(model);
      const optimizer = new SgdMomentum(vars, 5e-4);
      const images = tf.randomNormal([4, 6, 6, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
      const labels = tf.tensor1d([0, 1, 0, 1], 'int32');
      const weights = tf.ones([4]) as tf.Tensor1D;
      await trainStep(model, vars, optimizer, { images, labels, weights, lr: 0.1, momentum: 0.9, labelSmoothing: 0.1 });
      await saveModel(model, dir);
      const loaded = await loadModel(dir);
      assert.ok(loaded.layers.some((l) => l.getClassName() === 'InfobatchReLU'));
      assert.deepEqual((loaded.predict(images) as tf.Tensor).arraySync(), (model.predict(images) as tf.Tensor).arraySync());
      tf.dispose([images, labels, weights]);
      optimizer.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
