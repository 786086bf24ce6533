import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Precision } from '../../config.js';
import type { CudaLibraries } from './libraries.js';

/**
 * The compiled cuda addon (native/cuda, built by scripts/build-cuda.mjs). Device buffers are addresses
 * (numbers) of 4-byte elements: float32, or int32 (tfjs int32, and bool as 0/1); a float32 tensor's buffer
 * may instead hold bfloat16 (2 bytes), which the calls that take a `bf16` mask read and write: bit k set
 * means the k-th of the buffers named in that call's comment is bfloat16. Every call enqueues on the
 * addon's one stream and returns at once; only readSync, synchronize and elapsedMs wait.
 */
export interface CudaAddon {
  /** Works without init and without a GPU: what the driver reports. */
  probe(): { deviceCount: number; driverVersion: number; runtimeVersion: number; error?: string };
  /** The first call sets the addon up (later ones only report); `allocator` is an ALLOCATORS code (default auto). */
  init(options: CudaLibraries & { device: number; allocator?: number }): CudaDeviceInfo;
  /** A PRECISION_CODES value: fp32 (no TF32), tf32, bf16 (convolutions and matmuls); throws where the GPU cannot. */
  setPrecision(mode: number): void;
  malloc(bytes: number): number;
  free(ptr: number): void;
  upload(ptr: number, values: Float32Array | Int32Array): void;
  copyDevice(dst: number, src: number, bytes: number): void;
  /** Copies out.byteLength bytes (a Uint16Array for bfloat16 buffers). */
  readSync(ptr: number, out: Float32Array | Int32Array | Uint16Array): void;
  readAsync(ptr: number, bytes: number): Promise<ArrayBuffer>;
  /** Writes `bits` (a float32's or int32's bit pattern) to n elements. */
  fill(ptr: number, n: number, bits: number): void;
  /** bf16 (float32 only): x, y. */
  unary(op: number, dtype: number, x: number, y: number, n: number, alpha: number, beta: number, bf16: number): void;
  /** bf16 (float32 only): a, b, out (never a comparison's out, which is int32). */
  binary(op: number, dtype: number, a: number, b: number, out: number, outShape: number[], aStrides: number[], bStrides: number[], bf16: number): void;
  /** out = condition ? a : b per element; inner > 1: a rank-1 condition over the first axis of a. */
  select(condition: number, a: number, b: number, out: number, n: number, inner: number): void;
  /** DTYPE codes; bfloat16 only to or from float32. */
  cast(from: number, to: number, toBool: boolean, x: number, y: number, n: number): void;
  copyStrided(src: number, srcOffset: number, srcStrides: number[], srcModulo: number[] | null, dst: number, dstOffset: number, dstStrides: number[], shape: number[]): void;
  /** out [batch, cols, rows] = x [batch, rows, cols], 4-byte elements, tiled through shared memory. */
  batchedTranspose(x: number, out: number, batch: number, rows: number, cols: number): void;
  reduce(op: number, dtype: number, x: number, out: number, outer: number, reduce: number, inner: number, scale: number): void;
  argReduce(isMax: boolean, dtype: number, x: number, out: number, outer: number, reduce: number, inner: number): void;
  oneHot(indices: number, out: number, n: number, depth: number, onBits: number, offBits: number): void;
  gather(x: number, indices: number, out: number, outer: number, axisSize: number, inner: number, m: number): void;
  softmax(x: number, y: number, rows: number, cols: number, logSoftmax: boolean): void;
  /** params: n h w c oh ow kh kw strideH strideW padTop padLeft */
  avgPool(x: number, y: number, params: number[]): void;
  avgPoolGrad(dy: number, dx: number, params: number[]): void;
  /** Same params; the gradient sends each dy to the first maximum of its window (row-major), as tfjs's cpu. */
  maxPool(x: number, y: number, params: number[]): void;
  maxPoolGrad(x: number, dy: number, dx: number, params: number[]): void;
  /** shape: n h w c k kh kw oh ow strideH strideW padH padW (symmetric padding); filters HWIO, always
   *  float32 (as their gradient). bf16: x, (filter), y. */
  conv2d(x: number, filter: number, y: number, shape: number[], bf16: number): void;
  /** bf16: dy, (filter), dx. */
  conv2dBackpropInput(dy: number, filter: number, dx: number, shape: number[], bf16: number): void;
  /** bf16: x, dy. */
  conv2dBackpropFilter(x: number, dy: number, dfilter: number, shape: number[], bf16: number): void;
  matmul(a: number, b: number, c: number, batchA: number, batchB: number, m: number, n: number, k: number, transposeA: boolean, transposeB: boolean): void;
  /** y = relu?(bn(x) + residual?), residual 0 for none; the batch statistics (variance biased), and the
   *  running statistics moved by `momentum` (the running variance towards the unbiased batch variance),
   *  written to new buffers. bf16: x, residual, y. */
  batchNormTrain(x: number, gamma: number, beta: number, runningMean: number, runningVar: number, y: number, mean: number, variance: number,
    runningMeanOut: number, runningVarOut: number, rows: number, channels: number, epsilon: number, momentum: number, residual: number, relu: boolean, bf16: number): void;
  /** bf16: x, dy, dx. */
  batchNormTrainGrad(x: number, dy: number, gamma: number, mean: number, variance: number, dx: number, dgamma: number, dbeta: number, rows: number, channels: number, epsilon: number, bf16: number): void;
  /** offset and scale may be 0 (none). bf16: x, y. */
  batchNormInference(x: number, mean: number, variance: number, offset: number, scale: number, y: number, rows: number, channels: number, epsilon: number, bf16: number): void;
  /** pointers: [param, grad, buffer, paramOut, bufferOut] per tensor; sizes: elements per tensor. */
  sgdMomentum(pointers: Float64Array, sizes: Float64Array, lr: number, momentum: number, weightDecay: number, firstStep: boolean): void;
  stats(): CudaStats;
  resetPeak(): void;
  synchronize(): void;
  markTime(): number;
  elapsedMs(from: number, to: number): number;
  clearTimes(): void;
  convAlgorithms(): string;
  /** Convolution layouts: 0 the faster of NHWC and NCHW per shape (fp32/tf32; bf16 stays NHWC), 1 NHWC, 2 NCHW. */
  setConvLayout(mode: number): void;
  releaseCaches(): void;
}

