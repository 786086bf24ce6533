import * as tf from '@tensorflow/tfjs-core';
import { BinaryOp, UnaryOp } from './addon.js';
import { allocFloat32, cpuBackendOf, floatValues, makeFloatOutput, sizeOf, withFallback, type KernelContext } from './kernel-util.js';

/** Kernel name → the addon's binary op, for float32 inputs broadcast NumPy-style. */
export const BINARY_KERNELS: Record<string, number> = {
  Add: BinaryOp.Add,
  Sub: BinaryOp.Sub,
  Multiply: BinaryOp.Mul,
  RealDiv: BinaryOp.Div,
  SquaredDifference: BinaryOp.SquaredDifference,
  Maximum: BinaryOp.Maximum,
  Minimum: BinaryOp.Minimum,
};

/** Kernel name → the addon's unary op, for float32 inputs. */
export const UNARY_KERNELS: Record<string, number> = {
  Relu: UnaryOp.Relu,
  Step: UnaryOp.Step,
  Neg: UnaryOp.Neg,
  Square: UnaryOp.Square,
  Sqrt: UnaryOp.Sqrt,
  Rsqrt: UnaryOp.Rsqrt,
  Exp: UnaryOp.Exp,
  Log: UnaryOp.Log,
  Reciprocal: UnaryOp.Reciprocal,
  Abs: UnaryOp.Abs,
  Relu6: UnaryOp.Relu6,
  Sigmoid: UnaryOp.Sigmoid,
};

export function binaryKernel(name: string, op: number): (context: KernelContext) => tf.KernelFunc {
  return (context) =>
    withFallback(name, context, (args) => {
      const backend = cpuBackendOf(args);
      const { a, b } = args.inputs;
      const aValues = floatValues(backend, a);
      const bValues = floatValues(backend, b);
      if (!aValues || !bValues) return undefined;
      const shape = tf.broadcast_util.assertAndGetBroadcastShape(a!.shape, b!.shape);
      if (shape.length > 8) return undefined;
      const out = allocFloat32(backend, sizeOf(shape));
      context.addon.binary(op, aValues, a!.shape, bValues, b!.shape, out, shape);
      return makeFloatOutput(backend, shape, out);
    });
}

export function unaryKernel(name: string, op: number): (context: KernelContext) => tf.KernelFunc {
  return (context) =>
    withFallback(name, context, (args) => {
      const backend = cpuBackendOf(args);
      const { x } = args.inputs;
      const xValues = floatValues(backend, x);
      if (!xValues) return undefined;
      const alpha = (args.attrs as { alpha?: number } | undefined)?.alpha ?? 0;
      const out = allocFloat32(backend, xValues.length);
      context.addon.unary(op, xValues, out, alpha);
      return makeFloatOutput(backend, [...x!.shape], out);
    });
}

/** Sum of any number of same-shape float32 tensors (gradient accumulation). */
export function addN(context: KernelContext): tf.KernelFunc {
  return withFallback('AddN', context, (args) => {
    const backend = cpuBackendOf(args);
    const tensors = Object.values(args.inputs) as tf.TensorInfo[];
    const values = tensors.map((t) => floatValues(backend, t));
    if (tensors.length < 2 || values.some((v) => !v)) return undefined;
    const shape = tensors[0]!.shape;
    if (tensors.some((t) => t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) return undefined;
    const out = allocFloat32(backend, sizeOf(shape));
    context.addon.binary(BinaryOp.Add, values[0]!, shape, values[1]!, shape, out, shape);
    for (let i = 2; i < values.length; i++) context.addon.binary(BinaryOp.Add, out, shape, values[i]!, shape, out, shape);
    return makeFloatOutput(backend, [...shape], out);
  });
}

interface ReductionView {
  outer: number;
  reduce: number;
  inner: number;
  outShape: number[];
}

/**
 * Views x as [outer, reduce, inner] when the reduced axes are contiguous once size-1 axes are
 * ignored (BatchNorm's [0,1,2] of NHWC, global pooling's [1,2], a last-axis softmax); others go to
 * the CPU kernel, which transposes first.
 */
function reductionView(shape: readonly number[], axisAttr: number | number[] | null | undefined, keepDims: boolean): ReductionView | undefined {
  // A missing axis means every axis, as in tfjs.
  const axes = new Set(tf.util.parseAxisParam(axisAttr ?? shape.map((_, i) => i), [...shape]));
  let phase: 'outer' | 'reduce' | 'inner' = 'outer';
  let outer = 1;
  let reduce = 1;
  let inner = 1;
  for (let i = 0; i < shape.length; i++) {
    const dim = shape[i]!;
    if (dim === 1) continue;
    if (axes.has(i)) {
      if (phase === 'inner') return undefined;
      phase = 'reduce';
      reduce *= dim;
    } else if (phase === 'outer') {
      outer *= dim;
    } else {
      phase = 'inner';
      inner *= dim;
    }
  }
  const outShape = keepDims ? shape.map((d, i) => (axes.has(i) ? 1 : d)) : shape.filter((_, i) => !axes.has(i));
  return { outer, reduce, inner, outShape };
}

function reductionKernel(name: 'Sum' | 'Mean' | 'Max'): (context: KernelContext) => tf.KernelFunc {
  return (context) =>
    withFallback(name, context, (args) => {
      const backend = cpuBackendOf(args);
      const { x } = args.inputs;
      const xValues = floatValues(backend, x);
      if (!xValues || xValues.length === 0) return undefined;
      const attrs = args.attrs as { axis?: number | number[] | null; reductionIndices?: number | number[] | null; keepDims: boolean };
      const view = reductionView(x!.shape, name === 'Max' ? attrs.reductionIndices : attrs.axis, attrs.keepDims);
      if (!view) return undefined;
      const out = allocFloat32(backend, view.outer * view.inner);
      const scale = name === 'Mean' ? 1 / view.reduce : 1;
      context.addon.reduce(name === 'Max' ? 1 : 0, xValues, view.outer, view.reduce, view.inner, out, scale);
      return makeFloatOutput(backend, view.outShape, out);
    });
}

export const sum = reductionKernel('Sum');
export const mean = reductionKernel('Mean');
export const max = reductionKernel('Max');

/** tfjs's FusedBatchNorm (any mode): per-channel parameters of length 1 or the last axis. */
export function fusedBatchNorm(context: KernelContext): tf.KernelFunc {
  return withFallback('FusedBatchNorm', context, (args) => {
    const backend = cpuBackendOf(args);
    const { x, mean, variance, offset, scale } = args.inputs;
    const { varianceEpsilon } = args.attrs as { varianceEpsilon: number };
    const xValues = floatValues(backend, x);
    const meanValues = floatValues(backend, mean);
    const varianceValues = floatValues(backend, variance);
    if (!xValues || !meanValues || !varianceValues || x!.shape.length === 0) return undefined;
    const channels = x!.shape[x!.shape.length - 1]!;
    const offsetValues = offset ? floatValues(backend, offset) : null;
    const scaleValues = scale ? floatValues(backend, scale) : null;
    if (offsetValues === undefined || scaleValues === undefined) return undefined;
    const fits = (v: Float32Array | null) => v === null || v.length === 1 || v.length === channels;
    if (channels === 0 || ![meanValues, varianceValues, offsetValues, scaleValues].every(fits)) return undefined;
    const y = allocFloat32(backend, xValues.length);
    context.addon.batchNorm(xValues, channels, meanValues, varianceValues, offsetValues, scaleValues, varianceEpsilon, y);
    return makeFloatOutput(backend, [...x!.shape], y);
  });
}
