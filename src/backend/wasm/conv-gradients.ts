import {
  backend_util,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Scratch, stockKernels, WASM } from './kernel-utils.js';

/**
 * Convolution-gradient kernels for the `wasm` backend, built from its fast (XNNPACK) forward Conv2D.
 *
 * tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel at all (training any conv net fails) and its
 * Conv2DBackpropInput is a plain C++ loop, about 10× slower than the forward conv (2–4 against 20–40
 * GFLOP/s on our CPUs; scripts/bench-wasm-kernels.ts measures both).
 * Both gradients are convolutions themselves, so we rewrite them as forward convolutions (NHWC, filters
 * [kh, kw, in, out]; `s` the stride, `p` the forward padding):
 *
 *  - filter gradient: dW[a,b,ci,co] = Σ_{n,i,j} x[n, s·i+a−p, s·j+b−p, ci] · dy[n,i,j,co]. That is a
 *    stride-1 convolution of x with dy in which x's channel axis plays the batch, the batch axis plays the
 *    channels, dy is the (Ho×Wo) filter and the forward stride becomes its dilation.
 *  - input gradient: dx = full convolution of dy with the filter rotated by 180° spatially and its in/out
 *    channel axes swapped. For s > 1 the textbook form convolves dy with (s − 1) zeros inserted between
 *    its rows and columns, wasting (s² − 1)/s² of the multiplications; we split dx instead into its s²
 *    phases (rows h with (h + p) mod s fixed, likewise columns), each of which is a stride-1 convolution
 *    of the plain dy with a subset of the filter taps, and interleave the results.
 *
 * Only dilation 1 is handled, as tfjs-core's conv2d gradient itself refuses dilated convolutions; NCHW
 * (which the wasm forward Conv2D refuses too) falls back to the stock input-gradient kernel.
 *
 * Intermediates are TensorInfos made by the backend's own kernels (or filled here on the wasm heap);
 * each is released with backend.disposeData before returning, so the engine only ever sees the output.
 */

type Pads = { top: number; bottom: number; left: number; right: number };

/**
 * Stride-1 NHWC convolution of x with filter, with explicit (possibly negative) spatial padding and a
 * filter dilation. Negative padding means cropping x, which XNNPACK cannot do, so we slice first.
 * The result is a fresh tensor the caller owns (not kept in scratch).
 */
function convolve(scratch: Scratch, x: TensorInfo, filter: TensorInfo, pads: Pads, dilations: [number, number]): TensorInfo {
  const k = stockKernels();
  let input = x;
  const crop = { top: Math.max(0, -pads.top), bottom: Math.max(0, -pads.bottom), left: Math.max(0, -pads.left), right: Math.max(0, -pads.right) };
  if (crop.top || crop.bottom || crop.left || crop.right) {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    input = scratch.run(k.slice, { x }, {
      begin: [0, crop.top, crop.left, 0],
      size: [n, h - crop.top - crop.bottom, w - crop.left - crop.right, c],
    });
  }
  const pad = [
    [0, 0],
    [Math.max(0, pads.top), Math.max(0, pads.bottom)],
    [Math.max(0, pads.left), Math.max(0, pads.right)],
    [0, 0],
  ];
  return k.conv2D({
    inputs: { x: input, filter },
    backend: scratch.backend,
    attrs: { strides: [1, 1], pad, dataFormat: 'NHWC', dilations, dimRoundingMode: undefined } as unknown as NamedAttrMap,
  }) as TensorInfo;
}

/** Writes the transpose of the rows × cols matrix at src[srcOffset…] to dst[dstOffset…], tile by tile. */
function transposeMatrix(src: Float32Array, srcOffset: number, dst: Float32Array, dstOffset: number, rows: number, cols: number): void {
  const TILE = 32; // 2 × 4 KiB: both tiles stay in L1 while one is read by rows and written by columns
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        const from = srcOffset + r * cols;
        for (let c = c0; c < c1; c++) dst[dstOffset + c * rows + r] = src[from + c]!;
      }
    }
  }
}

