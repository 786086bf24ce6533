import type * as tf from '@tensorflow/tfjs-core';
import { batchNormTrainGrad } from '../batch-norm-train-grad.js';
import { releaseConsumedGradient } from '../dispatch.js';

/**
 * The backward pass of training-mode BatchNorm (the gradient of our batchNormTrain op): gradients for
 * x, gamma and beta from the incoming gradient of y. The batch mean and variance feed only the running
 * statistics, which PyTorch updates without gradient.
 */
export function batchNormTrainBackward(dy: tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, epsilon: number): tf.Tensor[] {
  const grads = batchNormTrainGrad(x, dy, gamma, mean, variance, epsilon);
  releaseConsumedGradient(dy);
  return grads;
}
