import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from './addon.js';

/** The tfjs name of the backend; kernels copied from `cpu` run on it unchanged. */
export const NATIVE_BACKEND = 'native';

export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** What every native kernel gets: the addon, and the CPU kernel to run where native code does not apply. */
export interface KernelContext {
  readonly addon: NativeAddon;
  /** The `cpu` backend's kernel of that name (undefined where cpu has none). */
  cpuKernel(name: string): tf.KernelFunc | undefined;
}

export type NativeKernelFactory = (context: KernelContext) => tf.KernelFunc;

export function cpuBackendOf(args: KernelArgs): MathBackendCPU {
  return args.backend as MathBackendCPU;
}

/** The float32 values of a tensor, or undefined if it is not a plain float32 tensor. */
export function floatValues(backend: MathBackendCPU, tensor: tf.TensorInfo | undefined): Float32Array | undefined {
  if (!tensor || tensor.dtype !== 'float32') return undefined;
  const values = backend.data.get(tensor.dataId).values;
  return values instanceof Float32Array ? values : undefined;
}

/** What NativeBackend adds for kernels: output arrays whose memory it frees when their tensors go. */
export interface OutputAllocator {
  allocateFloat32(size: number): Float32Array;
}

/** A new float32 output array for a kernel of the native backend (contents undefined: fill it all). */
export function allocFloat32(backend: MathBackendCPU, size: number): Float32Array {
  const allocator = backend as unknown as Partial<OutputAllocator>;
  return allocator.allocateFloat32 ? allocator.allocateFloat32(size) : new Float32Array(size);
}

export function makeFloatOutput(backend: MathBackendCPU, shape: number[], values: Float32Array): tf.TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values);
}

export function sizeOf(shape: readonly number[]): number {
  let size = 1;
  for (const dim of shape) size *= dim;
  return size;
}

/**
 * Wraps a native kernel so that it runs the CPU kernel of the same name whenever it returns
 * undefined (a dtype, layout or attribute the native code does not cover).
 */
export function withFallback(name: string, context: KernelContext, native: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] | undefined): tf.KernelFunc {
  const fallback = context.cpuKernel(name);
  return (args) => {
    const result = native(args);
    if (result !== undefined) return result;
    if (!fallback) throw new Error(`native backend: no kernel for ${name} with these inputs`);
    return fallback(args);
  };
}
