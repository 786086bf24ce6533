import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The compiled addon (native/, built by scripts/build-native.mjs into native/build/Release). Every
 * function works on the tfjs CPU backend's NHWC float32 arrays in place: outputs are arrays the caller
 * allocated, so tensors stay ordinary typed arrays that every other CPU kernel can read.
 */
export interface NativeAddon {
  /** shape: [n, h, w, c, k, r, s, oh, ow, strideH, strideW, dilationH, dilationW, padTop, padBottom, padLeft, padRight] */
  conv2d(x: Float32Array, filter: Float32Array, bias: Float32Array | null, y: Float32Array, shape: number[], relu: boolean): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, shape: number[]): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dfilter: Float32Array, shape: number[]): void;
  /** shape: [n, h, w, c, oh, ow, kh, kw, strideH, strideW, padTop, padBottom, padLeft, padRight] */
  avgPool(x: Float32Array, y: Float32Array, shape: number[]): void;
  avgPoolGrad(dy: Float32Array, dx: Float32Array, shape: number[]): void;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, batchA: number, batchB: number, m: number, n: number, k: number, transposeA: boolean, transposeB: boolean): void;
  binary(op: number, a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], out: Float32Array, outShape: number[]): void;
  unary(op: number, x: Float32Array, y: Float32Array, alpha?: number): void;
  /** dx = y > 0 ? dy : 0, from ReLU's output y. */
  reluGrad(dy: Float32Array, y: Float32Array, dx: Float32Array): void;
  /** torch.optim.SGD for n tensors: five arrays of n Float32Arrays (tensor i's five of one length). */
  sgdMomentum(
    params: Float32Array[],
    grads: Float32Array[],
    buffers: Float32Array[],
    paramsOut: Float32Array[],
    buffersOut: Float32Array[],
    lr: number,
    momentum: number,
    weightDecay: number,
    firstStep: boolean,
  ): void;
  /** op 0: out = scale · Σ over the middle axis of x viewed as [outer, reduce, inner]; op 1: max. */
  reduce(op: number, x: Float32Array, outer: number, reduce: number, inner: number, out: Float32Array, scale: number): void;
  batchNorm(x: Float32Array, channels: number, mean: Float32Array, variance: Float32Array, offset: Float32Array | null, scale: Float32Array | null, epsilon: number, y: Float32Array): void;
  batchNormTrain(x: Float32Array, channels: number, gamma: Float32Array | null, beta: Float32Array | null, epsilon: number, y: Float32Array, mean: Float32Array, variance: Float32Array): void;
  batchNormTrainGrad(x: Float32Array, dy: Float32Array, channels: number, gamma: Float32Array | null, mean: Float32Array, variance: Float32Array, epsilon: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array): void;
  /** Offsets and strides in elements; copies box[0]×…×box[r−1] elements from src to dst. */
  copyBox(src: Float32Array, srcOffset: number, srcStrides: number[], dst: Float32Array, dstOffset: number, dstStrides: number[], box: number[]): void;
  /** Frees an ArrayBuffer's memory now (every view of it becomes empty). */
  detach(buffer: ArrayBuffer): void;
  setNumThreads(threads: number): void;
  info(): NativeInfo;
  /** Frees cached primitives and scratch buffers (they are rebuilt on the next call). */
  releaseCaches(): void;
}

export interface NativeInfo {
  onednn: string;
  /** The instruction set oneDNN's kernels use, e.g. avx2 or avx512_core. */
  isa: string;
  threads: number;
  cachedPrimitives: number;
  scratchBytes: number;
  /** One line per primitive created: its shape key and the implementation oneDNN chose. */
  primitives: string;
}

/** Binary op codes of `binary` (native/src/elementwise.h). */
export const BinaryOp = { Add: 0, Sub: 1, Mul: 2, Div: 3, SquaredDifference: 4, Maximum: 5, Minimum: 6 } as const;
/** Unary op codes of `unary`. */
export const UnaryOp = {
  Relu: 0,
  Step: 1,
  Neg: 2,
  Square: 3,
  Sqrt: 4,
  Rsqrt: 5,
  Exp: 6,
  Log: 7,
  Reciprocal: 8,
  Abs: 9,
  Relu6: 10,
  Sigmoid: 11,
} as const;

/** Where the build puts the addon; INFOBATCH_NATIVE_ADDON overrides it. Same depth from src/ and dist/. */
export const ADDON_PATH = process.env.INFOBATCH_NATIVE_ADDON ?? fileURLToPath(new URL('../../../native/build/Release/infobatch_native.node', import.meta.url));

export const NATIVE_HINT = 'install oneDNN (apt-get install libdnnl-dev, or brew install onednn libomp) and run `npm run build:native`';

let loaded: NativeAddon | undefined;

/** Loads the addon once; throws an Error whose message is one line saying why it is unavailable. */
export function loadNativeAddon(): NativeAddon {
  if (loaded) return loaded;
  if (!existsSync(ADDON_PATH)) throw new Error(`the native addon is not built; ${NATIVE_HINT}`);
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
    throw new Error(`the native addon does not load (${reason}); ${NATIVE_HINT}`);
  }
  return loaded;
}
