import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { Precision } from '../config.js';

/**
 * Choosing the tfjs backend.
 *
 * Every candidate is tried by loading its package and initializing it; `auto` walks the list in order
 * and takes the first that works, logging why each earlier one was passed over. The native TensorFlow
 * bindings (tfjs-node, tfjs-node-gpu) are optional dependencies: their install downloads libtensorflow
 * from the web and fails offline, and tfjs-node-gpu needs CUDA 11.2 + cuDNN 8.1, so a missing or
 * broken one must never stop a run.
 */
export interface BackendCandidate {
  /** The `--backend` name. */
  readonly name: string;
  /** One line for `--help` and the README. */
  readonly description: string;
  /** Whether `auto` may pick it (software-emulated GPUs, say, are only used when asked for by name). */
  readonly auto: boolean;
  /** Precisions it can compute in (default fp32 only). */
  readonly precisions?: readonly Precision[];
  /**
   * Loads and registers the backend, then makes it current. Resolves to the tfjs backend name (and what
   * it runs on, where that is worth a log line), or throws an Error whose message says in one line why it
   * is unavailable and how to get it. `byName` is true when the user asked for this backend by name,
   * false when `auto` tries it.
   */
  readonly activate: (request: { readonly byName: boolean; readonly precision: Precision }) => Promise<string | ActivatedBackend>;
}

export interface ActivatedBackend {
  readonly tfName: string;
  /** e.g. the GPU adapter; appended to the log line. */
  readonly detail?: string;
}

function activated(result: string | ActivatedBackend): ActivatedBackend {
  return typeof result === 'string' ? { tfName: result } : result;
}

export interface SelectedBackend {
  /** The `--backend` name that was chosen. */
  readonly name: string;
  /** The tfjs-registered backend name (tf.getBackend()). */
  readonly tfName: string;
  /** Why earlier `auto` candidates were skipped, one line each. */
  readonly skipped: readonly string[];
}

export class BackendError extends Error {
  override readonly name = 'BackendError';
}

async function setAndCheck(tfName: string): Promise<string> {
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new Error(`tfjs could not initialize the "${tfName}" backend`);
  await tf.ready();
  return tfName;
}

function errorLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.slice(0, 400);
}

/** Imports an optional package by name; a missing one is reported as such, not as a stack trace. */
async function importOptional(specifier: string, installHint: string): Promise<unknown> {
  try {
    return await import(specifier);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(`${specifier} is not installed (${installHint})`);
    }
    throw new Error(`${specifier} failed to load: ${errorLine(error)}`);
  }
}

const TFJS_NODE_HINT = 'optional; its install downloads libtensorflow and needs internet';

