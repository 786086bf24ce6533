import { Tile, util, type KernelConfig, type KernelFunc, type TensorInfo, type TileAttrs } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { stockKernels, WASM } from './kernel-utils.js';

/**
 * Tile for the `wasm` backend by block copies.
 *
 * tfjs-core's BatchNorm gradient tiles 1/√(var+ε) to the full activation shape, and the stock wasm Tile
 * computes every output element's source index (~30 ms per ResNet-18 activation on our CPUs): 12 % of a
 * training step. Here each axis, innermost first, is built once and then doubled with copyWithin
 * (a memmove), so a tile costs about one write of its output.
 */
function tile(args: { inputs: { x?: TensorInfo }; backend: unknown; attrs: unknown }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { reps } = args.attrs as unknown as TileAttrs;
  const x = args.inputs.x;
  if (!x) throw new Error('Tile needs input x');
  if (x.dtype === 'string' || x.dtype === 'complex64' || x.shape.length === 0) {
    return stockKernels().tile(args as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  const inShape = x.shape;
  const outShape = inShape.map((size, axis) => size * reps[axis]!);
  const out = backend.makeOutput(outShape, x.dtype);
  if (util.sizeFromShape(outShape) === 0) return out;
  // Views only after the allocation: growing the wasm heap detaches older views.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const rank = inShape.length;
  const inStrides = [...util.computeStrides(inShape), 1];
  const outStrides = [...util.computeStrides(outShape), 1];

  // Writes x's slice at srcOffset (axes >= axis) to dstOffset, tiled along those axes.
  const fill = (axis: number, srcOffset: number, dstOffset: number): void => {
    const size = inShape[axis]!;
    if (axis === rank - 1) {
      dst.set(src.subarray(srcOffset, srcOffset + size), dstOffset);
    } else {
      for (let i = 0; i < size; i++) fill(axis + 1, srcOffset + i * inStrides[axis]!, dstOffset + i * outStrides[axis]!);
    }
    const block = size * outStrides[axis]!;
    const total = block * reps[axis]!;
    for (let filled = block; filled < total; ) {
      const length = Math.min(filled, total - filled);
      dst.copyWithin(dstOffset + filled, dstOffset, dstOffset + length);
      filled += length;
    }
  };
  fill(0, 0, 0);
  return out;
}

export const tileConfig: KernelConfig = { kernelName: Tile, backendName: WASM, kernelFunc: tile as unknown as KernelFunc };
