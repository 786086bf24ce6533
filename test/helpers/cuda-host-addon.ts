import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerCudaBackend } from '../../src/backend/cuda/register.js';
import { uninitializedHostAddon } from './cuda-host-build.js';

export { hostAddonPath, hostSkip, root, selftestPath, type HostAddon, type HostSchedule } from './cuda-host-build.js';

/**
 * The host-emulated cuda addon (./cuda-host-build.ts) initialized with its defaults and registered as the
 * `cuda` tfjs backend, for the test/cuda-host*.test.ts files.
 */
export const hostAddon = uninitializedHostAddon;
if (hostAddon) {
  hostAddon.init({ cudnnParts: [], cudnn: '', cublasLt: '', cublas: '', device: 0 });
  // dnn.cc's algorithm search takes a workspace of half the free memory (at most 1 GiB) each time; on the
  // emulated device that is host memory written in full, so a small device keeps the tests fast.
  hostAddon.hostEmulationSetCapacity(256 * 2 ** 20);
  registerCudaBackend(hostAddon);
}

/** Outputs of `build` on `backend`, as plain arrays. */
export async function valuesOn(backend: string, build: () => tf.Tensor[]): Promise<number[][]> {
  await tf.setBackend(backend);
  const outputs = tf.tidy(build);
  const values = outputs.map((o) => Array.from(o.dataSync()));
  tf.dispose(outputs);
  return values;
}
