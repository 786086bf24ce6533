import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/backend/select.js';
import { activeCudaAddon, activeCudaDevice, cudaFallbacks } from '../src/backend/cuda.js';
import { startKernelProfile, stopKernelProfile, type KernelProfile } from '../src/backend/cuda/kernel-profile.js';
import { PRECISIONS, type Precision } from '../src/config.js';
import { perSampleCrossEntropy } from '../src/train/loss.js';
import { activeWebgpuAdapter, describeAdapter, probeWebgpuAdapter } from '../src/backend/webgpu.js';
import { buildModel, isModelName, MODEL_NAMES } from '../src/models/registry.js';
import { makeTrainStep } from './gpu-check-train-step.js';

/**
 * Training throughput of one model on one tfjs backend, for scripts/gpu-check.sh (which runs it from a
 * single-file esbuild bundle on a machine without Node.js or internet). Times whole optimizer steps on
 * one fixed random CIFAR-shaped batch: each step ends by reading its loss back, which waits for the
 * GPU, and the median over the timed steps after the warm-up ones (shader compilation) is reported.
 * The last line is `GPU_CHECK {json}` for the shell script to read.
 */
const USAGE = 'usage: gpu-check-bench [--backend webgpu] [--precision fp32] [--model ResNet18] [--batch 128] [--warmup 3] [--steps 10] [--eval] [--profile] [--probe]';

