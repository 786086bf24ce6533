import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { perSampleCrossEntropy, weightedMean } from '../src/train/loss.js';
import { SgdMomentum } from '../src/train/sgd.js';

function close(a: number, b: number, tolerance = 1e-5): void {
  assert.ok(Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
}

describe('loss', () => {
  it('is per-sample cross-entropy with label smoothing as PyTorch defines it', async () => {
    await tf.setBackend('cpu');
    const logits = [[2, 0, -1], [0.5, 0.5, 3]];
    const labels = [0, 1];
    const s = 0.1;
    const losses = perSampleCrossEntropy(tf.tensor2d(logits), tf.tensor1d(labels, 'int32'), s).arraySync();
    logits.forEach((row, i) => {
      const logZ = Math.log(row.reduce((acc, v) => acc + Math.exp(v), 0));
      const logp = row.map((v) => v - logZ);
      const expected = -logp.reduce((acc, lp, k) => acc + ((k === labels[i] ? 1 - s : 0) + s / 3) * lp, 0);
      close(losses[i]!, expected);
    });
  });

  it('weights the batch loss as mean(wᵢ·ℓᵢ), and its gradient scales each sample by wᵢ/B', () => {
    const l = tf.tensor1d([1, 2, 3, 4]);
    const w = tf.tensor1d([1, 2, 1, 2]);
    close(weightedMean(l, w).arraySync(), (1 + 4 + 3 + 8) / 4);
    const grad = tf.grad((x: tf.Tensor) => weightedMean(x as tf.Tensor1D, w))(l).arraySync() as number[];
    assert.deepEqual(grad, [0.25, 0.5, 0.25, 0.5]);
  });
});

describe('SGD with momentum and weight decay (torch.optim.SGD semantics)', () => {
  it('matches a hand computation over three steps with changing lr and momentum', () => {
    const param = tf.variable(tf.tensor1d([1, -2]));
    const sgd = new SgdMomentum([param], 0.1);
    const grads = [[0.5, 0.5], [-1, 0], [0.2, 0.3]];
    const lrs = [0.1, 0.2, 0.05];
    const momenta = [0.9, 0.8, 0.95];
    let p = [1, -2];
    let buf: number[] | null = null;
    grads.forEach((g, step) => {
      sgd.step([tf.tensor1d(g)], lrs[step]!, momenta[step]!);
      const d = g.map((gi, i) => gi + 0.1 * p[i]!);
      buf = buf === null ? d : buf.map((b, i) => momenta[step]! * b + d[i]!);
      p = p.map((pi, i) => pi - lrs[step]! * buf![i]!);
      const actual = param.dataSync();
      p.forEach((pi, i) => close(actual[i]!, pi));
    });
  });

  it('round-trips its momentum buffers through getState/setState', async () => {
    const a = tf.variable(tf.tensor1d([1, 2, 3]));
    const sgd = new SgdMomentum([a], 0);
    assert.equal((await sgd.getState()).length, 0);
    sgd.step([tf.tensor1d([1, 1, 1])], 0.1, 0.9);
    const state = await sgd.getState();
    const b = tf.variable(tf.tensor1d([1, 2, 3]));
    const restored = new SgdMomentum([b], 0);
    restored.setState(state);
    assert.deepEqual(Array.from(await restored.getState()), Array.from(state));
    assert.throws(() => restored.setState(new Float32Array(2)), /2 values/);
  });
});
