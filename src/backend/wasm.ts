import * as tf from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels } from './wasm/register.js';

/**
 * The `wasm` backend: @tensorflow/tfjs-backend-wasm (XNNPACK; tfjs picks the SIMD binary when the
 * runtime supports it, as Node 20 does) plus our training kernels (./wasm/), without
 * which convolution nets cannot train on it. In Node the package finds its .wasm files beside its own
 * JavaScript in node_modules, so no setWasmPaths is needed.
 */
export async function activateWasm(): Promise<string> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(`@tensorflow/tfjs-backend-wasm failed to load: ${reason}`);
  }
  const restoreListeners = snapshotProcessErrorListeners();
  try {
    // setBackend resolves false (after logging a warning) when the module cannot be instantiated.
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs could not initialize the WebAssembly module of the "wasm" backend');
    await tf.ready();
  } finally {
    restoreListeners();
  }
  registerWasmTrainingKernels();
  explainOutOfMemory(tf.backend() as unknown as WasmBackendInternals);
  return tf.getBackend();
}

interface WasmBackendInternals {
  write: (...args: unknown[]) => unknown;
  wasm: { HEAPU8: Uint8Array; onAbort?: (what: unknown) => void };
  [explained]?: true;
}

const explained = Symbol('explainOutOfMemory');

/**
 * A wasm32 heap holds at most 4 GiB, and a training step keeps every activation and its gradient alive
 * until the step ends (ResNet-18 needs ~3.4 GiB at batch 64). When an allocation fails, the module either
 * traps while registering a tensor ("RuntimeError: divide by zero" or "memory access out of bounds") or
 * aborts inside a kernel ("Aborted()"); say what happened instead.
 */
function explainOutOfMemory(backend: WasmBackendInternals): void {
  if (backend[explained]) return;
  const outOfMemory = (detail: string) => {
    const heapMiB = Math.round(backend.wasm.HEAPU8.length / 2 ** 20);
    return new Error(`the wasm backend ran out of memory (heap ${heapMiB} MiB, at most 4096): use a smaller batch size (${detail})`);
  };
  const write = backend.write;
  backend.write = function (this: WasmBackendInternals, ...args: unknown[]) {
    try {
      return write.apply(this, args);
    } catch (error) {
      throw error instanceof WebAssembly.RuntimeError ? outOfMemory(error.message) : error;
    }
  };
  // Emscripten calls onAbort before it prints "Aborted()" and throws; throwing here replaces both.
  // After initialization an abort is, in practice, a failed allocation (C++ new or XNNPACK): tfjs
  // validates arguments in JavaScript and only warns about XNNPACK errors.
  backend.wasm.onAbort = (what: unknown) => {
    throw outOfMemory(`aborted${what ? `: ${String(what)}` : ''}`);
  };
  backend[explained] = true;
}

const ERROR_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/**
 * The Emscripten module installs process handlers that rethrow every uncaught exception and unhandled
 * rejection from inside its minified code, so Node then prints a ~30 kB line of it above any error.
 * They do nothing else; Node's defaults (print the error, exit 1) are what we want. The returned
 * function removes handlers added since the snapshot.
 */
function snapshotProcessErrorListeners(): () => void {
  type Listener = (...args: unknown[]) => void;
  const listeners = (event: string) => process.listeners(event as 'uncaughtException') as Listener[];
  const before = new Map(ERROR_EVENTS.map((event) => [event, new Set(listeners(event))]));
  return () => {
    for (const event of ERROR_EVENTS) {
      for (const listener of listeners(event)) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
      }
    }
  };
}
