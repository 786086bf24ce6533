import * as tf from '@tensorflow/tfjs-core';
import { REDUCE } from '../addon.js';
import { deviceType, type CudaBackend } from '../backend.js';
import { transpose } from './shape.js';
import { attr, input, reductionView, sizeOf, type CudaKernel } from './util.js';

/**
 * x reduced over `axes`. Axes that form one contiguous block (NHWC's N·H·W, a row's last axis…) are
 * reduced in place as [outer, reduce, inner]; any other set is transposed to the end first.
 */
export function reduceOver(backend: CudaBackend, op: number, x: tf.TensorInfo, axes: readonly number[], keepDims: boolean, outDtype: tf.DataType, scaleByCount = false): tf.TensorInfo {
  const rank = x.shape.length;
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const finalShape = keepDims ? outShape : x.shape.filter((_, i) => !axes.includes(i));
  const count = sizeOf(axes.map((a) => x.shape[a]!));
  const scale = scaleByCount ? 1 / count : 1;
  let view = reductionView(x.shape, axes);
  let source = x;
  let temporary: tf.TensorInfo | null = null;
  if (!view) {
    const kept = [...Array(rank).keys()].filter((i) => !axes.includes(i));
    temporary = transpose(backend, x, [...kept, ...axes]);
    source = temporary;
    view = { outer: sizeOf(kept.map((i) => x.shape[i]!)), reduce: count, inner: 1 };
  }
  const out = backend.makeOutput(finalShape, outDtype);
  backend.addon.reduce(op, deviceType(x.dtype), backend.ptr(source), backend.ptr(out), view.outer, view.reduce, view.inner, scale);
  if (temporary) backend.disposeIntermediate(temporary);
  return out;
}

function axesOf(args: Parameters<CudaKernel>[0], x: tf.TensorInfo, name = 'axis'): number[] {
  return tf.util.parseAxisParam(attr<number | number[]>(args, name) ?? [...x.shape.keys()], x.shape);
}

function reduceKernel(op: number, options: { axisAttr?: string; dtype?: (x: tf.DataType) => tf.DataType; mean?: boolean; floatOnly?: boolean } = {}): CudaKernel {
  return (args) => {
    const x = input(args, 'x');
    if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') return undefined;
    if (options.floatOnly && x.dtype !== 'float32') return undefined;
    if (x.shape.length > 6) return undefined;
    const axes = axesOf(args, x, options.axisAttr);
    return reduceOver(args.backend, op, x, axes, attr<boolean>(args, 'keepDims') ?? false, options.dtype ? options.dtype(x.dtype) : x.dtype, options.mean);
  };
}

const sumType = (d: tf.DataType): tf.DataType => (d === 'float32' ? 'float32' : 'int32');

function argKernel(isMax: boolean): CudaKernel {
  return (args) => {
    const x = input(args, 'x');
    if (x.dtype !== 'float32' && x.dtype !== 'int32') return undefined;
    const axis = tf.util.parseAxisParam(attr<number>(args, 'axis') ?? 0, x.shape)[0]!;
    const out = args.backend.makeOutput(x.shape.filter((_, i) => i !== axis), 'int32');
    args.backend.addon.argReduce(isMax, deviceType(x.dtype), args.backend.ptr(x), args.backend.ptr(out), sizeOf(x.shape.slice(0, axis)), x.shape[axis]!, sizeOf(x.shape.slice(axis + 1)));
    return out;
  };
}

function softmaxKernel(log: boolean): CudaKernel {
  return (args) => {
    const logits = input(args, 'logits');
    const dim = attr<number>(args, log ? 'axis' : 'dim') ?? -1;
    if (logits.dtype !== 'float32' || (dim !== -1 && dim !== logits.shape.length - 1)) return undefined;
    const cols = logits.shape[logits.shape.length - 1]!;
    const out = args.backend.makeOutput(logits.shape, 'float32');
    args.backend.addon.softmax(args.backend.ptr(logits), args.backend.ptr(out), sizeOf(logits.shape) / Math.max(cols, 1), cols, log);
    return out;
  };
}

export const REDUCE_KERNELS: Record<string, CudaKernel> = {
  Sum: reduceKernel(REDUCE.Sum, { dtype: sumType }),
  Prod: reduceKernel(REDUCE.Prod, { dtype: sumType }),
  Mean: reduceKernel(REDUCE.Sum, { mean: true, floatOnly: true }),
  Max: reduceKernel(REDUCE.Max, { axisAttr: 'reductionIndices' }),
  Min: reduceKernel(REDUCE.Min),
  Any: reduceKernel(REDUCE.Any, { dtype: () => 'bool' }),
  All: reduceKernel(REDUCE.All, { dtype: () => 'bool' }),
  ArgMax: argKernel(true),
  ArgMin: argKernel(false),
  Softmax: softmaxKernel(false),
  LogSoftmax: softmaxKernel(true),
};