/**
 * The filter taps one output phase of the input gradient uses, as a forward-convolution filter
 * [tapsH, tapsW, Co, Ci]: the taps a = phaseH + strideH·m (m < tapsH), likewise along the width, in
 * reverse order (the 180° rotation), each tap's [Ci, Co] matrix transposed (in/out channels swapped).
 * Done here in one pass: the stock Transpose and Reverse kernels take ~10 and ~45 ns per element on
 * a 3×3×512×512 filter, several times the whole convolution's cost per filter element at batch 16.
 */
function phaseFilter(
  scratch: Scratch,
  filter: TensorInfo,
  phaseH: number,
  phaseW: number,
  tapsH: number,
  tapsW: number,
  strideH: number,
  strideW: number,
): TensorInfo {
  const [, kw, ci, co] = filter.shape as [number, number, number, number];
  const block = ci * co;
  const out = scratch.keep(scratch.backend.makeOutput([tapsH, tapsW, co, ci], 'float32'));
  // Views only after every allocation: growing the wasm heap detaches older views.
  const src = scratch.backend.typedArrayFromHeap(filter) as Float32Array;
  const dst = scratch.backend.typedArrayFromHeap(out) as Float32Array;
  for (let m = 0; m < tapsH; m++) {
    const a = phaseH + strideH * (tapsH - 1 - m);
    for (let n = 0; n < tapsW; n++) {
      const b = phaseW + strideW * (tapsW - 1 - n);
      transposeMatrix(src, (a * kw + b) * block, dst, (m * tapsW + n) * block, ci, co);
    }
  }
  return out;
}

/**
 * One axis of the polyphase split of the input gradient. Input rows h with (h + padBefore) mod stride
 * = phase only receive the filter taps a ≡ phase (mod stride); for them dx[h] = Σ_m dy[q − m]·w[phase +
 * stride·m] with q = (h + padBefore − phase) / stride: a stride-1 convolution of dy. Returns the taps
 * count, the first q (q0), how many rows the phase has, and the convolution's padding along the axis.
 */
function phaseAxis(phase: number, stride: number, filterSize: number, padBefore: number, inSize: number, outSize: number) {
  const taps = phase < filterSize ? Math.ceil((filterSize - phase) / stride) : 0;
  const q0 = Math.ceil((padBefore - phase) / stride);
  const rows = Math.floor((inSize - 1 + padBefore - phase) / stride) - q0 + 1;
  const before = taps - 1 - q0;
  const after = rows + taps - 1 - outSize - before;
  return { taps, q0, rows, before, after };
}

function convInfoFor(inShape: number[], filterShape: number[], attrs: Conv2DBackpropFilterAttrs | Conv2DBackpropInputAttrs): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
}

function conv2DBackpropFilter(args: { inputs: { x?: TensorInfo; dy?: TensorInfo }; backend: unknown; attrs: unknown }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const attrs = args.attrs as Conv2DBackpropFilterAttrs;
  const { x, dy } = args.inputs;
  if (!x || !dy) throw new Error('Conv2DBackpropFilter needs inputs x and dy');
  if (attrs.dataFormat === 'NCHW') throw new Error("wasm Conv2DBackpropFilter supports only dataFormat 'NHWC'");
  const info = convInfoFor(x.shape, attrs.filterShape, attrs);
  const k = stockKernels();
  const scratch = new Scratch(backend);
  try {
    const pads: Pads = {
      top: info.padInfo.top,
      left: info.padInfo.left,
      bottom: (info.outHeight - 1) * info.strideHeight + info.filterHeight - info.inHeight - info.padInfo.top,
      right: (info.outWidth - 1) * info.strideWidth + info.filterWidth - info.inWidth - info.padInfo.left,
    };
    // Rows/columns of x no window reaches (negative padding, e.g. 1×1 stride 2 on an even size) are cut
    // here, while x is NHWC and the cut moves whole rows, rather than inside convolve on the transpose.
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const crop = { top: Math.max(0, -pads.top), bottom: Math.max(0, -pads.bottom), left: Math.max(0, -pads.left), right: Math.max(0, -pads.right) };
    const cropped =
      crop.top || crop.bottom || crop.left || crop.right
        ? scratch.run(k.slice, { x }, { begin: [0, crop.top, crop.left, 0], size: [n, h - crop.top - crop.bottom, w - crop.left - crop.right, c] })
        : x;
    const kept: Pads = { top: pads.top + crop.top, bottom: pads.bottom + crop.bottom, left: pads.left + crop.left, right: pads.right + crop.right };
    const xT = scratch.run(k.transpose, { x: cropped }, { perm: [3, 1, 2, 0] }); // [Ci, H, W, N]
    const dyT = scratch.run(k.transpose, { x: dy }, { perm: [1, 2, 0, 3] }); // [Ho, Wo, N, Co]
    const grad = scratch.keep(convolve(scratch, xT, dyT, kept, [info.strideHeight, info.strideWidth])); // [Ci, kh, kw, Co]
    return k.transpose({ inputs: { x: grad }, backend, attrs: { perm: [1, 2, 0, 3] } }) as TensorInfo;
  } finally {
    scratch.dispose();
  }
}

