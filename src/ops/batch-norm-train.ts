import * as tf from '@tensorflow/tfjs-core';
import { allButLastAxis, backendHasKernel, customOp, runKernelOutputs } from './dispatch.js';
import { batchNormTrainBackward, batchNormTrainGradConfig } from './gradients/batch-norm-train.js';
import { BATCH_NORM_TRAIN } from './kernel-names.js';

// The kernel's gradient, registered for our kernel name (tfjs's gradient registry is global).
tf.registerGradient(batchNormTrainGradConfig);

export interface BatchNormTrainResult {
  /** (x − mean)/√(variance + ε)·γ + β, differentiable with respect to x, gamma and beta. */
  readonly y: tf.Tensor;
  /** The batch mean and biased (÷n) variance per channel, for the running statistics (no gradient). */
  readonly mean: tf.Tensor1D;
  readonly variance: tf.Tensor1D;
}

/**
 * Training-mode BatchNorm over every axis but the last (NHWC channels), as one kernel forward and one
 * backward where the backend registers BATCH_NORM_TRAIN (and its _GRAD), else as tf.moments and
 * element-wise ops whose gradient is the same closed form (./batch-norm-train-grad.ts).
 *
 * Why an op of our own: tfjs-layers computes training-mode BatchNorm as tf.moments + tf.batchNorm,
 * whose gradients decompose into ~30 tensor-sized ops per layer (a Tile, broadcast multiplies, sums…);
 * with fast convolutions those took over half of a ResNet-18 step, where PyTorch spends ~7 % on
 * BatchNorm.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): BatchNormTrainResult {
  if (x.rank < 2) throw new Error(`batchNormTrain takes a tensor of rank ≥ 2, got shape [${x.shape.join(', ')}]`);
  if (backendHasKernel(BATCH_NORM_TRAIN)) {
    const [y, mean, variance] = runKernelOutputs(BATCH_NORM_TRAIN, { x, gamma, beta }, { epsilon });
    return { y: y!, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }
  let mean: tf.Tensor1D | undefined;
  let variance: tf.Tensor1D | undefined;
  const op = customOp<[tf.Tensor, tf.Tensor, tf.Tensor]>((xIn, gammaIn, betaIn, save) => {
    const moments = tf.moments(xIn, allButLastAxis(xIn.rank));
    const scale = tf.mul(gammaIn, tf.rsqrt(tf.add(moments.variance, epsilon)));
    const y = tf.add(tf.mul(xIn, scale), tf.sub(betaIn, tf.mul(moments.mean, scale)));
    // customGrad disposes what its function made except the value; the statistics must outlive it.
    mean = tf.keep(moments.mean) as tf.Tensor1D;
    variance = tf.keep(moments.variance) as tf.Tensor1D;
    save([xIn, gammaIn, moments.mean, moments.variance]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [xs, gammas, means, variances] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return batchNormTrainBackward(dy, xs, gammas, means, variances, epsilon);
      },
    };
  });
  const y = op(x, gamma, beta);
  // Hand the statistics to the caller's scope, as the kernel path does (clones share the data).
  const result = { y, mean: tf.clone(mean!), variance: tf.clone(variance!) };
  tf.dispose([mean!, variance!]);
  return result;
}
