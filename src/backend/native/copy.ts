import * as tf from '@tensorflow/tfjs-core';
import { allocFloat32, cpuBackendOf, floatValues, makeFloatOutput, sizeOf, withFallback, type KernelContext } from './kernel-util.js';

/**
 * Slice and PadV2 as strided box copies. ResNet-20's option-A shortcut pads channels with zeros; the
 * CPU backend's slice (that pad's gradient) walks the tensor element by element through index
 * arithmetic and took half of a ResNet-20 step.
 */
export function slice(context: KernelContext): tf.KernelFunc {
  return withFallback('Slice', context, (args) => {
    const backend = cpuBackendOf(args);
    const { x } = args.inputs;
    const xValues = floatValues(backend, x);
    if (!xValues || x!.shape.length === 0) return undefined;
    const { begin, size } = args.attrs as { begin: number | number[]; size: number | number[] };
    const [start, extent] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    const strides = [...tf.util.computeStrides(x!.shape), 1];
    const out = allocFloat32(backend, sizeOf(extent));
    if (out.length > 0) {
      const offset = start.reduce((sum, b, i) => sum + b * strides[i]!, 0);
      context.addon.copyBox(xValues, offset, strides, out, 0, [...tf.util.computeStrides(extent), 1], extent);
    }
    return makeFloatOutput(backend, extent, out);
  });
}

export function padV2(context: KernelContext): tf.KernelFunc {
  return withFallback('PadV2', context, (args) => {
    const backend = cpuBackendOf(args);
    const { x } = args.inputs;
    const xValues = floatValues(backend, x);
    if (!xValues || x!.shape.length === 0) return undefined;
    const { paddings, constantValue } = args.attrs as { paddings: Array<[number, number]>; constantValue: number };
    const shape = x!.shape.map((dim, i) => paddings[i]![0] + dim + paddings[i]![1]);
    const out = allocFloat32(backend, sizeOf(shape));
    out.fill(constantValue);
    if (xValues.length > 0) {
      const outStrides = [...tf.util.computeStrides(shape), 1];
      const offset = paddings.reduce((sum, [before], i) => sum + before * outStrides[i]!, 0);
      context.addon.copyBox(xValues, 0, [...tf.util.computeStrides(x!.shape), 1], out, offset, outStrides, [...x!.shape]);
    }
    return makeFloatOutput(backend, shape, out);
  });
}

/** The kernel of our fork op (src/ops): two tensors sharing x's data, as the CPU backend's Identity. */
export function fork(): tf.KernelFunc {
  return (args) => {
    const backend = cpuBackendOf(args);
    const x = args.inputs['x']!;
    backend.incRef(x.dataId);
    backend.incRef(x.dataId);
    return [{ dataId: x.dataId, shape: x.shape, dtype: x.dtype }, { dataId: x.dataId, shape: x.shape, dtype: x.dtype }];
  };
}
