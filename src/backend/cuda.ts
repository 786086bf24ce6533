import * as tf from '@tensorflow/tfjs-core';
import { ALLOCATORS, CONV_LAYOUTS, cublasVersionText, cudaVersionText, cudnnVersionText, loadCudaAddon, type CudaAddon, type CudaDeviceInfo } from './cuda/addon.js';
import { CudaBackend } from './cuda/backend.js';
import { describeMissing, findCudaLibraries, type SearchEnvironment } from './cuda/libraries.js';
import { CUDA_BACKEND, registerCudaBackend } from './cuda/register.js';
import type { Precision } from '../config.js';

/**
 * The `cuda` backend: tensors in GPU memory, cuDNN convolutions, cuBLAS matmuls and our own CUDA kernels
 * (native/cuda). Activation checks, in order: the addon is built and loads, the driver sees a GPU, cuDNN 9
 * and cuBLAS are found; each failure is one line saying what is missing and where it looked.
 */
let active: { addon: CudaAddon; device: CudaDeviceInfo } | null = null;

/** The environment variable's value, one of the names of `choices` (unset: 'auto'); else one line saying which. */
function choiceSetting<Choices extends Record<string, number>>(variable: string, choices: Choices): keyof Choices & string {
  const value = process.env[variable] ?? 'auto';
  const names = Object.keys(choices);
  if (!Object.hasOwn(choices, value)) throw new Error(`${variable} must be ${names.slice(0, -1).join(', ')} or ${names.at(-1)}, got "${value}"`);
  return value;
}

/** The device's memory line: how much, and which allocator serves it (and why, where auto fell back). */
function memoryText(device: CudaDeviceInfo): string {
  const fallback = device.poolUnavailable ? ` (no CUDA memory pool: ${device.poolUnavailable})` : '';
  return `${(device.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${device.allocator}${fallback}`;
}

export async function activateCuda(precision: Precision, environment?: SearchEnvironment): Promise<{ tfName: string; detail: string }> {
  // INFOBATCH_CUDA_CONV_LAYOUT: per shape the faster of NHWC and NCHW (fp32/tf32), or one of them;
  // INFOBATCH_CUDA_ALLOCATOR: the pool where it works, or one allocator (ALLOCATORS).
  const convLayout = choiceSetting('INFOBATCH_CUDA_CONV_LAYOUT', CONV_LAYOUTS);
  const allocator = choiceSetting('INFOBATCH_CUDA_ALLOCATOR', ALLOCATORS);
  const addon = loadCudaAddon();
  if (!active) {
    const probe = addon.probe();
    if (probe.deviceCount === 0) {
      throw new Error(`no CUDA GPU found (${probe.error ?? 'the driver reports no device'}; driver CUDA ${probe.driverVersion ? cudaVersionText(probe.driverVersion) : 'none'}, addon built for CUDA ${cudaVersionText(probe.runtimeVersion)})`);
    }
    const search = findCudaLibraries(environment);
    if (!search.found) throw new Error(describeMissing(search));
    const device = addon.init({ ...search.libraries, device: 0, allocator: ALLOCATORS[allocator] });
    registerCudaBackend(addon);
    active = { addon, device };
  }
  active.addon.setConvLayout(CONV_LAYOUTS[convLayout]);
  const ok = await tf.setBackend(CUDA_BACKEND);
  if (!ok) throw new Error('tfjs could not initialize the cuda backend');
  await tf.ready();
  setCudaPrecision(precision);
  const d = active.device;
  const detail = `${d.name} (compute ${d.computeCapability}, ${memoryText(d)}), driver CUDA ${cudaVersionText(d.driverVersion)}, runtime ${cudaVersionText(d.runtimeVersion)}, cuDNN ${cudnnVersionText(d.cudnnVersion)}, cuBLAS ${cublasVersionText(d.cublasVersion)}, precision ${precision}${convLayout === 'auto' ? '' : `, convolutions ${convLayout.toUpperCase()}`}`;
  return { tfName: CUDA_BACKEND, detail };
}

/** The cuda backend's precision: the addon's math, and bf16-stored activations with bf16 (CudaBackend). */
export function setCudaPrecision(precision: Precision): void {
  const backend = tf.engine().findBackend(CUDA_BACKEND);
  if (!(backend instanceof CudaBackend)) throw new Error('the cuda backend is not registered');
  backend.setPrecision(precision);
}

/** The active cuda backend's addon (for counters, timing and memory), or null when cuda is not current. */
export function activeCudaAddon(): CudaAddon | null {
  return active && tf.getBackend() === CUDA_BACKEND ? active.addon : null;
}

/** What init reported of the device (name, versions, allocator), or null when cuda is not current. */
export function activeCudaDevice(): CudaDeviceInfo | null {
  return active && tf.getBackend() === CUDA_BACKEND ? active.device : null;
}

/** Kernels that fell back to the CPU so far, by name. */
export function cudaFallbacks(): ReadonlyMap<string, number> {
  const backend = tf.engine().backend;
  return backend instanceof CudaBackend ? backend.fallbacks : new Map();
}