/** Steps --profile runs after the timed ones (a profile slows a step: one timing event per kernel). */
const PROFILED_STEPS = 2;

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${flag} must be a positive integer, got "${text}"`);
  return value;
}

export async function runGpuCheckBench(argv: string[]): Promise<number> {
  let options;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        backend: { type: 'string', default: 'webgpu' },
        model: { type: 'string', default: 'ResNet18' },
        batch: { type: 'string', default: '128' },
        warmup: { type: 'string', default: '3' },
        steps: { type: 'string', default: '10' },
        probe: { type: 'boolean', default: false },
        precision: { type: 'string', default: 'fp32' },
        eval: { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (!(PRECISIONS as readonly string[]).includes(values.precision)) throw new Error(`--precision must be one of ${PRECISIONS.join(', ')}`);
    if (!isModelName(values.model)) throw new Error(`unknown --model "${values.model}"; choose one of: ${MODEL_NAMES.join(', ')}`);
    options = {
      backend: values.backend,
      model: values.model,
      batch: positiveInteger(values.batch, 'batch'),
      warmup: positiveInteger(values.warmup, 'warmup'),
      steps: positiveInteger(values.steps, 'steps'),
      probe: values.probe,
      precision: values.precision as Precision,
      eval: values.eval,
      profile: values.profile,
    };
  } catch (error) {
    console.error(`gpu-check-bench: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }

  if (options.probe) {
    const adapter = await probeWebgpuAdapter();
    console.log(adapter ? `webgpu adapter: ${describeAdapter(adapter)}` : 'webgpu adapter: none (Dawn found no Vulkan driver)');
    return adapter ? 0 : 1;
  }

  tf.env().set('PROD', true); // silences the banner advertising tfjs-node
  const selected = await selectBackend(options.backend, (line) => console.log(line), { precision: options.precision });
  const cuda = activeCudaAddon();
  const adapter = activeWebgpuAdapter();
  if (selected.name === 'webgpu' && adapter) console.log(`webgpu adapter: ${describeAdapter(adapter)}`);

  const size = options.batch;
  const model = buildModel(options.model, { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
  // Trainable parameters, as PyTorch counts them (countParams() adds BatchNorm's moving statistics).
  const params = model.trainableWeights.reduce((sum, weight) => sum + weight.read().size, 0);
  const step = makeTrainStep(model);
  const images = tf.randomNormal([size, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const labels = tf.tensor1d(Float32Array.from({ length: size }, (_, i) => i % 10));
  const weights = tf.ones([size]) as tf.Tensor1D;

  const times: number[] = [];
  const losses: number[] = [];
  // On cuda: GPU time per step (events around it), kernels dispatched per step, peak device memory.
  const gpuMs: number[] = [];
  const dispatches: number[] = [];
  for (let i = 0; i < options.warmup + options.steps; i += 1) {
    if (cuda && i === options.warmup) cuda.resetPeak();
    const before = cuda ? { mark: cuda.markTime(), dispatches: cuda.stats().dispatches } : null;
    const start = performance.now();
    const value = await step(images, labels, weights);
    const seconds = (performance.now() - start) / 1000;
    if (cuda && before && i >= options.warmup) {
      gpuMs.push(cuda.elapsedMs(before.mark, cuda.markTime()));
      dispatches.push(cuda.stats().dispatches - before.dispatches);
    }
    if (!Number.isFinite(value)) throw new Error(`step ${i + 1} gave a non-finite loss (${value})`);
    losses.push(value);
    if (i >= options.warmup) times.push(seconds);
    console.log(`step ${i + 1}${i < options.warmup ? ' (warm-up)' : ''}: ${(seconds * 1000).toFixed(1)} ms, loss ${value.toFixed(4)}`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  const medianOf = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? null;
  const peakBytes = cuda ? cuda.stats().peakBytesInUse : null;
  let evalImagesPerSecond: number | null = null;
  if (options.eval) {
    const evalTimes: number[] = [];
    for (let i = 0; i < options.warmup + options.steps; i += 1) {
      const start = performance.now();
      const outputs = tf.tidy(() => {
        const logits = model.predict(images, { batchSize: size }) as tf.Tensor2D;
        return [perSampleCrossEntropy(logits, labels, 0.1), tf.argMax(logits, 1)];
      });
      await Promise.all(outputs.map((t) => t.data()));
      tf.dispose(outputs);
      if (i >= options.warmup) evalTimes.push((performance.now() - start) / 1000);
    }
    evalImagesPerSecond = size / medianOf(evalTimes)!;
  }
  // On cuda, --profile: GPU time per tfjs kernel over two more steps (after the timed ones, which it would slow).
  let profile: KernelProfile | null = null;
  if (cuda && options.profile) {
    startKernelProfile(cuda);
    for (let i = 0; i < PROFILED_STEPS; i += 1) await step(images, labels, weights);
    profile = stopKernelProfile();
    console.log(`GPU time per tfjs kernel (mean of ${PROFILED_STEPS} steps, ${(profile.totalMs / PROFILED_STEPS).toFixed(1)} ms per step; a kernel's time runs from the end of the one before it):`);
    for (const k of profile.kernels.slice(0, 30)) {
      console.log(`  ${k.kernel.padEnd(32)} ${(k.calls / PROFILED_STEPS).toFixed(0).padStart(5)} calls ${(k.ms / PROFILED_STEPS).toFixed(2).padStart(9)} ms ${((100 * k.ms) / profile.totalMs).toFixed(1).padStart(5)} %`);
    }
  }
  const result = {
    kernelProfile: profile ? profile.kernels.slice(0, 15).map((k) => ({ ...k, ms: k.ms / PROFILED_STEPS, calls: k.calls / PROFILED_STEPS })) : null,
    framework: 'tfjs',
    backend: selected.name,
    precision: options.precision,
    gpuMsPerStep: medianOf(gpuMs),
    dispatchesPerStep: medianOf(dispatches),
    fallbacks: Object.fromEntries(cudaFallbacks()),
    peakBytes,
    evalImagesPerSecond,
    adapter: adapter ? describeAdapter(adapter) : null,
    allocator: activeCudaDevice()?.allocator ?? null,
    model: options.model,
    params,
    batch: size,
    warmup: options.warmup,
    steps: options.steps,
    medianStepSeconds: median,
    imagesPerSecond: size / median,
    firstLoss: losses[0],
    lastLoss: losses[losses.length - 1],
  };
  console.log(`${options.model} (${params.toLocaleString('en-US')} params), batch ${size}, on ${selected.name}: ` +
    `median step ${(median * 1000).toFixed(1)} ms = ${result.imagesPerSecond.toFixed(1)} img/s`);
  if (cuda) {
    console.log(`cuda: GPU time per step ${result.gpuMsPerStep?.toFixed(1)} ms of ${(median * 1000).toFixed(1)} ms wall; ${result.dispatchesPerStep} dispatches per step; peak ${((peakBytes ?? 0) / 2 ** 20).toFixed(0)} MiB; CPU fallbacks: ${JSON.stringify(result.fallbacks)}`);
    console.log(`cuDNN algorithms:\n${cuda.convAlgorithms()}`);
  }
  if (evalImagesPerSecond) console.log(`evaluation: ${evalImagesPerSecond.toFixed(1)} img/s`);
  console.log(`GPU_CHECK ${JSON.stringify(result)}`);
  step.dispose();
  tf.dispose([images, labels, weights]);
  model.dispose();
  return 0;
}

// Run directly (node --import tsx scripts/gpu-check-bench.ts ...); the bundle's entry calls it instead.
if (process.argv[1]?.endsWith('/gpu-check-bench.ts')) {
  // exit explicitly: Dawn's device keeps the event loop alive.
  process.exit(await runGpuCheckBench(process.argv.slice(2)));
}
