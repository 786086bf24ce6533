/**
 * `npm run bench:cuda-host`: the cuda backend's host side alone, on any machine. The backend runs against
 * an addon whose every call returns at once (no GPU, no data), so what is timed is tfjs's engine, our
 * kernels' TypeScript and the N-API calls they would make: the floor under a step's wall time on a GPU,
 * and a step is host-bound where this exceeds the GPU's time for it. Prints host ms per step (median and
 * minimum after warm-up), tfjs kernel calls and addon calls per step by name, the uploads' sizes, and the
 * peak of device memory the backend's tensors hold during a step (what the addon allocates for them: a
 * lower bound of the GPU's peak, which adds cuDNN workspaces and the addon's own temporaries).
 *
 * With --precision bf16 the backend keeps activations in bf16, which the memory figure shows.
 *
 *   npm run bench:cuda-host -- [--model ResNet18] [--batch 256] [--steps 20] [--precision fp32]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { CudaAddon, CudaStats } from '../src/backend/cuda/addon.js';
import { registerCudaBackend } from '../src/backend/cuda/register.js';
import { setCudaPrecision } from '../src/backend/cuda.js';
import { PRECISIONS, type Precision } from '../src/config.js';
import { buildModel, isModelName, MODEL_NAMES, type ModelName } from '../src/models/registry.js';
import { makeTrainStep } from './gpu-check-train-step.js';

const ZERO_STATS: CudaStats = { dispatches: 0, uploads: 0, downloads: 0, bytesInUse: 0, bytesReserved: 0, peakBytesInUse: 0, pinnedBytes: 0, preparedFilters: 0, deviceFreeBytes: 0, deviceTotalBytes: 0 };

/** Bytes the backend holds in device memory now, and the most since the last reset. */
class DeviceBytes {
  private readonly sizes = new Map<number, number>();
  inUse = 0;
  peak = 0;
  allocated(ptr: number, bytes: number): void {
    this.sizes.set(ptr, bytes);
    this.inUse += bytes;
    this.peak = Math.max(this.peak, this.inUse);
  }
  freed(ptr: number): void {
    this.inUse -= this.sizes.get(ptr) ?? 0;
    this.sizes.delete(ptr);
  }
  resetPeak(): void {
    this.peak = this.inUse;
  }
}

/** An addon that does nothing: addresses are counted out, reads return zeros, every other call is a no-op. */
function idleAddon(calls: Map<string, number>, uploads: number[], memory: DeviceBytes): CudaAddon {
  let next = 4096;
  const behaviour: Partial<CudaAddon> = {
    malloc: (bytes) => {
      const ptr = next;
      next += Math.ceil(bytes / 256) * 256 + 256;
      memory.allocated(ptr, bytes);
      return ptr;
    },
    free: (ptr) => memory.freed(ptr),
    upload: (_ptr, values) => void uploads.push(values.length),
    readSync: (_ptr, out) => void out.fill(0),
    readAsync: async (_ptr, bytes) => new ArrayBuffer(bytes),
    stats: () => ZERO_STATS,
    markTime: () => 0,
    elapsedMs: () => 0,
    convAlgorithms: () => '',
  };
  return new Proxy(behaviour, {
    get(target, name: string) {
      const call = (target as Record<string, ((...args: unknown[]) => unknown) | undefined>)[name] ?? (() => undefined);
      return (...args: unknown[]) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        return call(...args);
      };
    },
  }) as CudaAddon;
}

const USAGE = 'usage: npm run bench:cuda-host -- [--model ResNet18] [--batch 256] [--steps 20] [--precision fp32|tf32|bf16]';

/** The flags, checked: one line and exit code 2 on anything else. */
function parseFlags(): { model: ModelName; batch: number; steps: number; precision: Precision } {
  try {
    const { values } = parseArgs({
      options: { model: { type: 'string', default: 'ResNet18' }, batch: { type: 'string', default: '256' }, steps: { type: 'string', default: '20' }, precision: { type: 'string', default: 'fp32' } },
      strict: true,
    });
    if (!isModelName(values.model)) throw new Error(`unknown --model "${values.model}"; choose one of: ${MODEL_NAMES.join(', ')}`);
    if (!(PRECISIONS as readonly string[]).includes(values.precision)) throw new Error(`--precision must be one of ${PRECISIONS.join(', ')}, got "${values.precision}"`);
    const batch = Number(values.batch);
    const steps = Number(values.steps);
    if (!Number.isInteger(batch) || batch < 2 || !Number.isInteger(steps) || steps < 1) throw new Error('--batch must be an integer ≥ 2 and --steps a positive integer');
    return { model: values.model, batch, steps, precision: values.precision as Precision };
  } catch (error) {
    console.error(`bench-cuda-host: ${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const { model: modelName, batch, steps, precision } = parseFlags();

const addonCalls = new Map<string, number>();
const uploads: number[] = [];
const memory = new DeviceBytes();
registerCudaBackend(idleAddon(addonCalls, uploads, memory));
await tf.setBackend('cuda');
setCudaPrecision(precision);
const model = buildModel(modelName, { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
const step = makeTrainStep(model);
const images = tf.zeros([batch, 32, 32, 3]) as tf.Tensor4D;
const labels = tf.tensor1d(Float32Array.from({ length: batch }, (_, i) => i % 10));
const weights = tf.ones([batch]) as tf.Tensor1D;

const warmup = 5;
const times: number[] = [];
for (let i = 0; i < warmup + steps; i++) {
  const start = performance.now();
  await step(images, labels, weights);
  if (i >= warmup) times.push(performance.now() - start);
}
// One more step, counted: tfjs kernel calls (through the engine) and addon calls.
addonCalls.clear();
uploads.length = 0;
const heldBefore = memory.inUse; // the model's weights, optimizer state, the batch
memory.resetPeak();
const kernelCalls = new Map<string, number>();
const engine = tf.engine() as unknown as { runKernel: (name: string, ...rest: unknown[]) => unknown };
const runKernel = engine.runKernel.bind(engine);
engine.runKernel = (name, ...rest) => {
  kernelCalls.set(name, (kernelCalls.get(name) ?? 0) + 1);
  return runKernel(name, ...rest);
};
await step(images, labels, weights);
engine.runKernel = runKernel;

const sorted = [...times].sort((a, b) => a - b);
const total = (counts: Map<string, number>) => [...counts.values()].reduce((sum, n) => sum + n, 0);
const top = (counts: Map<string, number>) => [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`).join(', ');
console.log(`${modelName}, batch ${batch}, ${precision}, cuda backend on an idle addon: host ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms per step (median of ${steps}; min ${sorted[0]!.toFixed(1)})`);
console.log(`tfjs kernel calls per step: ${total(kernelCalls)} (${top(kernelCalls)})`);
console.log(`addon calls per step: ${total(addonCalls)} (${top(addonCalls)})`);
console.log(`uploads per step: ${uploads.length} (elements: ${uploads.join(', ')})`);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
console.log(`device memory of the backend's tensors: peak ${mib(memory.peak)} during a step, ${mib(heldBefore)} held between steps (weights, optimizer state, batch); cuDNN workspaces and the addon's temporaries come on top`);
step.dispose();
