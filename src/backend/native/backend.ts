import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { loadNativeAddon, type NativeAddon } from './addon.js';
import { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL, batchNormTrain, batchNormTrainGrad, patchBatchNormalizationLayer } from './batch_norm.js';
import { avgPool, avgPoolGrad, conv2D, conv2DBackpropFilter, conv2DBackpropInput, fusedConv2D } from './conv.js';
import { addN, BINARY_KERNELS, binaryKernel, fusedBatchNorm, max, mean, sum, UNARY_KERNELS, unaryKernel } from './elementwise.js';
import { installReluGradient, RELU_GRAD_KERNEL, reluGrad } from './gradients.js';
import { NATIVE_BACKEND, type KernelContext, type NativeKernelFactory } from './kernel_util.js';
import { batchMatMul, fusedMatMul } from './matmul.js';

/**
 * The CPU backend with its hot kernels replaced by the addon's. Tensors stay the CPU backend's typed
 * arrays, so every kernel not listed in NATIVE_KERNELS is the CPU backend's own, unchanged.
 */
export class NativeBackend extends MathBackendCPU {
  constructor() {
    super();
    // MathBackendCPU prints a "use tfjs-node" hint on first use; it does not apply to this backend.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }
}

/** Kernels that run in the addon (float32; other dtypes and layouts fall back to the CPU kernel). */
export const NATIVE_KERNELS: Record<string, NativeKernelFactory> = {
  Conv2D: conv2D,
  FusedConv2D: fusedConv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  AvgPool: avgPool,
  AvgPoolGrad: avgPoolGrad,
  BatchMatMul: batchMatMul,
  _FusedMatMul: fusedMatMul,
  FusedBatchNorm: fusedBatchNorm,
  AddN: addN,
  Sum: sum,
  Mean: mean,
  Max: max,
  ...Object.fromEntries(Object.entries(BINARY_KERNELS).map(([name, op]) => [name, binaryKernel(name, op)])),
  ...Object.fromEntries(Object.entries(UNARY_KERNELS).map(([name, op]) => [name, unaryKernel(name, op)])),
};

/** Kernels of our own (no cpu counterpart). */
const EXTRA_KERNELS: Record<string, NativeKernelFactory> = {
  [RELU_GRAD_KERNEL]: reluGrad,
  [BN_TRAIN_KERNEL]: batchNormTrain,
  [BN_TRAIN_GRAD_KERNEL]: batchNormTrainGrad,
};

let registered = false;

/** Registers the `native` tfjs backend and its kernels (once); throws if the addon is unavailable. */
export function registerNativeBackend(): NativeAddon {
  const addon = loadNativeAddon();
  if (registered) return addon;
  const cpuKernels = new Map(tf.getKernelsForBackend('cpu').map((config) => [config.kernelName, config]));
  const missing = Object.keys(NATIVE_KERNELS).filter((name) => !cpuKernels.has(name));
  if (missing.length > 0) throw new Error(`tfjs-backend-cpu lacks kernels the native backend replaces: ${missing.join(', ')}`);
  const context: KernelContext = { addon, cpuKernel: (name) => cpuKernels.get(name)?.kernelFunc };
  // Priority 0, below cpu's 1: tfjs never picks this backend unless asked by name.
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(), 0);
  for (const config of cpuKernels.values()) {
    if (Object.hasOwn(NATIVE_KERNELS, config.kernelName)) continue;
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND });
  }
  for (const [kernelName, factory] of Object.entries({ ...NATIVE_KERNELS, ...EXTRA_KERNELS })) {
    tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND, kernelFunc: factory(context) });
  }
  installReluGradient();
  patchBatchNormalizationLayer();
  registered = true;
  return addon;
}
