import * as tf from '@tensorflow/tfjs-core';
import { batchNormTrainGrad } from '../batch-norm-train-grad.js';
import { releaseConsumedGradient } from '../dispatch.js';
import { BATCH_NORM_TRAIN } from '../kernel-names.js';

/**
 * The backward pass of training-mode BatchNorm: gradients for x, gamma and beta from the incoming
 * gradient of y (the batch mean and variance, the kernel's other outputs, feed only the running
 * statistics, which PyTorch updates without gradient; gradients arriving for them are ignored).
 */
export function batchNormTrainBackward(dy: tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, epsilon: number): tf.Tensor[] {
  const grads = batchNormTrainGrad(x, dy, gamma, mean, variance, epsilon);
  releaseConsumedGradient(dy);
  return grads;
}

/** The gradient of the BATCH_NORM_TRAIN kernel, for backends that register one. */
export const batchNormTrainGradConfig: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const dy = Array.isArray(dys) ? dys[0]! : dys;
    const [x, gamma, mean, variance] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const [dx, dgamma, dbeta] = batchNormTrainBackward(dy, x, gamma, mean, variance, (attrs as { epsilon: number }).epsilon);
    return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
  },
};
