import { engine, getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig, conv2DBackpropInputConfig } from './conv-gradients.js';
import { captureStockKernels, WASM } from './kernel-utils.js';
import { tileConfig } from './tile.js';

/** Kernels we add to, or replace in, tfjs-backend-wasm for training. */
const TRAINING_KERNELS: KernelConfig[] = [conv2DBackpropFilterConfig, conv2DBackpropInputConfig, tileConfig];

/**
 * Registers our training kernels for the `wasm` backend. Idempotent. Call once the backend is
 * initialized (`await tf.setBackend('wasm')`): initialization runs the setup functions (which bind the
 * WebAssembly exports) of the kernels registered at that moment, and the stock kernels we replace but
 * still fall back to must have had theirs.
 */
export function registerWasmTrainingKernels(): void {
  if (!(WASM in engine().registry)) throw new Error('initialize the wasm backend before registering its training kernels');
  captureStockKernels();
  for (const config of TRAINING_KERNELS) {
    if (getKernel(config.kernelName, WASM)?.kernelFunc === config.kernelFunc) continue;
    // registerKernel warns when a name is taken; replacing the stock entry is the point.
    if (getKernel(config.kernelName, WASM)) unregisterKernel(config.kernelName, WASM);
    registerKernel(config);
  }
}
