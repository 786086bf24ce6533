import * as tf from '@tensorflow/tfjs-core';
import type { Precision } from '../../config.js';
import { DTYPE, PRECISION_CODES, type CudaAddon } from './addon.js';

/**
 * What the backend keeps per dataId: a device buffer of 4-byte elements, or of 2-byte bfloat16 ones for a
 * float32 tensor that --precision bf16 keeps in bf16 (activations and their gradients, see `bf16` below).
 */
interface DeviceData {
  ptr: number;
  size: number;
  dtype: tf.DataType;
  bf16: boolean;
  refCount: number;
}

/** A tensor's buffer as it is stored, for the kernels that read and write bfloat16 themselves. */
export interface StoredTensor {
  readonly ptr: number;
  readonly bf16: boolean;
}

/** float32 values of bfloat16 bit patterns (exact: bf16 is float32's upper half). */
function fromBf16(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i]! << 16;
  return new Float32Array(words.buffer);
}

/** The element type on the device: float32, or int32 for int32 and bool. */
export function deviceType(dtype: tf.DataType): number {
  if (dtype === 'float32') return DTYPE.float32;
  if (dtype === 'int32' || dtype === 'bool') return DTYPE.int32;
  throw new Error(`the cuda backend has no ${dtype} tensors`);
}

function toDeviceValues(values: tf.backend_util.BackendValues, dtype: tf.DataType): Float32Array | Int32Array {
  if (dtype === 'float32') return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
  if (dtype === 'int32') return values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number>);
  if (dtype === 'bool') return Int32Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0));
  throw new Error(`the cuda backend has no ${dtype} tensors`);
}

function fromDeviceValues(buffer: ArrayBuffer, dtype: tf.DataType): tf.backend_util.BackendValues {
  if (dtype === 'float32') return new Float32Array(buffer);
  const ints = new Int32Array(buffer);
  return dtype === 'bool' ? Uint8Array.from(ints) : ints;
}

/**
 * A tfjs backend whose tensors live in GPU memory. Kernels (kernels/*.ts) enqueue work on the addon's
 * stream and return at once; data reaches the host only when read: `read` resolves when its copy has
 * landed without blocking the event loop, `readSync` waits. Buffers come from CUDA's stream-ordered pool
 * and go back to it when their last tensor is disposed.
 *
 * With --precision bf16 the convolutions write their results (activations forward, their gradients
 * backward) as bfloat16, and the kernels that take them — BatchNorm, the element-wise ops — keep bf16
 * where their inputs are, as PyTorch's autocast does: half the memory and traffic of float32. Such a
 * tensor is still float32 to tfjs. A kernel that cannot read bf16 gets a float32 copy through `ptr`
 * (freed after the kernel); reads convert on the host.
 */
export class CudaBackend extends tf.KernelBackend {
  private readonly data: tf.DataStorage<DeviceData>;
  private nextId = 0;
  /** float32 copies of bf16 inputs made for the kernel now running, by the input's buffer (see `ptr`). */
  private readonly kernelCopies = new Map<number, number>();
  /** Kernels that ran on the CPU, and how often (see fallback.ts). */
  readonly fallbacks = new Map<string, number>();
  /** Whether convolutions keep their results in bf16 (--precision bf16, see setPrecision). */
  bf16Activations = false;

  constructor(readonly addon: CudaAddon) {
    super();
    this.data = new tf.DataStorage(this, tf.engine());
  }

  /** The addon's precision, and bf16-stored activations with bf16. */
  setPrecision(precision: Precision): void {
    this.addon.setPrecision(PRECISION_CODES[precision]);
    this.bf16Activations = precision === 'bf16';
  }

  /** A new tensor of `shape` whose contents the caller's kernel writes (all of them); `bf16` (float32
   *  only) stores it as bfloat16, for a kernel that writes through `stored`. */
  makeOutput(shape: readonly number[], dtype: tf.DataType, bf16 = false): tf.TensorInfo {
    const size = tf.util.sizeFromShape(shape as number[]);
    deviceType(dtype);
    if (bf16 && dtype !== 'float32') throw new Error(`cuda backend: only float32 tensors can be stored as bf16, not ${dtype}`);
    const dataId = { id: this.nextId++ };
    this.data.set(dataId, { ptr: this.addon.malloc(size * (bf16 ? 2 : 4)), size, dtype, bf16, refCount: 1 });
    return { dataId, shape: [...shape], dtype };
  }

  /** As MathBackendCPU.makeTensorInfo: with values, uploads them. */
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo {
    if (!values) return this.makeOutput(shape, dtype);
    return { dataId: this.write(values, shape, dtype), shape, dtype };
  }

