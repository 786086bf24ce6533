import type * as tf from '@tensorflow/tfjs-core';
import { SGD_MOMENTUM } from '../../ops/kernel-names.js';
import { allocFloat32, cpuBackendOf, floatValues, makeFloatOutput, type KernelContext } from './kernel-util.js';

/**
 * The kernel of our sgdMomentum op (src/ops): inputs '0'…'3n−1' = n params, n grads, n buffers;
 * attrs {lr, momentum, weightDecay, firstStep} → n new params, then n new buffers. One addon call
 * for every tensor, one pass over each (the composite makes five).
 */
export function sgdMomentum(context: KernelContext): tf.KernelFunc {
  return (args) => {
    const backend = cpuBackendOf(args);
    const { lr, momentum, weightDecay, firstStep } = args.attrs as unknown as { lr: number; momentum: number; weightDecay: number; firstStep: boolean };
    const count = Object.keys(args.inputs).length;
    if (count % 3 !== 0) throw new Error(`${SGD_MOMENTUM} takes 3n inputs, got ${count}`);
    const n = count / 3;
    const infos = Array.from({ length: count }, (_, i) => args.inputs[String(i)]);
    const arrays = infos.map((info, i) => {
      const values = floatValues(backend, info);
      if (!values) throw new Error(`${SGD_MOMENTUM}: input ${i} is not a float32 tensor`);
      return values;
    });
    const params = arrays.slice(0, n);
    const paramsOut = params.map((p) => allocFloat32(backend, p.length));
    const buffersOut = params.map((p) => allocFloat32(backend, p.length));
    context.addon.sgdMomentum(params, arrays.slice(n, 2 * n), arrays.slice(2 * n), paramsOut, buffersOut, lr, momentum, weightDecay, firstStep);
    const shapes = infos.slice(0, n).map((info) => [...info!.shape]);
    return [...paramsOut.map((values, i) => makeFloatOutput(backend, shapes[i]!, values)), ...buffersOut.map((values, i) => makeFloatOutput(backend, shapes[i]!, values))];
  };
}
