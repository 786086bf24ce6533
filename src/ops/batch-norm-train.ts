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
  /** Added to the normalized output (a residual block's shortcut), before the ReLU; same shape as x. */
  readonly residual?: tf.Tensor;
  /** max(·, 0) of the result (default false). */
  readonly relu?: boolean;
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
 *
 * With `residual` and `relu` it is relu(bn(x) + residual), a residual block's end, in one op: the
 * normalized tensor and the sum are never kept (tfjs's Add saves both of its inputs for its gradient, and
 * the gradient handed to an Add outlives the backward pass), the backward saves the output for the ReLU
 * mask, and a backend's kernel may do it all in its normalization pass. PyTorch keeps the same tensors
 * (conv output and block output) for this part of a block.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, running: RunningStatistics, options: BatchNormTrainOptions): tf.Tensor {
  if (x.rank < 2) throw new Error(`batchNormTrain takes a tensor of rank ≥ 2, got shape [${x.shape.join(', ')}]`);
  const n = x.size / x.shape[x.rank - 1]!;
  if (n < 2) throw new Error(`batchNormTrain needs more than one value per channel (the unbiased variance of one is undefined), got shape [${x.shape.join(', ')}]`);
  const { epsilon, momentum, residual } = options;
  const applyRelu = options.relu ?? false;
  if (residual && !tf.util.arraysEqual(residual.shape, x.shape)) {
    throw new Error(`batchNormTrain: the residual's shape [${residual.shape.join(', ')}] differs from x's [${x.shape.join(', ')}]`);
  }
  const fused = backendHasKernel(BATCH_NORM_TRAIN);
  const forward = (xIn: tf.Tensor, gammaIn: tf.Tensor, betaIn: tf.Tensor, residualIn: tf.Tensor | undefined, save: tf.GradSaveFunc) => {
    const inputs: tf.NamedTensorMap = { x: xIn, gamma: gammaIn, beta: betaIn, runningMean: running.mean, runningVar: running.variance };
    if (residualIn) inputs.residual = residualIn;
    const [y, mean, variance, runningMean, runningVar] = fused
      ? runKernelOutputs(BATCH_NORM_TRAIN, inputs, { epsilon, momentum, relu: applyRelu })
      : composite(xIn, gammaIn, betaIn, residualIn, applyRelu, running, n, epsilon, momentum);
    running.update(runningMean!, runningVar!);
    save(applyRelu ? [xIn, gammaIn, mean!, variance!, y!] : [xIn, gammaIn, mean!, variance!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => batchNormTrainBackward(dy, saved, epsilon, residualIn !== undefined),
    };
  };
  if (residual) {
    return customOp<[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]>((xIn, gammaIn, betaIn, residualIn, save) => forward(xIn, gammaIn, betaIn, residualIn, save))(x, gamma, beta, residual);
  }
  return customOp<[tf.Tensor, tf.Tensor, tf.Tensor]>((xIn, gammaIn, betaIn, save) => forward(xIn, gammaIn, betaIn, undefined, save))(x, gamma, beta);
}

/** The kernel's outputs [y, mean, variance, runningMean′, runningVar′] from standard tfjs ops; n rows per channel.
 *  Runs inside the custom op's forward, whose intermediates tfjs disposes (and does not record). */
function composite(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  residual: tf.Tensor | undefined,
  applyRelu: boolean,
  running: RunningStatistics,
  n: number,
  epsilon: number,
  momentum: number,
): tf.Tensor[] {
  const { mean, variance } = tf.moments(x, allButLastAxis(x.rank));
  const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, epsilon)));
  let y = tf.add(tf.mul(x, scale), tf.sub(beta, tf.mul(mean, scale)));
  if (residual) y = tf.add(y, residual);
  if (applyRelu) y = tf.relu(y);
  const runningMean = tf.add(tf.mul(running.mean, 1 - momentum), tf.mul(mean, momentum));
  const runningVar = tf.add(tf.mul(running.variance, 1 - momentum), tf.mul(variance, (momentum * n) / (n - 1)));
  return [y, mean, variance, runningMean, runningVar];
}
