import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig, conv2DBackpropInputConfig } from './conv-gradients.js';
import { captureStockKernels, WASM } from './kernel-utils.js';
import { tileConfig } from './tile.js';

/** Kernels we add to, or replace in, tfjs-backend-wasm for training. */
const TRAINING_KERNELS: KernelConfig[] = [conv2DBackpropFilterConfig, conv2DBackpropInputConfig, tileConfig];

/**
 * Registers our training kernels for the `wasm` backend. Idempotent. Call after importing
 * @tensorflow/tfjs-backend-wasm (its import registers the stock kernels ours build on); before or after
 * the backend is initialized, as none of ours needs a setup function.
 */
export function registerWasmTrainingKernels(): void {
  captureStockKernels();
  for (const config of TRAINING_KERNELS) {
    if (getKernel(config.kernelName, WASM)?.kernelFunc === config.kernelFunc) continue;
    // registerKernel warns when a name is taken; replacing the stock entry is the point.
    if (getKernel(config.kernelName, WASM)) unregisterKernel(config.kernelName, WASM);
    registerKernel(config);
  }
}
