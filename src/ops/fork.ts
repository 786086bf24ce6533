import * as tf from '@tensorflow/tfjs-core';
import { backendHasKernel, customOp, releaseConsumedGradient, runKernelOutputs } from './dispatch.js';
import { FORK } from './kernel-names.js';

/**
 * x for two consumers, as two tensors sharing its data: a ResNet block's input feeds both its first
 * convolution and its shortcut. Why: where one tensor has two consumers, tfjs's backward pass sums their
 * gradients itself but keeps the second addend until the pass ends (its tape disposes only the first),
 * one block input's worth of memory per block — 232 MiB of a ResNet-18 batch-256 step's 1,700 MiB peak in
 * fp32. Through a fork each consumer reads its own tensor, and the fork's gradient sums the two and
 * releases both at once. A backend without the FORK kernel gets two pass-through clones: tfjs sums
 * (and holds an addend) as for a tensor used twice, and nothing more.
 */
export function fork(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  if (!backendHasKernel(FORK)) return [passThrough(x), passThrough(x)];
  const [a, b] = runKernelOutputs(FORK, { x });
  return [a!, b!];
}

/** A clone of x whose gradient hands dy on and releases it (tfjs's own Identity gradient keeps it). */
const passThrough = customOp<[tf.Tensor]>((x) => ({
  value: tf.clone(x),
  gradFunc: (dy) => {
    const dx = tf.clone(dy);
    releaseConsumedGradient(dy);
    return [dx];
  },
}));

tf.registerGradient({
  kernelName: FORK,
  gradFunc: (dys: tf.Tensor | tf.Tensor[]) => {
    const [da, db] = dys as tf.Tensor[];
    return {
      x: () => {
        const sum = tf.add(da!, db!);
        releaseConsumedGradient(da!);
        releaseConsumedGradient(db!);
        return sum;
      },
    };
  },
});
