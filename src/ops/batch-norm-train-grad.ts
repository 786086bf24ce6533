import * as tf from '@tensorflow/tfjs-core';
import { allButLastAxis, backendHasKernel, runKernelOutputs } from './dispatch.js';
import { BATCH_NORM_TRAIN_GRAD } from './kernel-names.js';

/**
 * The gradient of training-mode BatchNorm (batch statistics depend on x) with respect to x, gamma and
 * beta, from the forward's input, batch mean and biased variance:
 *   x̂ = (x − mean)/σ,  dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ/(σ·n) · (n·dy − dβ − x̂·dγ),  σ = √(variance + ε),
 * sums over every axis but the last (n values per channel). One kernel where the backend has one.
 */
export function batchNormTrainGrad(
  x: tf.Tensor,
  dy: tf.Tensor,
  gamma: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  epsilon: number,
): [dx: tf.Tensor, dgamma: tf.Tensor, dbeta: tf.Tensor] {
  if (backendHasKernel(BATCH_NORM_TRAIN_GRAD)) {
    const [dx, dgamma, dbeta] = runKernelOutputs(BATCH_NORM_TRAIN_GRAD, { x, dy, gamma, mean, variance }, { epsilon });
    return [dx!, dgamma!, dbeta!];
  }
  return tf.tidy(() => {
    const axes = allButLastAxis(x.rank);
    const n = x.size / x.shape[x.rank - 1]!;
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    const xHat = tf.mul(tf.sub(x, mean), rstd);
    const dbeta = tf.sum(dy, axes);
    const dgamma = tf.sum(tf.mul(dy, xHat), axes);
    const inner = tf.sub(tf.sub(tf.mul(dy, n), dbeta), tf.mul(xHat, dgamma));
    const dx = tf.mul(inner, tf.div(tf.mul(gamma, rstd), n));
    return [dx, dgamma, dbeta];
  }) as [tf.Tensor, tf.Tensor, tf.Tensor];
}
