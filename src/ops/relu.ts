import * as tf from '@tensorflow/tfjs-core';
import { backendHasKernel, customOp, releaseConsumedGradient } from './dispatch.js';
import { RELU_GRAD } from './kernel-names.js';

/**
 * ReLU's gradient from its output: dx = (y > 0 ? dy : 0). y > 0 exactly where x > 0, so this is the
 * gradient of max(x, 0). One kernel where the backend registers RELU_GRAD.
 */
export function reluGrad(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (backendHasKernel(RELU_GRAD)) return tf.engine().runKernel(RELU_GRAD, { dy, y }) as tf.Tensor;
  return tf.tidy(() => tf.where(tf.greater(y, 0), dy, tf.zerosLike(dy)));
}

const reluOp = customOp<[tf.Tensor]>((x, save) => {
  const y = tf.relu(x);
  save([y]);
  return {
    value: y,
    gradFunc: (dy, [ySaved]) => {
      const dx = reluGrad(dy, ySaved!);
      releaseConsumedGradient(dy);
      return [dx];
    },
  };
});

/**
 * max(x, 0) (tfjs's Relu kernel) whose gradient saves the OUTPUT, not the input as tfjs's own Relu
 * gradient does: the BatchNorm output feeding each ReLU then need not outlive the forward pass, as in
 * PyTorch, which cuts ResNet-18's saved activations by about a quarter on every backend.
 */
export function relu<T extends tf.Tensor>(x: T): T {
  return reluOp(x) as T;
}
