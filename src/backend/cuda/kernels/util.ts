import * as tf from '@tensorflow/tfjs-core';
import type { CudaBackend } from '../backend.js';

export type KernelArgs = Parameters<tf.KernelFunc>[0];
export type KernelResult = tf.TensorInfo | tf.TensorInfo[];
/** A cuda kernel: undefined means "not on the GPU for these inputs"; the registry then runs the CPU kernel. */
export type CudaKernel = (args: KernelArgs & { backend: CudaBackend }) => KernelResult | undefined;

export function input(args: KernelArgs, name: string): tf.TensorInfo {
  const tensor = (args.inputs as Record<string, tf.TensorInfo | undefined>)[name];
  if (!tensor) throw new Error(`missing input ${name}`);
  return tensor;
}

export function optionalInput(args: KernelArgs, name: string): tf.TensorInfo | undefined {
  return (args.inputs as Record<string, tf.TensorInfo | undefined>)[name] ?? undefined;
}

/** The inputs of AddN / Concat / our SGD kernel: keys '0'..'n−1'. */
export function inputList(args: KernelArgs): tf.TensorInfo[] {
  const record = args.inputs as unknown as Record<string, tf.TensorInfo> | tf.TensorInfo[];
  return Array.isArray(record) ? record : Object.keys(record).sort((a, b) => Number(a) - Number(b)).map((key) => record[key]!);
}

export function attr<T>(args: KernelArgs, name: string): T {
  return (args.attrs as Record<string, unknown> | undefined)?.[name] as T;
}

/** An addon call's `bf16` mask from its buffers' formats, in the order its comment names them. */
export function bf16Mask(...bf16: boolean[]): number {
  return bf16.reduce((mask, flag, k) => (flag ? mask | (1 << k) : mask), 0);
}

/**
 * Whether an element-wise result is stored as bfloat16: when its float operands are, as PyTorch's type
 * promotion under autocast (bf16 with bf16 stays bf16; with a float32 tensor it becomes float32; a
 * single value, like a Python scalar, does not decide unless all are single values).
 */
export function elementwiseBf16(backend: CudaBackend, operands: readonly tf.TensorInfo[]): boolean {
  const tensors = operands.filter((t) => sizeOf(t.shape) > 1);
  return (tensors.length > 0 ? tensors : operands).every((t) => t.dtype === 'float32' && backend.stored(t).bf16);
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major strides in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d]!;
  }
  return strides;
}

/** float32 / int32 bit patterns for fill and one-hot. */
export function bitsOf(value: number, dtype: tf.DataType): number {
  const view = new DataView(new ArrayBuffer(4));
  if (dtype === 'float32') view.setFloat32(0, value, true);
  else view.setInt32(0, dtype === 'bool' ? (value ? 1 : 0) : Math.trunc(value), true);
  return view.getUint32(0, true);
}

export interface Broadcast {
  readonly outShape: number[];
  /** The collapsed index space the kernel walks, and each operand's strides over it. */
  readonly shape: number[];
  readonly aStrides: number[];
  readonly bStrides: number[];
}

/**
 * numpy broadcasting of two shapes, with size-1 dims dropped and neighbouring dims merged wherever both
 * operands step through them contiguously (or both broadcast them): a bias add becomes [rows, cols].
 */
export function broadcast(aShape: readonly number[], bShape: readonly number[]): Broadcast {
  const outShape = tf.backend_util.assertAndGetBroadcastShape(aShape as number[], bShape as number[]);
  const rank = outShape.length;
  const stridesFor = (shape: readonly number[]) => {
    const padded = [...new Array<number>(rank - shape.length).fill(1), ...shape];
    const strides = stridesOf(padded);
    return padded.map((dim, d) => (dim === 1 && outShape[d] !== 1 ? 0 : dim === 1 ? 0 : strides[d]!));
  };
  const as = stridesFor(aShape);
  const bs = stridesFor(bShape);
  const shape: number[] = [];
  const aStrides: number[] = [];
  const bStrides: number[] = [];
  for (let d = 0; d < rank; d++) {
    if (outShape[d] === 1) continue;
    const last = shape.length - 1;
    if (last >= 0 && aStrides[last] === as[d]! * outShape[d]! && bStrides[last] === bs[d]! * outShape[d]!) {
      shape[last] = shape[last]! * outShape[d]!;
      aStrides[last] = as[d]!;
      bStrides[last] = bs[d]!;
    } else {
      shape.push(outShape[d]!);
      aStrides.push(as[d]!);
      bStrides.push(bs[d]!);
    }
  }
  if (shape.length === 0) return { outShape, shape: [1], aStrides: [0], bStrides: [0] };
  return { outShape, shape, aStrides, bStrides };
}

/** A reduction over `axes` seen as [outer, reduce, inner] when the axes are one contiguous block. */
export function reductionView(shape: readonly number[], axes: readonly number[]): { outer: number; reduce: number; inner: number } | null {
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  if (sorted.length === 0) return { outer: sizeOf(shape), reduce: 1, inner: 1 };
  // Size-1 axes can be added or dropped freely; find a contiguous block among the rest.
  const first = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  for (let d = first; d <= last; d++) if (!sorted.includes(d) && shape[d] !== 1) return null;
  return { outer: sizeOf(shape.slice(0, first)), reduce: sizeOf(shape.slice(first, last + 1)), inner: sizeOf(shape.slice(last + 1)) };
}