  /**
   * The device address of a tensor's data as 4-byte elements: for a bf16-stored input, a float32 copy that
   * lives until the running kernel returns (`endKernel`). Kernels that read or write bf16 use `stored`.
   */
  ptr(tensor: tf.TensorInfo): number {
    const entry = this.data.get(tensor.dataId);
    if (!entry.bf16) return entry.ptr;
    const made = this.kernelCopies.get(entry.ptr);
    if (made !== undefined) return made;
    const copy = this.addon.malloc(entry.size * 4);
    this.addon.cast(DTYPE.bfloat16, DTYPE.float32, false, entry.ptr, copy, entry.size);
    this.kernelCopies.set(entry.ptr, copy);
    return copy;
  }

  /** A tensor's buffer as stored: float32 (or int32), or bfloat16. */
  stored(tensor: tf.TensorInfo): StoredTensor {
    const { ptr, bf16 } = this.data.get(tensor.dataId);
    return { ptr, bf16 };
  }

  /** Frees the float32 copies `ptr` made for the kernel that just returned (stream-ordered: after it runs). */
  endKernel(): void {
    for (const copy of this.kernelCopies.values()) this.addon.free(copy);
    this.kernelCopies.clear();
  }

  /** A tensor sharing `tensor`'s data (Reshape, Identity): no copy. */
  share(tensor: tf.TensorInfo, shape: readonly number[] = tensor.shape): tf.TensorInfo {
    this.incRef(tensor.dataId);
    return { dataId: tensor.dataId, shape: [...shape], dtype: tensor.dtype };
  }

  /** Disposes an intermediate a kernel made. */
  disposeIntermediate(tensor: tf.TensorInfo): void {
    this.disposeData(tensor.dataId);
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId {
    const dataId = { id: this.nextId++ };
    this.data.set(dataId, this.upload(values, shape, dtype, 1));
    return dataId;
  }

  override move(dataId: tf.DataId, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    this.data.set(dataId, this.upload(values, shape, dtype, refCount));
  }

  private upload(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): DeviceData {
    const size = tf.util.sizeFromShape(shape);
    const host = toDeviceValues(values, dtype);
    if (host.length !== size) throw new Error(`cuda backend: ${host.length} values for shape [${shape}]`);
    const ptr = this.addon.malloc(size * 4);
    this.addon.upload(ptr, host);
    return { ptr, size, dtype, bf16: false, refCount };
  }

  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    const { ptr, size, dtype, bf16 } = this.data.get(dataId);
    if (bf16) {
      const bits = new Uint16Array(size);
      this.addon.readSync(ptr, bits);
      return fromBf16(bits);
    }
    const out = dtype === 'float32' ? new Float32Array(size) : new Int32Array(size);
    this.addon.readSync(ptr, out);
    return dtype === 'bool' ? Uint8Array.from(out) : out;
  }

  override async read(dataId: tf.DataId): Promise<tf.backend_util.BackendValues> {
    const { ptr, size, dtype, bf16 } = this.data.get(dataId);
    if (bf16) return fromBf16(new Uint16Array(await this.addon.readAsync(ptr, size * 2)));
    return fromDeviceValues(await this.addon.readAsync(ptr, size * 4), dtype);
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    if (!this.data.has(dataId)) return true;
    const entry = this.data.get(dataId);
    entry.refCount--;
    if (!force && entry.refCount > 0) return false;
    this.addon.free(entry.ptr);
    this.data.delete(dataId);
    return true;
  }

  override refCount(dataId: tf.DataId): number {
    return this.data.has(dataId) ? this.data.get(dataId).refCount : 0;
  }

  override incRef(dataId: tf.DataId): void {
    this.data.get(dataId).refCount++;
  }

  override numDataIds(): number {
    return this.data.numDataIds();
  }

  override memory(): { unreliable: boolean; numBytesInGPU: number; numBytesInGPUAllocated: number } {
    const stats = this.addon.stats();
    return { unreliable: false, numBytesInGPU: stats.bytesInUse, numBytesInGPUAllocated: stats.bytesReserved };
  }

  override timerAvailable(): boolean {
    return true;
  }

  override async time(f: () => void): Promise<tf.BackendTimingInfo> {
    const from = this.addon.markTime();
    f();
    const to = this.addon.markTime();
    return { kernelMs: this.addon.elapsedMs(from, to) };
  }

  override floatPrecision(): 32 {
    return 32;
  }

  override epsilon(): number {
    return 1e-7;
  }

  override dispose(): void {
    this.addon.synchronize();
  }
}
