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
 * tfjs's gradient registry is global (one gradient per kernel name, for every backend), and ReLU's
 * gradient there is step(x), a cast and a multiply: three passes over the activation. This wraps it so
 * that on the native backend it runs one fused kernel, and on every other backend exactly as before.
 */
export function installReluGradient(): void {
  if (reluGradientInstalled) return;
  const original = tf.getGradient('Relu');
  if (!original) throw new Error('tfjs has no gradient registered for Relu');
  tf.registerGradient({
    ...original,
    gradFunc: (dy, saved, attrs) => {
      if (tf.getBackend() !== NATIVE_BACKEND) return original.gradFunc(dy, saved, attrs);
      const [x] = saved;
      return { x: () => tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: dy as tf.Tensor, x: x! }) as tf.Tensor };
    },
  });
  reluGradientInstalled = true;
}
