import type * as tf from '@tensorflow/tfjs-core';
import { batchNormTrainGrad } from '../batch-norm-train-grad.js';
import { releaseConsumedGradient } from '../dispatch.js';
import { reluGrad } from '../relu.js';

/**
 * The backward pass of training-mode BatchNorm (the gradient of our batchNormTrain op, y = relu?(bn(x) +
 * residual?)): gradients for x, gamma, beta and, with a residual, the residual, from the incoming gradient
 * of y and what the forward saved — [x, gamma, mean, variance], and y itself when a ReLU was applied (its
 * mask). The batch mean and variance feed only the running statistics, which PyTorch updates without
 * gradient. Each gradient this consumes is released as soon as it is used.
 */
export function batchNormTrainBackward(dy: tf.Tensor, saved: tf.Tensor[], epsilon: number, withResidual: boolean): tf.Tensor[] {
  const [x, gamma, mean, variance, y] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
  // The gradient at the sum bn(x) + residual: through the ReLU's mask, then handed to both terms as it is.
  let g = dy;
  if (y) {
    g = reluGrad(dy, y);
    releaseConsumedGradient(dy);
  }
  const [dx, dgamma, dbeta] = batchNormTrainGrad(x, g, gamma, mean, variance, epsilon);
  if (withResidual) return [dx, dgamma, dbeta, g];
  releaseConsumedGradient(g);
  return [dx, dgamma, dbeta];
}
