import * as tf from '@tensorflow/tfjs-core';
import { CONV_LAYOUTS, cublasVersionText, cudaVersionText, cudnnVersionText, loadCudaAddon, type CudaAddon, type CudaDeviceInfo } from './cuda/addon.js';
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

/** $INFOBATCH_CUDA_CONV_LAYOUT: auto (default: per shape, the faster of NHWC and NCHW in fp32/tf32), nhwc or nchw. */
function convLayoutSetting(): keyof typeof CONV_LAYOUTS {
  const value = process.env.INFOBATCH_CUDA_CONV_LAYOUT ?? 'auto';
  if (!Object.hasOwn(CONV_LAYOUTS, value)) throw new Error(`INFOBATCH_CUDA_CONV_LAYOUT must be auto, nhwc or nchw, got "${value}"`);
  return value as keyof typeof CONV_LAYOUTS;
}

export async function activateCuda(precision: Precision, environment?: SearchEnvironment): Promise<{ tfName: string; detail: string }> {
  const convLayout = convLayoutSetting();
  const addon = loadCudaAddon();
  if (!active) {
    const probe = addon.probe();
    if (probe.deviceCount === 0) {
      throw new Error(`no CUDA GPU found (${probe.error ?? 'the driver reports no device'}; driver CUDA ${probe.driverVersion ? cudaVersionText(probe.driverVersion) : 'none'}, addon built for CUDA ${cudaVersionText(probe.runtimeVersion)})`);
    }
    const search = findCudaLibraries(environment);
    if (!search.found) throw new Error(describeMissing(search));
    const device = addon.init({ ...search.libraries, device: 0 });
    registerCudaBackend(addon);
    active = { addon, device };
  }
  active.addon.setConvLayout(CONV_LAYOUTS[convLayout]);
  const ok = await tf.setBackend(CUDA_BACKEND);
  if (!ok) throw new Error('tfjs could not initialize the cuda backend');
  await tf.ready();
  setCudaPrecision(precision);
  const d = active.device;
  const detail = `${d.name} (compute ${d.computeCapability}, ${(d.memoryBytes / 2 ** 30).toFixed(0)} GiB), driver CUDA ${cudaVersionText(d.driverVersion)}, runtime ${cudaVersionText(d.runtimeVersion)}, cuDNN ${cudnnVersionText(d.cudnnVersion)}, cuBLAS ${cublasVersionText(d.cublasVersion)}, precision ${precision}${convLayout === 'auto' ? '' : `, convolutions ${convLayout.toUpperCase()}`}`;
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

/** Kernels that fell back to the CPU so far, by name. */
export function cudaFallbacks(): ReadonlyMap<string, number> {
  const backend = tf.engine().backend;
  return backend instanceof CudaBackend ? backend.fallbacks : new Map();
}
