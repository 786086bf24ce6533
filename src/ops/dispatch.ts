import * as tf from '@tensorflow/tfjs-core';

/**
 * Whether the active backend registered a kernel of this name. Our ops run such a kernel and
 * otherwise compute the same result with standard tfjs ops, so they never ask which backend is active.
 */
export function backendHasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

/** Runs a kernel with several outputs (runKernel's type says one tensor or many). */
export function runKernelOutputs(kernelName: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor[] {
  const out = tf.engine().runKernel(kernelName, inputs, attrs);
  return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
}

/**
 * Disposes a gradient that only the calling gradient function reads. tfjs keeps every intermediate
 * gradient of a backward pass until the pass ends, which at batch 128 holds about as many bytes as the
 * activations again; PyTorch frees each as soon as it is consumed. The tape hands each gradient tensor
 * to exactly one node and reads it only for the variables whose gradients were asked for, which are
 * never outputs of a kernel; other holders of the same data (a reshape of it) keep it alive by their
 * reference count. Skipped when higher-order gradients are being recorded (the engine's gradient depth
 * is not public API: one reason the tfjs packages are pinned to exact versions).
 */
export function releaseConsumedGradient(dy: tf.Tensor): void {
  const state = (tf.engine() as unknown as { state: { gradientDepth: number } }).state;
  if (state.gradientDepth === 0) dy.dispose();
}

/** The axes a per-channel (last-axis) statistic reduces over. */
export function allButLastAxis(rank: number): number[] {
  return Array.from({ length: rank - 1 }, (_, axis) => axis);
}

/**
 * tf.customGrad types its function's arguments as one union; ours take a fixed list of tensors.
 * Wraps a forward function (inputs…, save) → {value, gradFunc} into a differentiable op.
 */
export function customOp<Inputs extends tf.Tensor[]>(
  forward: (...args: [...Inputs, tf.GradSaveFunc]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] },
): (...inputs: Inputs) => tf.Tensor {
  const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  return (...inputs: Inputs) => op(...inputs) as tf.Tensor;
}
