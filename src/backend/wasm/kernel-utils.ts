import { getKernel, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export const WASM = 'wasm';

/** Stock tfjs-backend-wasm kernels our kernels call into, captured before ours replace any of them. */
export interface StockKernels {
  readonly conv2D: KernelFunc;
  readonly conv2DBackpropInput: KernelFunc | undefined;
  readonly tile: KernelFunc;
  readonly transpose: KernelFunc;
  readonly slice: KernelFunc;
}

let captured: StockKernels | undefined;

function required(name: string): KernelFunc {
  const config = getKernel(name, WASM);
  if (!config) throw new Error(`tfjs-backend-wasm lacks its ${name} kernel`);
  return config.kernelFunc;
}

/** Remembers the stock kernels; idempotent, so a second call cannot capture our own replacements. */
export function captureStockKernels(): void {
  captured ??= {
    conv2D: required('Conv2D'),
    conv2DBackpropInput: getKernel('Conv2DBackpropInput', WASM)?.kernelFunc,
    tile: required('Tile'),
    transpose: required('Transpose'),
    slice: required('Slice'),
  };
}

export function stockKernels(): StockKernels {
  if (!captured) throw new Error('wasm training kernels used before registerWasmTrainingKernels()');
  return captured;
}

/**
 * Collects the intermediate tensors of one kernel call and frees them at the end: the engine never sees
 * them, so nothing else would.
 */
export class Scratch {
  private readonly infos: TensorInfo[] = [];
  constructor(readonly backend: BackendWasm) {}

  keep(info: TensorInfo): TensorInfo {
    this.infos.push(info);
    return info;
  }

  /** Runs a kernel function on this backend; its output is freed with the scratch. */
  run(kernel: KernelFunc, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
    return this.keep(kernel({ inputs, backend: this.backend, attrs }) as TensorInfo);
  }

  dispose(): void {
    for (const info of this.infos) this.backend.disposeData(info.dataId);
    this.infos.length = 0;
  }
}
