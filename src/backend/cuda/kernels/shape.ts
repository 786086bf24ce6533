import * as tf from '@tensorflow/tfjs-core';
import type { CudaBackend } from '../backend.js';
import { filled } from './elementwise.js';
import { attr, input, inputList, sizeOf, stridesOf, type CudaKernel } from './util.js';

const MAX_RANK = 6;

/** Copies src (viewed with `srcStrides` from `srcOffset`) into dst's box at `dstOffset`. */
function copyBox(
  backend: CudaBackend,
  src: tf.TensorInfo,
  srcOffset: number,
  srcStrides: number[],
  dst: tf.TensorInfo,
  dstOffset: number,
  dstStrides: number[],
  box: number[],
  srcModulo: number[] | null = null,
): void {
  if (sizeOf(box) === 0) return;
  backend.addon.copyStrided(backend.ptr(src), srcOffset, srcStrides, srcModulo, backend.ptr(dst), dstOffset, dstStrides, box);
}

const copyable = (t: tf.TensorInfo) => t.dtype === 'float32' || t.dtype === 'int32' || t.dtype === 'bool';

/**
 * A permutation that keeps a prefix of axes and swaps two blocks after it ([0, 3, 1, 2]: NHWC → NCHW;
 * [1, 0]; [0, 2, 1]) is a batched 2-D transpose of [batch, rows, cols]: the tiled kernel, coalesced on
 * both sides, instead of the strided copy's per-element index arithmetic. Null for other permutations.
 */
export function asBatchedTranspose(shape: readonly number[], perm: readonly number[]): { batch: number; rows: number; cols: number } | null {
  const n = perm.length;
  let prefix = 0;
  while (prefix < n && perm[prefix] === prefix) prefix++;
  if (prefix >= n - 1) return null;
  // perm[prefix..] must be [q, q+1, …, n−1, prefix, …, q−1] for some q.
  const q = perm[prefix]!;
  const rotated = [...Array.from({ length: n - q }, (_, i) => q + i), ...Array.from({ length: q - prefix }, (_, i) => prefix + i)];
  if (q <= prefix || rotated.some((axis, i) => perm[prefix + i] !== axis)) return null;
  return { batch: sizeOf(shape.slice(0, prefix)), rows: sizeOf(shape.slice(prefix, q)), cols: sizeOf(shape.slice(q)) };
}

export function transpose(backend: CudaBackend, x: tf.TensorInfo, perm: readonly number[]): tf.TensorInfo {
  const outShape = perm.map((p) => x.shape[p]!);
  const out = backend.makeOutput(outShape, x.dtype);
  const batched = asBatchedTranspose(x.shape, perm);
  if (batched) {
    if (sizeOf(outShape) > 0) backend.addon.batchedTranspose(backend.ptr(x), backend.ptr(out), batched.batch, batched.rows, batched.cols);
    return out;
  }
  const strides = stridesOf(x.shape);
  copyBox(backend, x, 0, perm.map((p) => strides[p]!), out, 0, stridesOf(outShape), outShape);
  return out;
}

