import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { loadNativeAddon, type NativeAddon } from './addon.js';
import { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL, batchNormTrain, batchNormTrainGrad, patchBatchNormalizationLayer } from './batch_norm.js';
import { padV2, slice } from './copy.js';
import { avgPool, avgPoolGrad, conv2D, conv2DBackpropFilter, conv2DBackpropInput, fusedConv2D } from './conv.js';
import { addN, BINARY_KERNELS, binaryKernel, fusedBatchNorm, max, mean, sum, UNARY_KERNELS, unaryKernel } from './elementwise.js';
import { installReluGradient, RELU_GRAD_KERNEL, reluGrad } from './gradients.js';
import { NATIVE_BACKEND, type KernelContext, type NativeKernelFactory } from './kernel_util.js';
import { batchMatMul, fusedMatMul } from './matmul.js';

/** Outputs below this many elements are left to the garbage collector. */
const OWNED_MIN_ELEMENTS = 1 << 16;

/**
 * The CPU backend with its hot kernels replaced by the addon's. Tensors stay the CPU backend's typed
 * arrays, so every kernel not listed in NATIVE_KERNELS is the CPU backend's own, unchanged.
 *
 * Memory: the CPU backend leaves a disposed tensor's array to V8's garbage collector, so a training step
 * keeps touching fresh memory (page faults; RSS twice PyTorch's on ResNet-18). Here the large outputs of
 * native kernels are "owned": counted per dataId that holds them, and freed at once (ArrayBuffer detach)
 * when the last one is disposed, so the next step reuses warm memory, as PyTorch's allocator does. Reads
 * (dataSync, data, bufferSync) of owned arrays return copies, so nothing outside the backend can hold a
 * view that a later detach would empty.
 */
export class NativeBackend extends MathBackendCPU {
  private readonly owned = new WeakSet<ArrayBuffer>();
  private readonly holders = new Map<ArrayBuffer, number>();

  constructor(private readonly addon: NativeAddon) {
    super();
    // MathBackendCPU prints a "use tfjs-node" hint on first use; it does not apply to this backend.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** An output array for a native kernel; uninitialized (Buffer.allocUnsafeSlow skips the zero fill). */
  allocateFloat32(size: number): Float32Array {
    if (size < OWNED_MIN_ELEMENTS) return new Float32Array(size);
    const bytes = Buffer.allocUnsafeSlow(size * 4);
    this.owned.add(bytes.buffer);
    return new Float32Array(bytes.buffer, bytes.byteOffset, size);
  }

  private ownedBuffer(values: unknown): ArrayBuffer | undefined {
    const buffer = (values as { buffer?: unknown } | undefined)?.buffer;
    return buffer instanceof ArrayBuffer && this.owned.has(buffer) ? buffer : undefined;
  }

  private hold(values: unknown): void {
    const buffer = this.ownedBuffer(values);
    if (buffer) this.holders.set(buffer, (this.holders.get(buffer) ?? 0) + 1);
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId {
    const dataId = super.write(values, shape, dtype);
    this.hold(values);
    return dataId;
  }

  override move(dataId: tf.DataId, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    super.move(dataId, values, shape, dtype, refCount);
    this.hold(values);
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const released = super.disposeData(dataId, force);
    const buffer = released ? this.ownedBuffer(values) : undefined;
    if (buffer) {
      const left = (this.holders.get(buffer) ?? 1) - 1;
      if (left > 0) {
        this.holders.set(buffer, left);
      } else {
        this.holders.delete(buffer);
        this.addon.detach(buffer);
      }
    }
    return released;
  }

  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    const values = super.readSync(dataId);
    return this.ownedBuffer(values) ? (values as Float32Array).slice() : values;
  }

  override async read(dataId: tf.DataId): Promise<tf.backend_util.BackendValues> {
    return this.readSync(dataId);
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
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(addon), 0);
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
