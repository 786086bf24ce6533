import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { loadNativeAddon, type NativeAddon } from './addon.js';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, FORK, RELU_GRAD, SGD_MOMENTUM } from '../../ops/kernel-names.js';
import { batchNormTrain, batchNormTrainGrad } from './batch-norm.js';
import { fork, padV2, slice } from './copy.js';
import { avgPool, avgPoolGrad, conv2D, conv2DBackpropFilter, conv2DBackpropInput, fusedConv2D } from './conv.js';
import { addN, BINARY_KERNELS, binaryKernel, fusedBatchNorm, max, mean, sum, UNARY_KERNELS, unaryKernel } from './elementwise.js';
import { NATIVE_BACKEND, type KernelContext, type NativeKernelFactory } from './kernel-util.js';
import { batchMatMul, fusedMatMul } from './matmul.js';
import { OwnedArrayPool } from './owned-arrays.js';
import { reluGrad } from './relu-grad.js';
import { sgdMomentum } from './sgd-momentum.js';

/**
 * The CPU backend with its hot kernels replaced by the addon's. Tensors stay the CPU backend's typed
 * arrays, so every kernel not listed in NATIVE_KERNELS is the CPU backend's own, unchanged. Large
 * outputs of native kernels come from an OwnedArrayPool and go back to it when their last dataId is
 * disposed; reads (dataSync, data, bufferSync) of such arrays return copies, so nothing outside the
 * backend holds a view of an array that is later reused or freed.
 */
export class NativeBackend extends MathBackendCPU {
  private readonly arrays: OwnedArrayPool;

  constructor(addon: NativeAddon) {
    super();
    this.arrays = new OwnedArrayPool((buffer) => addon.detach(buffer));
    // MathBackendCPU prints a "use tfjs-node" hint on first use; it does not apply to this backend.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** An output array for a native kernel; its contents are undefined (the kernel writes all of it). */
  allocateFloat32(size: number): Float32Array {
    return this.arrays.allocate(size);
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId {
    const dataId = super.write(values, shape, dtype);
    this.arrays.hold(values);
    return dataId;
  }

  override move(dataId: tf.DataId, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    super.move(dataId, values, shape, dtype, refCount);
    this.arrays.hold(values);
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const released = super.disposeData(dataId, force);
    if (released) this.arrays.drop(values);
    return released;
  }

  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    const values = super.readSync(dataId);
    return this.arrays.isOwned(values) ? (values as Float32Array).slice() : values;
  }

  override async read(dataId: tf.DataId): Promise<tf.backend_util.BackendValues> {
    return this.readSync(dataId);
  }

  override dispose(): void {
    this.arrays.clear();
    super.dispose();
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
  Slice: slice,
  PadV2: padV2,
  Sum: sum,
  Mean: mean,
  Max: max,
  ...Object.fromEntries(Object.entries(BINARY_KERNELS).map(([name, op]) => [name, binaryKernel(name, op)])),
  ...Object.fromEntries(Object.entries(UNARY_KERNELS).map(([name, op]) => [name, unaryKernel(name, op)])),
};

/** Kernels of our training ops (src/ops; no cpu counterpart: elsewhere those ops run composites). */
const OP_KERNELS: Record<string, NativeKernelFactory> = {
  [RELU_GRAD]: reluGrad,
  [BATCH_NORM_TRAIN]: batchNormTrain,
  [BATCH_NORM_TRAIN_GRAD]: batchNormTrainGrad,
  [SGD_MOMENTUM]: sgdMomentum,
  [FORK]: fork,
};

let registered = false;

/**
 * Registers the `native` tfjs backend and its kernels (once); throws if the addon is unavailable. It
 * registers kernels and nothing else: no gradient, layer or other backend changes.
 */
export function registerNativeBackend(): NativeAddon {
  const addon = loadNativeAddon();
  if (registered) return addon;
  const cpuKernels = new Map(tf.getKernelsForBackend('cpu').map((config) => [config.kernelName, config]));
  const missing = Object.keys(NATIVE_KERNELS).filter((name) => !cpuKernels.has(name));
  if (missing.length > 0) throw new Error(`tfjs-backend-cpu lacks kernels the native backend replaces: ${missing.join(', ')}`);
  const context: KernelContext = { addon, cpuKernel: (name) => cpuKernels.get(name)?.kernelFunc };
  // Priority 0, below cpu's 1: tfjs never picks this backend unless asked by name.
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(addon), 0);
  for (const config of cpuKernels.values()) {
    if (Object.hasOwn(NATIVE_KERNELS, config.kernelName)) continue;
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND });
  }
  for (const [kernelName, factory] of Object.entries({ ...NATIVE_KERNELS, ...OP_KERNELS })) {
    tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND, kernelFunc: factory(context) });
  }
  registered = true;
  return addon;
}