export const BACKENDS: BackendCandidate[] = [
  {
    name: 'cuda',
    description: 'NVIDIA GPU: cuDNN + cuBLAS + our CUDA kernels, tensors in GPU memory (native/cuda; built by npm install where nvcc is found)',
    auto: true,
    precisions: ['fp32', 'tf32', 'bf16'],
    activate: async ({ precision }) => {
      const { activateCuda } = await import('./cuda.js');
      return activateCuda(precision);
    },
  },
  {
    name: 'webgpu',
    description: 'GPU through WebGPU (@tensorflow/tfjs-backend-webgpu on Dawn, npm "webgpu"; needs a Vulkan driver)',
    auto: true,
    activate: async ({ byName }) => {
      const { activateWebgpu, activeWebgpuAdapter, describeAdapter } = await import('./webgpu.js');
      // auto never takes a software Vulkan (lavapipe): it is far slower than wasm.
      const tfName = await activateWebgpu({ allowSoftware: byName });
      const adapter = activeWebgpuAdapter();
      return { tfName, detail: adapter ? `adapter: ${describeAdapter(adapter)}` : undefined };
    },
  },
  {
    name: 'tensorflow-gpu',
    description: 'TensorFlow C library with CUDA (@tensorflow/tfjs-node-gpu; needs CUDA 11.2 + cuDNN 8.1)',
    auto: true,
    activate: async () => {
      await importOptional('@tensorflow/tfjs-node-gpu', `${TFJS_NODE_HINT}, and CUDA 11.2 + cuDNN 8.1`);
      const tfName = await setAndCheck('tensorflow');
      // tfjs-node-gpu silently runs on the CPU when CUDA is missing; only count it as a GPU backend if it sees one.
      const gpus = tf.engine().backend as unknown as { isUsingGpuDevice?: boolean };
      if (gpus.isUsingGpuDevice === false) throw new Error('tfjs-node-gpu loaded but found no CUDA GPU');
      return tfName;
    },
  },
  {
    name: 'tensorflow',
    description: 'TensorFlow C library on the CPU (@tensorflow/tfjs-node)',
    auto: true,
    activate: async () => {
      await importOptional('@tensorflow/tfjs-node', TFJS_NODE_HINT);
      return setAndCheck('tensorflow');
    },
  },
  {
    name: 'native',
    description: 'oneDNN in our C++ addon on all cores (native/; built by npm install where libdnnl-dev is installed)',
    auto: true,
    activate: async () => {
      const { activateNative, nativeInfo } = await import('./native.js');
      const tfName = await activateNative();
      const info = nativeInfo();
      return { tfName, detail: `oneDNN ${info.onednn} (${info.isa}), ${info.threads} threads` };
    },
  },
  {
    name: 'wasm',
    description: 'WebAssembly SIMD (@tensorflow/tfjs-backend-wasm) plus our convolution-gradient kernels',
    auto: true,
    activate: async () => {
      const { activateWasm } = await import('./wasm.js');
      return activateWasm();
    },
  },
  {
    name: 'cpu',
    description: 'pure JavaScript (@tensorflow/tfjs-backend-cpu); always works, very slow for convolutions',
    auto: true,
    activate: () => setAndCheck('cpu'),
  },
];

export const BACKEND_NAMES = ['auto', ...BACKENDS.map((b) => b.name)];

/**
 * Activates the requested backend (or the first `auto` one that works). `log` gets one line saying
 * which backend runs and why the better ones were skipped.
 */
export async function selectBackend(
  requested: string,
  log: (line: string) => void = () => {},
  options: { readonly precision?: Precision } = {},
): Promise<SelectedBackend> {
  const precision = options.precision ?? 'fp32';
  const activate = async (candidate: BackendCandidate, byName: boolean): Promise<ActivatedBackend> => {
    if (!(candidate.precisions ?? ['fp32']).includes(precision)) {
      throw new Error(`it computes in ${(candidate.precisions ?? ['fp32']).join('/')} only; --precision ${precision} needs --backend cuda`);
    }
    return activated(await candidate.activate({ byName, precision }));
  };
  if (requested !== 'auto') {
    const candidate = BACKENDS.find((b) => b.name === requested);
    if (!candidate) throw new BackendError(`unknown backend "${requested}"; choose one of: ${BACKEND_NAMES.join(', ')}`);
    try {
      const { tfName, detail } = await activate(candidate, true);
      log(`backend: ${candidate.name} (requested)${detail ? `, ${detail}` : ''}`);
      return { name: candidate.name, tfName, skipped: [] };
    } catch (error) {
      throw new BackendError(`backend "${requested}" is unavailable: ${errorLine(error)}`);
    }
  }
  const skipped: string[] = [];
  for (const candidate of BACKENDS.filter((b) => b.auto)) {
    try {
      const { tfName, detail } = await activate(candidate, false);
      log(`backend: ${candidate.name} (auto${skipped.length ? `; skipped ${skipped.join('; ')}` : ''})${detail ? `, ${detail}` : ''}`);
      return { name: candidate.name, tfName, skipped };
    } catch (error) {
      skipped.push(`${candidate.name}: ${errorLine(error)}`);
    }
  }
  throw new BackendError(`no backend could be initialized: ${skipped.join('; ')}`);
}
