import type * as tf from '@tensorflow/tfjs-core';
import { RELU_GRAD } from '../../ops/kernel-names.js';
import { allocFloat32, cpuBackendOf, floatValues, makeFloatOutput, type KernelContext } from './kernel-util.js';

/** The kernel of our reluGrad op (src/ops): inputs {dy, y} → dx = (y > 0 ? dy : 0), one pass. */
export function reluGrad(context: KernelContext): tf.KernelFunc {
  return (args) => {
    const backend = cpuBackendOf(args);
    const { dy, y } = args.inputs;
    const dyValues = floatValues(backend, dy);
    const yValues = floatValues(backend, y);
    if (!dyValues || !yValues || dyValues.length !== yValues.length) throw new Error(`${RELU_GRAD} takes float32 dy and y of one shape`);
    const dx = allocFloat32(backend, dyValues.length);
    context.addon.reluGrad(dyValues, yValues, dx);
    return makeFloatOutput(backend, [...y!.shape], dx);
  };
}
