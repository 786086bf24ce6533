import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients; tfjs-layers' does, on import. Importing it here makes
// sure ours are installed after (and so over) those, whatever order the application imports things in.
import '@tensorflow/tfjs-layers';
import { allocFloat32, cpuBackendOf, floatValues, makeFloatOutput, NATIVE_BACKEND, withFallback, type KernelContext } from './kernel_util.js';

/** A kernel of our own, registered for the native backend only: ReLU's gradient in one pass. */
export const RELU_GRAD_KERNEL = 'InfobatchReluGrad';

export function reluGrad(context: KernelContext): tf.KernelFunc {
  return withFallback(RELU_GRAD_KERNEL, context, (args) => {
    const backend = cpuBackendOf(args);
    const { dy, x } = args.inputs;
    const dyValues = floatValues(backend, dy);
    const xValues = floatValues(backend, x);
    if (!dyValues || !xValues || dyValues.length !== xValues.length) return undefined;
    const dx = allocFloat32(backend, dyValues.length);
    context.addon.reluGrad(dyValues, xValues, dx);
    return makeFloatOutput(backend, [...x!.shape], dx);
  });
}

let reluGradientInstalled = false;

/**
 * Disposes a gradient that only the calling gradient function reads. tfjs keeps every intermediate
 * gradient of a backward pass until the pass ends, which at batch 128 holds about as many bytes as the
 * activations again; PyTorch frees each as soon as it is consumed. The tape hands each gradient tensor
 * to exactly one node and reads it only for the variables whose gradients were asked for, which are
 * never outputs of a kernel; other holders of the same data (a reshape of it) keep it alive by their
 * reference count. Skipped when higher-order gradients are being recorded.
 */
export function releaseConsumedGradient(dy: tf.Tensor): void {
  const state = (tf.engine() as unknown as { state: { gradientDepth: number } }).state;
  if (state.gradientDepth === 0) dy.dispose();
}

/**
 * tfjs's gradient registry is global (one gradient per kernel name, for every backend). ReLU's there
 * saves the input x and computes dy·step(x) as three kernels. This one saves the output y instead
 * (y > 0 exactly where x > 0, and y is NaN where x is, so dy·step(y) is the same gradient): the
 * BatchNorm output feeding each ReLU then need not outlive the forward pass, as in PyTorch, which
 * cuts ResNet-18's saved activations by about a quarter on every backend. On the native backend the
 * gradient is one fused kernel; elsewhere it is tfjs's own formula applied to y.
 */
export function installReluGradient(): void {
  if (reluGradientInstalled) return;
  if (!tf.getGradient('Relu')) throw new Error('tfjs has no gradient registered for Relu');
  tf.registerGradient({
    kernelName: 'Relu',
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const [y] = saved;
      if (tf.getBackend() === NATIVE_BACKEND) {
        return {
          x: () => {
            const dx = tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: dy as tf.Tensor, x: y! }) as tf.Tensor;
            releaseConsumedGradient(dy as tf.Tensor);
            return dx;
          },
        };
      }
      return { x: () => tf.mul(dy as tf.Tensor, tf.cast(tf.step(y!), 'float32')) };
    },
  });
  reluGradientInstalled = true;
}
