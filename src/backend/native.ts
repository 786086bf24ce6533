import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerNativeBackend } from './native/backend.js';
import { NATIVE_BACKEND } from './native/kernel-util.js';
import type { NativeInfo } from './native/addon.js';

/**
 * The `native` backend: tfjs's CPU backend with convolutions, matrix products, pooling, BatchNorm,
 * ReLU and the element-wise and reduction kernels of a training step running in a C++ addon over
 * oneDNN (native/), on all cores. Optional: where the addon is not built, activation throws a one-line
 * reason and `auto` moves on to wasm.
 */
export async function activateNative(): Promise<string> {
  registerNativeBackend();
  const ok = await tf.setBackend(NATIVE_BACKEND);
  if (!ok) throw new Error('tfjs could not initialize the native backend');
  await tf.ready();
  return NATIVE_BACKEND;
}

/** Sets the addon's thread count (oneDNN's and the element-wise kernels'); default: all cores. */
export function setNativeThreads(threads: number): void {
  registerNativeBackend().setNumThreads(threads);
}

/** oneDNN version, instruction set, threads and the primitives created so far. */
export function nativeInfo(): NativeInfo {
  return registerNativeBackend().info();
}

export { NATIVE_BACKEND };
