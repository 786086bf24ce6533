import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { CudaAddon } from './addon.js';
import { CudaBackend } from './backend.js';
import { kernelRan } from './kernel-profile.js';
import { BASIC_KERNELS, BINARY_KERNELS, UNARY_KERNELS } from './kernels/elementwise.js';
import { NN_KERNELS } from './kernels/nn.js';
import { REDUCE_KERNELS } from './kernels/reduce.js';
import { SHAPE_KERNELS } from './kernels/shape.js';
import type { CudaKernel, KernelArgs, KernelResult } from './kernels/util.js';

export const CUDA_BACKEND = 'cuda';

/** Every kernel that runs on the GPU (a kernel may still hand a case it does not cover to the CPU). */
export const CUDA_KERNELS: Readonly<Record<string, CudaKernel>> = {
  ...BASIC_KERNELS,
  ...BINARY_KERNELS,
  ...UNARY_KERNELS,
  ...SHAPE_KERNELS,
  ...REDUCE_KERNELS,
  ...NN_KERNELS,
};

/** Where "kernel X ran on the CPU" goes (once per kernel name); the trainer's log by default console.warn. */
let fallbackLog: (line: string) => void = (line) => console.warn(line);
export function setFallbackLog(log: (line: string) => void): void {
  fallbackLog = log;
}

/**
 * Runs a kernel of the `cpu` backend on a cuda backend's tensors: downloads the inputs, computes on a
 * private CPU backend, uploads the outputs. Slow (it waits for the GPU); counted and logged once per name
 * so that a training step that needs it is visible.
 */
function cpuFallback(name: string, cpuKernel: tf.KernelFunc | undefined, cpu: () => MathBackendCPU): (args: KernelArgs & { backend: CudaBackend }) => KernelResult {
  return (args) => {
    if (!cpuKernel) throw new Error(`the cuda backend has no kernel ${name} for these inputs, and the cpu backend has none either`);
    const backend = args.backend;
    const count = backend.fallbacks.get(name) ?? 0;
    backend.fallbacks.set(name, count + 1);
    if (count === 0) fallbackLog(`cuda backend: ${name} runs on the CPU for these inputs (its data goes through host memory)`);
    const host = cpu();
    const made: tf.DataId[] = [];
    const inputs: Record<string, tf.TensorInfo> = {};
    for (const [key, tensor] of Object.entries(args.inputs as Record<string, tf.TensorInfo | undefined>)) {
      if (!tensor) continue;
      const dataId = host.write(backend.readSync(tensor.dataId), tensor.shape, tensor.dtype);
      made.push(dataId);
      inputs[key] = { dataId, shape: tensor.shape, dtype: tensor.dtype };
    }
    const result = cpuKernel({ inputs, attrs: args.attrs, backend: host });
    const outputs = Array.isArray(result) ? result : [result];
    const uploaded = outputs.map((o) => backend.makeTensorInfo(o.shape, o.dtype, host.readSync(o.dataId)));
    for (const dataId of [...made, ...outputs.map((o) => o.dataId)]) host.disposeData(dataId, true);
    return Array.isArray(result) ? uploaded : uploaded[0]!;
  };
}

/** A kernel as registered: runs it, frees the float32 copies of bf16 inputs it asked for (CudaBackend.ptr),
 *  then tells a running kernel profile (./kernel-profile.ts) that it ran. */
function reported(kernelName: string, run: (args: KernelArgs & { backend: CudaBackend }) => KernelResult): tf.KernelFunc {
  return ((args: KernelArgs) => {
    const cudaArgs = args as KernelArgs & { backend: CudaBackend };
    let result: KernelResult;
    try {
      result = run(cudaArgs);
    } finally {
      cudaArgs.backend.endKernel();
    }
    kernelRan(kernelName);
    return result;
  }) as tf.KernelFunc;
}

let registeredWith: CudaAddon | null = null;

/** Registers the `cuda` tfjs backend: our kernels, and every other `cpu` kernel as a CPU fallback. */
export function registerCudaBackend(addon: CudaAddon): void {
  if (registeredWith) return;
  let host: MathBackendCPU | null = null;
  const cpu = () => (host ??= new MathBackendCPU());
  // Priority 0, below cpu's 1: tfjs never picks it unless asked by name.
  tf.registerBackend(CUDA_BACKEND, () => new CudaBackend(addon), 0);
  const cpuKernels = new Map(tf.getKernelsForBackend('cpu').map((config) => [config.kernelName, config.kernelFunc]));
  for (const [kernelName, kernel] of Object.entries(CUDA_KERNELS)) {
    const fallback = cpuFallback(kernelName, cpuKernels.get(kernelName), cpu);
    const kernelFunc = reported(kernelName, (args) => kernel(args) ?? fallback(args));
    tf.registerKernel({ kernelName, backendName: CUDA_BACKEND, kernelFunc });
  }
  for (const [kernelName, kernelFunc] of cpuKernels) {
    if (Object.hasOwn(CUDA_KERNELS, kernelName)) continue;
    tf.registerKernel({ kernelName, backendName: CUDA_BACKEND, kernelFunc: reported(kernelName, cpuFallback(kernelName, kernelFunc, cpu)) });
  }
  registeredWith = addon;
}
