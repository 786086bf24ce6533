import * as tf from '@tensorflow/tfjs-core';
import { allButLastAxis, backendHasKernel, customOp, runKernelOutputs } from './dispatch.js';
import { batchNormTrainBackward } from './gradients/batch-norm-train.js';
import { BATCH_NORM_TRAIN } from './kernel-names.js';

/** The running statistics a training step updates, as torch.nn.functional.batch_norm does in place. */
export interface RunningStatistics {
  readonly mean: tf.Tensor;
  readonly variance: tf.Tensor;
  /** Called once, during the op, with the updated statistics; they are disposed when the op returns, so
   *  keep them by assigning them to variables (which keeps their data, no copy). */
  readonly update: (mean: tf.Tensor, variance: tf.Tensor) => void;
}

export interface BatchNormTrainOptions {
  readonly epsilon: number;
  /** Weight of the batch statistic: running ← (1 − momentum)·running + momentum·batch (PyTorch's convention). */
  readonly momentum: number;
}

/**
 * Training-mode BatchNorm over every axis but the last (NHWC channels): returns
 * (x − mean)/√(variance + ε)·γ + β with the batch mean and biased (÷n) variance, differentiable with
 * respect to x, γ and β, and hands `running.update` the running statistics moved towards the batch mean
 * and the UNBIASED variance (×n/(n−1), n values per channel), as PyTorch does. One kernel forward
 * (statistics, normalization and the running update) and one backward where the backend registers
 * BATCH_NORM_TRAIN and its _GRAD, else tf.moments and element-wise ops with the same closed-form
 * gradient (./batch-norm-train-grad.ts).
 *
 * Why an op of our own: tfjs-layers computes training-mode BatchNorm as tf.moments + tf.batchNorm,
 * whose gradients decompose into ~30 tensor-sized ops per layer (a Tile, broadcast multiplies, sums…);
 * with fast convolutions those took over half of a ResNet-18 step, where PyTorch spends ~7 % on
 * BatchNorm. The kernel runs inside a custom gradient so that the tape records one node per layer: the
 * kernel's statistics outputs are not differentiated, so tfjs would otherwise upload zero gradients for
 * them, and the running update would be six more recorded ops per layer.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, running: RunningStatistics, options: BatchNormTrainOptions): tf.Tensor {
  if (x.rank < 2) throw new Error(`batchNormTrain takes a tensor of rank ≥ 2, got shape [${x.shape.join(', ')}]`);
  const n = x.size / x.shape[x.rank - 1]!;
  if (n < 2) throw new Error(`batchNormTrain needs more than one value per channel (the unbiased variance of one is undefined), got shape [${x.shape.join(', ')}]`);
  const { epsilon, momentum } = options;
  const fused = backendHasKernel(BATCH_NORM_TRAIN);
  const op = customOp<[tf.Tensor, tf.Tensor, tf.Tensor]>((xIn, gammaIn, betaIn, save) => {
    const [y, mean, variance, runningMean, runningVar] = fused
      ? runKernelOutputs(BATCH_NORM_TRAIN, { x: xIn, gamma: gammaIn, beta: betaIn, runningMean: running.mean, runningVar: running.variance }, { epsilon, momentum })
      : composite(xIn, gammaIn, betaIn, running, n, epsilon, momentum);
    running.update(runningMean!, runningVar!);
    save([xIn, gammaIn, mean!, variance!]);
    return {
      value: y!,
      gradFunc: (dy, saved) => {
        const [xs, gammas, means, variances] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return batchNormTrainBackward(dy, xs, gammas, means, variances, epsilon);
      },
    };
  });
  return op(x, gamma, beta);
}

/** The kernel's outputs [y, mean, variance, runningMean′, runningVar′] from standard tfjs ops; n rows per channel. */
function composite(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, running: RunningStatistics, n: number, epsilon: number, momentum: number): tf.Tensor[] {
  const { mean, variance } = tf.moments(x, allButLastAxis(x.rank));
  const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, epsilon)));
  const y = tf.add(tf.mul(x, scale), tf.sub(beta, tf.mul(mean, scale)));
  const runningMean = tf.add(tf.mul(running.mean, 1 - momentum), tf.mul(mean, momentum));
  const runningVar = tf.add(tf.mul(running.variance, 1 - momentum), tf.mul(variance, (momentum * n) / (n - 1)));
  return [y, mean, variance, runningMean, runningVar];
}