export interface CudaDeviceInfo {
  name: string;
  computeCapability: string;
  multiprocessors: number;
  memoryBytes: number;
  /** CUDA versions as the API encodes them: 13000 = 13.0. */
  driverVersion: number;
  runtimeVersion: number;
  /** e.g. 91002 = 9.10.2 */
  cudnnVersion: number;
  cublasVersion: number;
  /** The device allocator in use: "CUDA memory pool" or "caching allocator on cudaMalloc". */
  allocator: string;
  /** Where auto fell back from the pool: why the pool could not be used. */
  poolUnavailable?: string;
}

export interface CudaStats {
  /** Kernels and library calls enqueued since start (host↔device copies counted apart). */
  dispatches: number;
  uploads: number;
  downloads: number;
  bytesInUse: number;
  bytesReserved: number;
  peakBytesInUse: number;
  pinnedBytes: number;
  /** Filters kept in cuDNN's layout (and precision), one per filter buffer, layout and precision in use. */
  preparedFilters: number;
  deviceFreeBytes: number;
  deviceTotalBytes: number;
}

/** Codes shared with native/cuda/src/kernels.h. */
export const DTYPE = { float32: 0, int32: 1, bfloat16: 2 } as const;
export const UNARY = {
  Relu: 0, Relu6: 1, Step: 2, Neg: 3, Square: 4, Sqrt: 5, Rsqrt: 6, Exp: 7, Log: 8, Reciprocal: 9, Abs: 10, Sigmoid: 11, Tanh: 12,
  Log1p: 13, Floor: 14, Ceil: 15, LeakyRelu: 16, Elu: 17, Softplus: 18, ClipByValue: 19, LogicalNot: 20, Sign: 21, Expm1: 22,
  Round: 23, Sin: 24, Cos: 25,
} as const;
export const BINARY = {
  Add: 0, Sub: 1, Mul: 2, Div: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6, Pow: 7, Equal: 8, NotEqual: 9, Greater: 10,
  GreaterEqual: 11, Less: 12, LessEqual: 13, LogicalAnd: 14, LogicalOr: 15, ReluGradFromOutput: 16, FloorDiv: 17, Mod: 18,
  EluGrad: 20,
} as const;
export const REDUCE = { Sum: 0, Max: 1, Min: 2, Prod: 3, Any: 4, All: 5 } as const;
/** setPrecision's modes, by --precision. */
export const PRECISION_CODES: Record<Precision, number> = { fp32: 0, tf32: 1, bf16: 2 };
/** setConvLayout's modes, by the names $INFOBATCH_CUDA_CONV_LAYOUT takes. */
export const CONV_LAYOUTS = { auto: 0, nhwc: 1, nchw: 2 } as const;

/**
 * init's allocator modes, by the names $INFOBATCH_CUDA_ALLOCATOR takes (native/cuda/src/device_allocator.h):
 * auto takes CUDA's stream-ordered memory pool where it works and our caching allocator on cudaMalloc
 * where it does not (vGPUs, some sandboxes); pool and caching insist on one.
 */
export const ALLOCATORS = { auto: 0, pool: 1, caching: 2 } as const;

/** Where the build puts the addon; INFOBATCH_CUDA_ADDON overrides it. Same depth from src/ and dist/. */
export const CUDA_ADDON_PATH = process.env.INFOBATCH_CUDA_ADDON ?? fileURLToPath(new URL('../../../native/cuda/build/infobatch_cuda.node', import.meta.url));

export const CUDA_BUILD_HINT = 'install the CUDA toolkit (nvcc) and run `npm run build:cuda`';

let loaded: CudaAddon | undefined;

/** Loads the addon once; throws an Error whose message is one line saying why it is unavailable. */
export function loadCudaAddon(): CudaAddon {
  if (loaded) return loaded;
  if (!existsSync(CUDA_ADDON_PATH)) throw new Error(`the cuda addon is not built (${CUDA_ADDON_PATH}); ${CUDA_BUILD_HINT}`);
  try {
    loaded = createRequire(import.meta.url)(CUDA_ADDON_PATH) as CudaAddon;
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
    throw new Error(`the cuda addon does not load (${reason}); ${CUDA_BUILD_HINT}`);
  }
  return loaded;
}

/** Whether an error is the addon's out-of-memory one. */
export function isCudaOutOfMemory(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === 'ERR_CUDA_OUT_OF_MEMORY' || (error instanceof Error && error.message.startsWith('CUDA out of memory'));
}

/** 13000 → "13.0"; 91002 → "9.10.2" (cuDNN 9 encodes major·10000 + minor·100 + patch). */
export function cudaVersionText(version: number): string {
  return `${Math.floor(version / 1000)}.${Math.floor((version % 1000) / 10)}`;
}
export function cudnnVersionText(version: number): string {
  return version >= 90000 ? `${Math.floor(version / 10000)}.${Math.floor((version % 10000) / 100)}.${version % 100}` : String(version);
}
/** cuBLAS encodes major·10000 + minor·100 + patch too (130100 = 13.1.0). */
export const cublasVersionText = cudnnVersionText;
