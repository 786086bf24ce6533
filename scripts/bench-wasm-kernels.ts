/**
 * Micro-benchmark of the wasm convolution kernels: forward, input gradient (dx) and filter gradient (dw)
 * of a 3×3 convolution (default batch 16, 32×32×64 → 64, 'same'), stock tfjs-backend-wasm against ours
 * (src/backend/wasm/), plus optionally training steps of a model from src/models.
 *
 *   npx tsx scripts/bench-wasm-kernels.ts [--stride 2] [--kernel 3] [--batch 16] [--size 32] [--channels 64]
 *       [--repeats 10] [--resnet ResNet18 [--steps 3]]
 *
 * Prints GFLOP/s (best of the repeats; the machines are shared, so compare numbers of the same run).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2D, Conv2DBackpropFilter, Conv2DBackpropInput, getKernel, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers' bundle registers the gradient functions of tfjs-core's ops (needed for --resnet).
import '@tensorflow/tfjs-layers';
import { registerWasmTrainingKernels } from '../src/backend/wasm/register.js';
import { buildModel } from '../src/models/registry.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}

const batch = Number(option('batch', '16'));
const size = Number(option('size', '32'));
const channels = Number(option('channels', '64'));
const stride = Number(option('stride', '1'));
const kernelSize = Number(option('kernel', '3'));
const repeats = Number(option('repeats', '10'));
const steps = Number(option('steps', '3'));
const resnet = option('resnet', '');

type KernelCall = () => TensorInfo;

/** Runs a kernel function directly on the wasm backend (so stock and our kernels can alternate). */
function kernelCall(kernel: KernelFunc, inputs: Record<string, tf.Tensor>, attrs: NamedAttrMap): KernelCall {
  return () => kernel({ inputs, backend: tf.backend(), attrs }) as TensorInfo;
}

/**
 * Best wall time in ms of each call over `repeats` rounds, the calls alternating within a round so that
 * load from other processes on the shared machine hits them alike. One warm-up round is not counted.
 */
function bestTimes(calls: Record<string, KernelCall>): Record<string, number> {
  const best: Record<string, number> = Object.fromEntries(Object.keys(calls).map((name) => [name, Infinity]));
  for (let round = 0; round <= repeats; round++) {
    for (const [name, call] of Object.entries(calls)) {
      const start = performance.now();
      const out = call();
      tf.backend().readSync(out.dataId);
      const ms = performance.now() - start;
      tf.backend().disposeData(out.dataId);
      if (round > 0) best[name] = Math.min(best[name]!, ms);
    }
  }
  return best;
}

function benchConv(): void {
  const x = tf.randomNormal([batch, size, size, channels]) as tf.Tensor4D;
  const filter = tf.randomNormal([kernelSize, kernelSize, channels, channels]) as tf.Tensor4D;
  const y = tf.conv2d(x, filter, stride, 'same');
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  const flop = 2 * y.size * kernelSize * kernelSize * channels;
  const attrs = { strides: stride, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
  const stockDx = getKernel(Conv2DBackpropInput, 'wasm')!.kernelFunc;
  registerWasmTrainingKernels();
  // XNNPACK packs a filter into an operator it caches per filter tensor; training changes the filter every
  // step, so the forward pass there pays for packing too: time both.
  const freshFilters = Array.from({ length: repeats + 1 }, () => tf.randomNormal(filter.shape) as tf.Tensor4D);
  let nextFilter = 0;
  const conv2D = getKernel(Conv2D, 'wasm')!.kernelFunc;
  const times = bestTimes({
    'forward, same filter': kernelCall(conv2D, { x, filter }, attrs),
    'forward, new filter': () => kernelCall(conv2D, { x, filter: freshFilters[nextFilter++ % freshFilters.length]! }, attrs)(),
    'stock dx': kernelCall(stockDx, { dy, filter }, { ...attrs, inputShape: x.shape }),
    'our dx': kernelCall(getKernel(Conv2DBackpropInput, 'wasm')!.kernelFunc, { dy, filter }, { ...attrs, inputShape: x.shape }),
    'our dw': kernelCall(getKernel(Conv2DBackpropFilter, 'wasm')!.kernelFunc, { x, dy }, { ...attrs, filterShape: filter.shape }),
  });
  for (const [name, ms] of Object.entries(times)) {
    console.log(`${name.padEnd(20)} ${((flop / ms) * 1e-6).toFixed(1).padStart(6)} GFLOP/s  (${ms.toFixed(1)} ms)`);
  }
  console.log(`${'stock dw'.padEnd(20)} kernel missing in tfjs-backend-wasm`);
  tf.dispose([x, filter, y, dy, ...freshFilters]);
}

function benchTrainingStep(name: string): void {
  const model = buildModel(name, { inputShape: [32, 32, 3], numClasses: 10, seed: 1 });
  const x = tf.randomNormal([batch, 32, 32, 3]);
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10);
  const optimizer = tf.train.momentum(0.01, 0.9);
  const variables = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const times: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const start = performance.now();
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor, undefined, 0.1) as tf.Scalar,
      variables,
    );
    optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]); // typed as Variables, used as tensors
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
    times.push(performance.now() - start);
  }
  const steady = times.slice(1);
  const best = Math.min(...steady);
  console.log(
    `${name} training step, batch ${batch}: best ${(best / 1000).toFixed(2)} s (${((batch * 1000) / best).toFixed(1)} img/s), ` +
      `steps ${steady.map((t) => (t / 1000).toFixed(2)).join(' ')} s`,
  );
  tf.dispose([x, labels]);
  optimizer.dispose();
  model.dispose();
}

await tf.setBackend('wasm');
console.log(
  `wasm SIMD ${await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')}; conv ${kernelSize}×${kernelSize} stride ${stride}, ` +
    `batch ${batch}, ${size}×${size}×${channels} → ${channels}, best of ${repeats}`,
);
benchConv();
if (resnet) benchTrainingStep(resnet);
