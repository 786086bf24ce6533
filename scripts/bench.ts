/**
 * `npm run bench`: training-step and eval throughput of the CIFAR ResNets on every backend that loads,
 * against PyTorch on the same machine in the same run (when `python3 -c "import torch"` works, or the
 * Python named by $PYTHON has torch: a virtual environment's, say).
 *
 * Each (backend, model) pair runs in its own child process, so its peak RSS is its own. A train step is
 * src/train/step.ts's trainStep (forward in training mode, per-sample label-smoothed cross-entropy,
 * weighted mean, backward) with src/train/sgd.ts's SGD (momentum 0.9, weight decay 5e-4), the trainer's
 * own code; PyTorch runs the same models and step (scripts/bench-torch.py). Times are medians over
 * --steps steps after --warmup steps. Prints a table and writes the results as JSON (--json).
 *
 *   npm run bench -- [--models ResNet20,ResNet18] [--backends native,wasm] [--batch 128] [--steps 5]
 *                    [--warmup 2] [--threads N] [--json PATH] [--no-torch]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findTorchPython } from './torch-python.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface RunResult {
  backend: string;
  model: string;
  batch: number;
  threads?: number;
  params?: number;
  trainStepSeconds?: number;
  trainImagesPerSecond?: number;
  evalStepSeconds?: number;
  evalImagesPerSecond?: number;
  peakRssMiB?: number;
  version?: string;
  error?: string;
}

interface Options {
  models: string[];
  backends: string[] | null;
  batch: number;
  steps: number;
  warmup: number;
  threads: number;
  json: string;
  torch: boolean;
  timeoutMinutes: number;
  /** Activate backends as `auto` would (set for the default backend list). */
  asAuto: boolean;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) fail(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

const BENCH_FLAGS = {
  models: { type: 'string' },
  backends: { type: 'string' },
  batch: { type: 'string' },
  steps: { type: 'string' },
  warmup: { type: 'string' },
  threads: { type: 'string' },
  json: { type: 'string' },
  'no-torch': { type: 'boolean' },
  'timeout-minutes': { type: 'string' },
  'as-auto': { type: 'boolean' },
} as const;

function parseOptions(argv: string[]): Options {
  let values: ReturnType<typeof parseArgs<{ options: typeof BENCH_FLAGS; strict: true }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options: BENCH_FLAGS, strict: true }));
  } catch (error) {
    fail((error as Error).message);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    models: (values.models ?? 'ResNet20,ResNet18').split(',').filter(Boolean),
    backends: values.backends ? values.backends.split(',').filter(Boolean) : null,
    batch: positiveInt(values.batch, 'batch', 128),
    steps: positiveInt(values.steps, 'steps', 5),
    warmup: positiveInt(values.warmup, 'warmup', 2),
    threads: positiveInt(values.threads, 'threads', os.availableParallelism()),
    json: values.json ?? path.join('bench-results', `bench-${stamp}.json`),
    torch: !values['no-torch'],
    timeoutMinutes: positiveInt(values['timeout-minutes'], 'timeout-minutes', 30),
    asAuto: values['as-auto'] ?? false,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Child mode: one backend, one model; prints one JSON line. */
async function runChild(backendName: string, modelName: string, options: Options): Promise<RunResult> {
  const tf = await import('@tensorflow/tfjs-core');
  const { selectBackend } = await import('../src/backend/select.js');
  const { buildModel } = await import('../src/models/registry.js');
  const { trainStep, trainableVariables } = await import('../src/train/step.js');
  const { SgdMomentum } = await import('../src/train/sgd.js');
  const { RECIPE } = await import('./gpu-check-train-step.js');
  if (options.asAuto) {
    // As `auto` would take it: a software-emulated GPU, say, declines instead of running for hours.
    const { BACKENDS } = await import('../src/backend/select.js');
    await BACKENDS.find((b) => b.name === backendName)!.activate({ byName: false, precision: 'fp32' });
  } else {
    await selectBackend(backendName);
  }
  let version: string | undefined;
  if (backendName === 'native') {
    const native = await import('../src/backend/native.js');
    native.setNativeThreads(options.threads);
    const info = native.nativeInfo();
    version = `oneDNN ${info.onednn} (${info.isa})`;
  }
  const { batch } = options;
  const model = buildModel(modelName, { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
  const params = model.countParams();
  const variables = trainableVariables(model);
  const optimizer = new SgdMomentum(variables, RECIPE.weightDecay);
  const images = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 1) as import('@tensorflow/tfjs-core').Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32');
  // InfoBatch's weights: 1 for most samples, 1/(1 − r) = 2 for the kept well-learned ones.
  const weights = tf.tensor1d(Array.from({ length: batch }, (_, i) => (i % 4 === 0 ? 2 : 1)));
  const input = { images, labels, weights, lr: 0.01, momentum: RECIPE.momentum, labelSmoothing: RECIPE.labelSmoothing };

  const trainTimes: number[] = [];
  for (let i = 0; i < options.warmup + options.steps; i++) {
    const start = performance.now();
    await trainStep(model, variables, optimizer, input);
    if (i >= options.warmup) trainTimes.push((performance.now() - start) / 1000);
  }
  const evalStep = async () => {
    // The whole batch in one pass, as PyTorch does (predict's default splits it into batches of 32).
    const predicted = tf.tidy(() => tf.argMax(model.predict(images, { batchSize: batch }) as import('@tensorflow/tfjs-core').Tensor, 1));
    await predicted.data();
    predicted.dispose();
  };
  await evalStep();
  const evalTimes: number[] = [];
  for (let i = 0; i < options.steps; i++) {
    const start = performance.now();
    await evalStep();
    evalTimes.push((performance.now() - start) / 1000);
  }
  const trainStepSeconds = median(trainTimes);
  const evalStepSeconds = median(evalTimes);
  return {
    backend: backendName,
    model: modelName,
    batch,
    threads: backendName === 'native' ? options.threads : undefined,
    version,
    params,
    trainStepSeconds,
    trainImagesPerSecond: batch / trainStepSeconds,
    evalStepSeconds,
    evalImagesPerSecond: batch / evalStepSeconds,
    // maxRSS is in KiB.
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

function lastJsonLine(text: string): unknown {
  const line = text.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  return line ? JSON.parse(line) : undefined;
}

/** The thrown error's own line (`Error: …`) if there is one, else the first line that looks like an error. */
function errorLine(stdout: string, stderr: string, status: number | null, signal: string | null): string {
  const lines = `${stderr}\n${stdout}`.split('\n').map((l) => l.trim());
  const thrown = lines.find((l) => /^[A-Za-z]*Error( \[[A-Z_]+\])?: /.test(l));
  const likely = lines.find((l) => /error|cannot|unavailable|memory|abort|killed/i.test(l));
  return (thrown ?? likely ?? `exited with ${status ?? signal}`).replace(/^Error: /, '').slice(0, 240);
}

function runChildProcess(backend: string, model: string, options: Options, argv: string[]): RunResult {
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', backend, model, ...argv], {
    cwd: root,
    encoding: 'utf8',
    timeout: options.timeoutMinutes * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const parsed = lastJsonLine(child.stdout ?? '') as RunResult | undefined;
  if (child.status === 0 && parsed) return parsed;
  const timedOut = child.error && (child.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  return { backend, model, batch: options.batch, error: timedOut ? `timed out after ${options.timeoutMinutes} min` : errorLine(child.stdout ?? '', child.stderr ?? '', child.status, child.signal) };
}

function runTorch(python: string, model: string, options: Options): RunResult {
  const args = [path.join(root, 'scripts', 'bench-torch.py'), '--model', model, '--batch', String(options.batch), '--threads', String(options.threads), '--steps', String(options.steps), '--warmup', String(options.warmup), '--eval-steps', String(options.steps)];
  const child = spawnSync(python, args, { encoding: 'utf8', timeout: options.timeoutMinutes * 60_000 });
  const parsed = lastJsonLine(child.stdout ?? '') as RunResult | undefined;
  if (child.status === 0 && parsed) return parsed;
  return { backend: 'pytorch', model, batch: options.batch, error: errorLine(child.stdout ?? '', child.stderr ?? '', child.status, child.signal) };
}

/** The InfoBatch bookkeeping of one CIFAR-10 epoch (N = 50,000): plan, batches, score updates. */
async function bookkeepingSeconds(batch: number): Promise<{ seconds: number; batches: number }> {
  const { InfoBatch } = await import('../src/infobatch/index.js');
  const numSamples = 50_000;
  const infobatch = new InfoBatch({ numSamples, epochs: 200, batchSize: batch, ratio: 0.5, delta: 0.875, seed: 0 });
  const losses = Float32Array.from({ length: batch }, (_, i) => 0.5 + (i % 17) / 10);
  const times: number[] = [];
  for (let epoch = 0; epoch < 4; epoch++) {
    const start = performance.now();
    const plan = infobatch.planEpoch(epoch);
    for (let b = 0; b < plan.numBatches; b++) {
      const { indices } = infobatch.batch(plan, b);
      infobatch.updateScores(indices, losses.subarray(0, indices.length));
    }
    times.push((performance.now() - start) / 1000);
  }
  // Epoch 0 trains on everything; later epochs prune. Take the slowest pruning epoch.
  return { seconds: Math.max(...times.slice(1)), batches: Math.ceil(numSamples / batch) };
}

function cpuModel(): string {
  return os.cpus()[0]?.model.trim() ?? 'unknown CPU';
}

function gitCommit(): string | undefined {
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  return git.status === 0 ? git.stdout.trim() : undefined;
}

function fmt(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const childAt = argv.indexOf('--child');
  if (childAt >= 0) {
    const [backend, model] = argv.slice(childAt + 1, childAt + 3);
    const rest = [...argv.slice(0, childAt), ...argv.slice(childAt + 3)];
    const result = await runChild(backend!, model!, parseOptions(rest));
    console.log(JSON.stringify(result));
    return;
  }
  const options = parseOptions(argv);
  const { BACKENDS } = await import('../src/backend/select.js');
  const { MODEL_NAMES } = await import('../src/models/registry.js');
  for (const model of options.models) if (!(MODEL_NAMES as string[]).includes(model)) fail(`unknown model "${model}"; choose from ${MODEL_NAMES.join(', ')}`);
  const known = BACKENDS.map((b) => b.name);
  for (const backend of options.backends ?? []) if (!known.includes(backend)) fail(`unknown backend "${backend}"; choose from ${known.join(', ')}`);
  if (existsSync(options.json)) fail(`${options.json} exists; pass another --json path`);
  // Every backend `auto` may pick, as auto would activate it; cpu (pure JS) takes hours per ResNet-18
  // step at batch 128: only when asked for.
  const backends = options.backends ?? BACKENDS.filter((b) => b.auto && b.name !== 'cpu').map((b) => b.name);
  const torch = options.torch ? findTorchPython() : null;
  if (options.torch && !torch) console.log('bench: PyTorch not found (python3 -c "import torch" fails): no reference column. Debian: apt-get install python3-torch');

  const childArgv = ['--batch', String(options.batch), '--steps', String(options.steps), '--warmup', String(options.warmup), '--threads', String(options.threads)];
  if (!options.backends) childArgv.push('--as-auto');
  const results: RunResult[] = [];
  for (const model of options.models) {
    if (torch) {
      console.log(`bench: ${model} on pytorch …`);
      results.push(runTorch(torch.python, model, options));
    }
    for (const backend of backends) {
      console.log(`bench: ${model} on ${backend} …`);
      results.push(runChildProcess(backend, model, options, childArgv));
    }
  }
  const bookkeeping = await bookkeepingSeconds(options.batch);

  console.log(`\n${cpuModel()}, ${os.availableParallelism()} cores; batch ${options.batch}, median of ${options.steps} steps after ${options.warmup} warm-up; ${options.threads} threads`);
  for (const r of results.filter((x) => x.version)) console.log(`${r.model} ${r.backend}: ${r.version}`);
  console.log('model      backend          train img/s  eval img/s  peak RSS MiB   train×torch  eval×torch  RSS×torch');
  for (const r of results) {
    const ref = results.find((t) => t.backend === 'pytorch' && t.model === r.model && !t.error);
    const ratio = (a?: number, b?: number) => (ref && a !== undefined && b ? fmt(a / b, 2) : '—');
    if (r.error) {
      console.log(`${r.model.padEnd(10)} ${r.backend.padEnd(16)} failed: ${r.error}`);
      continue;
    }
    console.log(
      `${r.model.padEnd(10)} ${r.backend.padEnd(16)} ${fmt(r.trainImagesPerSecond).padStart(11)} ${fmt(r.evalImagesPerSecond).padStart(11)} ${fmt(r.peakRssMiB, 0).padStart(13)}   ${ratio(r.trainImagesPerSecond, ref?.trainImagesPerSecond).padStart(11)} ${ratio(r.evalImagesPerSecond, ref?.evalImagesPerSecond).padStart(11)} ${ratio(r.peakRssMiB, ref?.peakRssMiB).padStart(10)}`,
    );
  }
  for (const model of options.models) {
    const native = results.find((r) => r.backend === 'native' && r.model === model && !r.error);
    const wasm = results.find((r) => r.backend === 'wasm' && r.model === model && !r.error);
    if (native && wasm) console.log(`${model}: native trains ${fmt(native.trainImagesPerSecond! / wasm.trainImagesPerSecond!, 1)}× as fast as wasm`);
    const fastest = results.filter((r) => r.model === model && !r.error && r.backend !== 'pytorch').sort((a, b) => a.trainStepSeconds! - b.trainStepSeconds!)[0];
    if (fastest) {
      const epochSeconds = fastest.trainStepSeconds! * bookkeeping.batches;
      console.log(`${model}: InfoBatch bookkeeping ${fmt(bookkeeping.seconds * 1000, 1)} ms per CIFAR-10 epoch = ${fmt((100 * bookkeeping.seconds) / epochSeconds, 3)} % of an epoch on ${fastest.backend} (${fmt(epochSeconds, 0)} s)`);
    }
  }

  const report = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: { cpu: cpuModel(), cores: os.availableParallelism(), memoryGiB: os.totalmem() / 2 ** 30, node: process.version, torch: torch?.version },
    options: { batch: options.batch, steps: options.steps, warmup: options.warmup, threads: options.threads },
    results,
    bookkeeping: { cifar10EpochSeconds: bookkeeping.seconds, batchesPerEpoch: bookkeeping.batches },
  };
  mkdirSync(path.dirname(path.resolve(options.json)), { recursive: true });
  writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${options.json}`);
}

await main();