export const SHAPE_KERNELS: Record<string, CudaKernel> = {
  Transpose: (args) => {
    const x = input(args, 'x');
    const perm = attr<number[]>(args, 'perm');
    if (!copyable(x) || x.shape.length > MAX_RANK) return undefined;
    return transpose(args.backend, x, perm);
  },
  Tile: (args) => {
    const x = input(args, 'x');
    const reps = attr<number[]>(args, 'reps');
    if (!copyable(x) || x.shape.length > MAX_RANK) return undefined;
    const outShape = x.shape.map((d, i) => d * reps[i]!);
    const out = args.backend.makeOutput(outShape, x.dtype);
    copyBox(args.backend, x, 0, stridesOf(x.shape), out, 0, stridesOf(outShape), outShape, [...x.shape]);
    return out;
  },
  BroadcastTo: (args) => {
    const x = input(args, 'x');
    const shape = attr<number[]>(args, 'shape');
    if (!copyable(x) || shape.length > MAX_RANK) return undefined;
    const padded = [...new Array<number>(shape.length - x.shape.length).fill(1), ...x.shape];
    const strides = stridesOf(padded).map((s, d) => (padded[d] === 1 ? 0 : s));
    const out = args.backend.makeOutput(shape, x.dtype);
    copyBox(args.backend, x, 0, strides, out, 0, stridesOf(shape), [...shape]);
    return out;
  },
  Slice: (args) => {
    const x = input(args, 'x');
    if (!copyable(x) || x.shape.length > MAX_RANK) return undefined;
    const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attr<number[]>(args, 'begin'), attr<number[]>(args, 'size'));
    const strides = stridesOf(x.shape);
    const out = args.backend.makeOutput(size, x.dtype);
    const offset = begin.reduce((sum, b, d) => sum + b * strides[d]!, 0);
    copyBox(args.backend, x, offset, strides, out, 0, stridesOf(size), size);
    return out;
  },
  PadV2: (args) => {
    const x = input(args, 'x');
    const paddings = attr<Array<[number, number]>>(args, 'paddings');
    const value = attr<number>(args, 'constantValue') ?? 0;
    if (!copyable(x) || x.shape.length > MAX_RANK) return undefined;
    const outShape = x.shape.map((d, i) => paddings[i]![0] + d + paddings[i]![1]);
    const out = filled(args.backend, outShape, x.dtype, value);
    const outStrides = stridesOf(outShape);
    const offset = paddings.reduce((sum, [before], d) => sum + before * outStrides[d]!, 0);
    copyBox(args.backend, x, 0, stridesOf(x.shape), out, offset, outStrides, [...x.shape]);
    return out;
  },
  Concat: (args) => {
    const tensors = inputList(args);
    if (tensors.some((t) => !copyable(t) || t.dtype !== tensors[0]!.dtype || t.shape.length > MAX_RANK)) return undefined;
    const axis = tf.util.parseAxisParam(attr<number>(args, 'axis'), tensors[0]!.shape)[0]!;
    const outShape = tf.backend_util.computeOutShape(tensors.map((t) => t.shape), axis);
    const out = args.backend.makeOutput(outShape, tensors[0]!.dtype);
    const outStrides = stridesOf(outShape);
    let at = 0;
    for (const t of tensors) {
      copyBox(args.backend, t, 0, stridesOf(t.shape), out, at * outStrides[axis]!, outStrides, [...t.shape]);
      at += t.shape[axis]!;
    }
    return out;
  },
  GatherV2: (args) => {
    const x = input(args, 'x');
    const indices = input(args, 'indices');
    if (!copyable(x) || indices.dtype !== 'int32' || (attr<number>(args, 'batchDims') ?? 0) !== 0) return undefined;
    const axis = tf.util.parseAxisParam(attr<number>(args, 'axis'), x.shape)[0]!;
    const outShape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
    const out = args.backend.makeOutput(outShape, x.dtype);
    args.backend.addon.gather(args.backend.ptr(x), args.backend.ptr(indices), args.backend.ptr(out), sizeOf(x.shape.slice(0, axis)), x.shape[axis]!, sizeOf(x.shape.slice(axis + 1)), sizeOf(indices.shape));
    return out;
  },
  OneHot: (args) => {
    const indices = input(args, 'indices');
    const depth = attr<number>(args, 'depth');
    const dtype = attr<tf.DataType>(args, 'dtype') ?? 'int32';
    if (indices.dtype !== 'int32' || (dtype !== 'float32' && dtype !== 'int32')) return undefined;
    const out = args.backend.makeOutput([...indices.shape, depth], dtype);
    const bits = (v: number) => {
      const view = new DataView(new ArrayBuffer(4));
      if (dtype === 'float32') view.setFloat32(0, v, true);
      else view.setInt32(0, v, true);
      return view.getUint32(0, true);
    };
    args.backend.addon.oneHot(args.backend.ptr(indices), args.backend.ptr(out), sizeOf(indices.shape), depth, bits(attr<number>(args, 'onValue') ?? 1), bits(attr<number>(args, 'offValue') ?? 0));
    return out;
  },
};

/** x zero-padded by [before, after] per axis. */
export function padTensor(backend: CudaBackend, x: tf.TensorInfo, paddings: ReadonlyArray<readonly [number, number]>): tf.TensorInfo {
  const outShape = x.shape.map((d, i) => paddings[i]![0] + d + paddings[i]![1]);
  const out = filled(backend, outShape, x.dtype, 0);
  const outStrides = stridesOf(outShape);
  const offset = paddings.reduce((sum, [before], d) => sum + before * outStrides[d]!, 0);
  copyBox(backend, x, 0, stridesOf(x.shape), out, offset, outStrides, [...x.shape]);
  return out;
}

/** The box of `size` at `begin` of x, as a new tensor. */
export function sliceTensor(backend: CudaBackend, x: tf.TensorInfo, begin: readonly number[], size: readonly number[]): tf.TensorInfo {
  const strides = stridesOf(x.shape);
  const out = backend.makeOutput(size, x.dtype);
  copyBox(backend, x, begin.reduce((sum, b, d) => sum + b * strides[d]!, 0), strides, out, 0, stridesOf(size), [...size]);
  return out;
}