function conv2DBackpropInput(args: { inputs: { dy?: TensorInfo; filter?: TensorInfo }; backend: unknown; attrs: unknown }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const attrs = args.attrs as Conv2DBackpropInputAttrs;
  const { dy, filter } = args.inputs;
  if (!dy || !filter) throw new Error('Conv2DBackpropInput needs inputs dy and filter');
  const k = stockKernels();
  if (attrs.dataFormat === 'NCHW') {
    if (!k.conv2DBackpropInput) throw new Error("wasm Conv2DBackpropInput supports only dataFormat 'NHWC'");
    return k.conv2DBackpropInput(args as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  const info = convInfoFor(attrs.inputShape, filter.shape, attrs);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const scratch = new Scratch(backend);
  try {
    const phaseConv = (phaseH: number, phaseW: number) => {
      const rows = phaseAxis(phaseH, strideHeight, filterHeight, info.padInfo.top, inHeight, outHeight);
      const cols = phaseAxis(phaseW, strideWidth, filterWidth, info.padInfo.left, inWidth, outWidth);
      if (rows.taps === 0 || cols.taps === 0 || rows.rows <= 0 || cols.rows <= 0) return undefined; // these dx entries are 0
      const taps = phaseFilter(scratch, filter, phaseH, phaseW, rows.taps, cols.taps, strideHeight, strideWidth);
      const pads = { top: rows.before, bottom: rows.after, left: cols.before, right: cols.after };
      return { rows, cols, out: convolve(scratch, dy, taps, pads, [1, 1]) };
    };
    if (strideHeight === 1 && strideWidth === 1) return phaseConv(0, 0)!.out; // one phase: dx itself
    // Stride > 1: one small convolution per phase (no multiplications by inserted zeros), interleaved.
    const dx = backend.makeOutput([batchSize, inHeight, inWidth, inChannels], 'float32');
    try {
      const parts = [];
      for (let phaseH = 0; phaseH < strideHeight; phaseH++) {
        for (let phaseW = 0; phaseW < strideWidth; phaseW++) {
          const part = phaseConv(phaseH, phaseW);
          if (part) parts.push({ ...part, out: scratch.keep(part.out), phaseH, phaseW });
        }
      }
      const dst = backend.typedArrayFromHeap(dx) as Float32Array;
      dst.fill(0);
      const c = inChannels;
      for (const { rows, cols, out, phaseH, phaseW } of parts) {
        const src = backend.typedArrayFromHeap(out) as Float32Array;
        for (let n = 0; n < batchSize; n++) {
          for (let t = 0; t < rows.rows; t++) {
            const h = strideHeight * (rows.q0 + t) + phaseH - info.padInfo.top;
            const srcRow = ((n * rows.rows + t) * cols.rows) * c;
            const dstRow = (n * inHeight + h) * inWidth;
            for (let u = 0; u < cols.rows; u++) {
              const w = strideWidth * (cols.q0 + u) + phaseW - info.padInfo.left;
              const from = srcRow + u * c;
              dst.set(src.subarray(from, from + c), (dstRow + w) * c);
            }
          }
        }
      }
      return dx;
    } catch (error) {
      backend.disposeData(dx.dataId);
      throw error;
    }
  } finally {
    scratch.dispose();
  }
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: WASM,
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: WASM,
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
