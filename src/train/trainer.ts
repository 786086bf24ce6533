import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, prunes, validateConfig, type TrainConfig } from '../config.js';
import { BackendError, selectBackend } from '../backend/select.js';
import { isCudaOutOfMemory } from '../backend/cuda/addon.js';
import { BatchMaker } from '../data/augment.js';
import { limitSplit, type ImageSplit } from '../data/dataset.js';
import { isDatasetName, loadDatasetFor, DATASET_NAMES } from '../data/registry.js';
import { InfoBatch, seededRandom } from '../infobatch/index.js';
import { buildModel, isModelName, MODEL_NAMES } from '../models/registry.js';
import {
  appendEpochRow, assertWritableDir, checkpointExists, CHECKPOINT_VERSION, DEFAULT_LOG_DIR, DEFAULT_MODEL_DIR, loadCheckpoint, readRunRecord,
  removeStaleLeftovers, runPaths, saveCheckpoint, saveModel, tryLock, writeEpochLog, writeRunRecord, type CheckpointState, type EpochRow,
  type RunPaths, type RunRecord, type RunStatus,
} from '../runs/index.js';
import { checkFiniteLosses, checkFiniteTestLoss, DivergenceError } from './divergence.js';
import type { InterruptionRequest } from './interruption.js';
import { evaluate } from './evaluate.js';
import { EpochProgress } from './progress.js';
import { OneCycleSchedule } from './schedule.js';
import { SgdMomentum } from './sgd.js';
import { runEpoch, type EpochResult } from './epoch.js';
import { imageStepSpec, trainableVariables } from './step.js';

/**
 * The training loop: InfoBatch epoch plans, whole-batch augmentation, per-step OneCycle, evaluation after
 * every epoch, best-model saving, per-epoch checkpoints and log rows. Timing covers the training batches
 * (data preparation, steps and InfoBatch bookkeeping) and excludes evaluation and file writes, as the
 * reproduction's "training time" does.
 */
export interface TrainOptions {
  /** Continue the run from its last checkpoint. */
  readonly resume?: boolean;
  /** Delete the experiment's existing files and start over. */
  readonly overwrite?: boolean;
  readonly log?: (line: string) => void;
  /** Progress bars on a TTY (default: when stderr is a TTY). */
  readonly interactive?: boolean;
  /** Folders of the run's files (src/runs/layout.ts); default logs/ and saved_models/. */
  readonly logDir?: string;
  readonly modelDir?: string;
  /** Stop after this many epochs of this invocation (simulates an interruption in tests). */
  readonly stopAfterEpochs?: number;
  /** Polled between batches: once requested, the run stops after the current batch (the CLI wires Ctrl-C to it). */
  readonly interruption?: InterruptionRequest;
}

export interface TrainSummary {
  readonly experimentName: string;
  readonly status: RunStatus;
  readonly backend: string;
  readonly bestTestAcc: number;
  readonly bestEpoch: number;
  readonly elapsedSeconds: number;
  readonly samplesTrained: number;
  readonly samplesFull: number;
  /** 1 − samplesTrained / samplesFull, in percent. */
  readonly savedPercent: number;
  readonly paths: RunPaths;
}

/** Config fields a resumed run may change: they do not alter what the run computes. */
const RESUMABLE_CHANGES: ReadonlySet<keyof TrainConfig> = new Set(['backend', 'dataDir', 'mirror', 'evalBatchSize']);

/** Checks everything that can be checked without loading data or models; throws ConfigError. */
async function preflight(config: TrainConfig, options: TrainOptions, paths: RunPaths): Promise<RunRecord | null> {
  validateConfig(config);
  if (!isModelName(config.model)) throw new ConfigError(`unknown model "${config.model}"; choose one of: ${MODEL_NAMES.join(', ')}`);
  if (!isDatasetName(config.dataset)) throw new ConfigError(`unknown dataset "${config.dataset}"; choose one of: ${DATASET_NAMES.join(', ')}`);
  if (options.resume && options.overwrite) throw new ConfigError('--resume and --overwrite contradict each other; pass one');
  assertWritableDir(dirname(paths.log), '--log_dir');
  assertWritableDir(dirname(paths.modelDir), '--model_dir');
  const existing = [paths.log, paths.modelDir].filter((p) => existsSync(p));
  if (options.resume) {
    const record = readRunRecord(paths.record);
    if (!checkpointExists(paths.checkpoint) || record === null) {
      throw new ConfigError(`nothing to resume: no checkpoint of "${config.experimentName}" in ${paths.checkpoint}`);
    }
    const changed = (Object.keys(record.config) as (keyof TrainConfig)[]).filter(
      (key) => !RESUMABLE_CHANGES.has(key) && JSON.stringify(record.config[key]) !== JSON.stringify(config[key]),
    );
    if (changed.length > 0) {
      const list = changed.map((key) => `${key} was ${JSON.stringify(record.config[key])}, now ${JSON.stringify(config[key])}`).join('; ');
      throw new ConfigError(`cannot resume "${config.experimentName}" with different settings (${list}); use the original flags or a new --experiment_name`);
    }
    return record;
  }
  if (existing.length > 0 && !options.overwrite) {
    throw new ConfigError(
      `experiment "${config.experimentName}" already has files (${existing.join(', ')}); pass --resume to continue it, ` +
        '--overwrite to delete them and start over, or choose another --experiment_name',
    );
  }
  return null;
}

function summaryOf(record: RunRecord, paths: RunPaths): TrainSummary {
  return {
    experimentName: record.config.experimentName,
    status: record.status,
    backend: record.backend,
    bestTestAcc: record.bestTestAcc,
    bestEpoch: record.bestEpoch,
    elapsedSeconds: record.elapsedSeconds,
    samplesTrained: record.samplesTrained,
    samplesFull: record.samplesFull,
    savedPercent: record.samplesFull > 0 ? 100 * (1 - record.samplesTrained / record.samplesFull) : 0,
    paths,
  };
}

interface EpochContext {
  readonly config: TrainConfig;
  readonly model: tfl.LayersModel;
  readonly variables: readonly tf.Variable[];
  readonly optimizer: SgdMomentum;
  readonly sampler: InfoBatch;
  readonly schedule: OneCycleSchedule;
  readonly batchMaker: BatchMaker;
  readonly train: ImageSplit;
  readonly progress: EpochProgress;
  readonly interruption: InterruptionRequest | undefined;
}

/**
 * Plans and trains one epoch through the shared epoch runner (the library's `fit` runs the same one):
 * whole-batch augmentation, OneCycle per step, per-sample losses read back lagged and fed to InfoBatch.
 * The progress bar shows what has been read back, a few batches behind the steps. A non-finite loss read
 * back stops the run (DivergenceError naming the batch that produced it); an interruption request ends
 * the epoch early (`stopped`), and that partial epoch is not saved.
 */
async function trainEpoch(context: EpochContext, epoch: number, label: string): Promise<EpochResult> {
  const { config, model, variables, optimizer, sampler, schedule, batchMaker, train, progress, interruption } = context;
  const augmentRandom = seededRandom('augment', config.seed, epoch);
  const result = await runEpoch(
    {
      sampler,
      step: imageStepSpec(model, variables, optimizer, config.labelSmoothing),
      onEpochStart: (plan) => progress.start(label, plan.numBatches),
      makeBatch: async (indices) => {
        // Let the event loop turn once per batch: on cpu/wasm a whole epoch otherwise runs on microtasks
        // only, and Ctrl-C/SIGTERM would be noticed at the epoch's end instead of after this batch.
        if (interruption) await new Promise<void>((resolve) => setImmediate(resolve));
        const pixels = batchMaker.make(train, indices, { augment: true, cropPadding: config.cropPadding, random: augmentRandom });
        return { inputs: tf.tensor4d(pixels.images, pixels.shape), targets: tf.tensor1d(pixels.labels, 'int32') };
      },
      hyper: (e, b, numBatches) => schedule.forStep(e, b, numBatches),
      onBatchLosses: ({ batch, losses, samplesRead, runningLoss }) => {
        checkFiniteLosses(losses, epoch, batch);
        progress.update(batch + 1, samplesRead, runningLoss);
      },
      shouldStop: () => interruption?.requested ?? false,
    },
    epoch,
  );
  progress.stop();
  return result;
}

export async function runTraining(config: TrainConfig, options: TrainOptions = {}): Promise<TrainSummary> {
  try {
    return await train(config, options);
  } catch (error) {
    throw isCudaOutOfMemory(error) ? outOfGpuMemory(config, error) : error;
  }
}

/** The one line for a GPU out of memory. Files are written only at epoch ends, so they are intact. */
export function outOfGpuMemory(config: Pick<TrainConfig, 'batchSize' | 'evalBatchSize'>, error: unknown): BackendError {
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return new BackendError(
    `out of GPU memory with --train_batch_size ${config.batchSize} (--eval_batch_size ${config.evalBatchSize}): ${reason}; ` +
      `try a smaller batch, e.g. --train_batch_size ${Math.max(1, Math.floor(config.batchSize / 2))}; the last checkpoint and the best model are intact`,
  );
}

async function train(config: TrainConfig, options: TrainOptions): Promise<TrainSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  const paths = runPaths(config.experimentName, { logDir: options.logDir ?? DEFAULT_LOG_DIR, modelDir: options.modelDir ?? DEFAULT_MODEL_DIR });
  // Checked twice: first without touching anything, then again under the lock (another run may have
  // written the experiment's files between the two).
  await preflight(config, options, paths);
  const lock = lockExperiment(config.experimentName, paths);
  try {
    return await trainLocked(config, options, paths, log);
  } finally {
    lock();
  }
}

/** Takes the experiment's lock (creating --model_dir); refuses, naming the holder, if a live process has it. */
function lockExperiment(name: string, paths: RunPaths): () => void {
  const created = mkdirSync(dirname(paths.lock), { recursive: true });
  // A run that fails before writing anything leaves no empty --model_dir behind either.
  const removeCreated = (): void => {
    if (created === undefined) return;
    try {
      rmdirSync(dirname(paths.lock));
    } catch {
      // not empty: the run wrote files, keep the folder
    }
  };
  const attempt = tryLock(paths.lock);
  if (!attempt.acquired) {
    removeCreated();
    const who = attempt.holder > 0 ? `process ${attempt.holder}` : 'another process';
    throw new ConfigError(`experiment "${name}" is being trained by ${who} (lock ${paths.lock}); wait for it to finish, or choose another --experiment_name`);
  }
  return () => {
    attempt.release();
    removeCreated();
  };
}

/** Removes what killed writes of this experiment left behind (temp files, staged checkpoints of dead processes). */
function removeLeftovers(config: TrainConfig, paths: RunPaths, log: (line: string) => void): void {
  const removed = [
    ...removeStaleLeftovers(dirname(paths.log), `${config.experimentName}.csv.`),
    ...removeStaleLeftovers(paths.modelDir),
    ...removeStaleLeftovers(paths.checkpoint),
  ];
  if (removed.length > 0) log(`removed ${removed.length} leftover file(s) of an interrupted write: ${removed.join(', ')}`);
}

/** Says before training when an InfoBatch run will prune nothing (too few epochs for its δ). */
function pruningLine(config: TrainConfig, pruneUntilEpoch: number): string {
  if (!prunes(config)) return 'InfoBatch off: full data every epoch (baseline)';
  const how = `${config.pruneStrategy} pruning${config.rescale ? ', rescaled' : ', no rescaling'}`;
  // Epoch 1 always trains on everything (all scores start equal), so pruning needs ⌊δ·E⌋ ≥ 2.
  if (pruneUntilEpoch <= 1) {
    return (
      `InfoBatch: r = ${config.ratio}, δ = ${config.delta}: nothing will be pruned in ${config.epochs} epoch(s) ` +
      `(epoch 1 always uses all data and ⌊δ·E⌋ = ${pruneUntilEpoch}); use more --num_epoch or a larger --delta`
    );
  }
  return `InfoBatch: r = ${config.ratio}, δ = ${config.delta} (${how}), pruning in epochs 2–${pruneUntilEpoch} of ${config.epochs}`;
}

async function trainLocked(config: TrainConfig, options: TrainOptions, paths: RunPaths, log: (line: string) => void): Promise<TrainSummary> {
  const previous = await preflight(config, options, paths);
  if (previous?.status === 'complete') {
    log(`"${config.experimentName}" is already complete (${previous.config.epochs} epochs); nothing to resume`);
    return summaryOf(previous, paths);
  }
  removeLeftovers(config, paths, log);

  // Data before the backend: a missing dataset is said at once, without probing (and warnings of) GPUs.
  const dataset = await loadDatasetFor(config, log);
  const pixels = dataset.height * dataset.width * dataset.channels;
  const train = limitSplit(dataset.train, config.trainLimit, pixels);
  const test = limitSplit(dataset.test, config.testLimit, pixels);
  const backend = await selectBackend(config.backend, log, { precision: config.precision });
  log(`data: ${dataset.name}, ${train.count} train / ${test.count} test images of ${dataset.height}×${dataset.width}×${dataset.channels}, ${dataset.numClasses} classes`);

  const sampler = new InfoBatch({
    numSamples: train.count,
    epochs: config.epochs,
    batchSize: config.batchSize,
    ratio: prunes(config) ? config.ratio : 0,
    delta: prunes(config) ? config.delta : 0,
    seed: config.seed,
    pruneStrategy: config.pruneStrategy,
    rescale: config.rescale,
    anneal: config.anneal,
  });
  const annealStartEpoch = sampler.pruneUntilEpoch > 0 && sampler.pruneUntilEpoch < config.epochs ? sampler.pruneUntilEpoch + 1 : null;

  let model: tfl.LayersModel;
  let optimizerState: Float32Array = new Float32Array(0);
  let state: CheckpointState = { version: CHECKPOINT_VERSION, epochsDone: 0, elapsedSeconds: 0, bestTestAcc: -1, bestEpoch: 0, samplesTrained: 0, samplesFull: 0, rows: [] };
  if (previous) {
    const checkpoint = await loadCheckpoint(paths.checkpoint, train.count);
    if (!checkpoint) throw new ConfigError(`checkpoint of "${config.experimentName}" disappeared`);
    ({ model, state } = checkpoint);
    optimizerState = checkpoint.optimizer;
    sampler.restoreScores(checkpoint.scores);
    await writeEpochLog(paths.log, state.rows);
    log(`resuming "${config.experimentName}" after epoch ${state.epochsDone}/${config.epochs} (best ${state.bestTestAcc.toFixed(2)} % so far)`);
  } else {
    // Only now, with data, backend and folders known good, may --overwrite delete the previous run.
    if (options.overwrite) {
      await rm(paths.log, { force: true });
      await rm(paths.modelDir, { recursive: true, force: true });
    }
    model = buildModel(config.model, { inputShape: [dataset.height, dataset.width, dataset.channels], numClasses: dataset.numClasses, seed: config.seed });
  }
  const parameters = model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
  log(`model: ${config.model}, ${parameters.toLocaleString('en-US')} trainable parameters`);
  log(pruningLine(config, sampler.pruneUntilEpoch));

  const variables = trainableVariables(model);
  const optimizer = new SgdMomentum(variables, config.weightDecay);
  optimizer.setState(optimizerState);
  const schedule = new OneCycleSchedule(config, config.epochs, Math.ceil(train.count / config.batchSize));
  const batchMaker = new BatchMaker(dataset);
  const progress = new EpochProgress(log, options.interactive);
  const startedAt = previous?.startedAt ?? new Date().toISOString();
  const record = (status: RunStatus, divergedAt?: RunRecord['divergedAt']): RunRecord => ({
    config,
    status,
    ...(divergedAt ? { divergedAt } : {}),
    backend: backend.name,
    trainSize: train.count,
    testSize: test.count,
    bestTestAcc: state.bestTestAcc,
    bestEpoch: state.bestEpoch,
    elapsedSeconds: state.elapsedSeconds,
    samplesTrained: state.samplesTrained,
    samplesFull: state.samplesFull,
    annealStartEpoch,
    startedAt,
    updatedAt: new Date().toISOString(),
  });
  await writeRunRecord(paths.record, record('running'));

  let epochsThisCall = 0;
  let interruptedIn: number | null = null;
  try {
    for (let epoch = state.epochsDone; epoch < config.epochs; epoch++) {
      if (options.stopAfterEpochs !== undefined && epochsThisCall >= options.stopAfterEpochs) break;
      const label = `epoch ${epoch + 1}/${config.epochs}`;
      const context = { config, model, variables, optimizer, sampler, schedule, batchMaker, train, progress, interruption: options.interruption };
      const { lossSum, correct, seen, skipped, lastHyper, seconds: epochSeconds, stopped } = await trainEpoch(context, epoch, label);
      if (stopped) {
        interruptedIn = epoch + 1;
        break;
      }
      const lastLr = lastHyper.lr!;

      const evaluation = await evaluate(model, test, batchMaker, { batchSize: config.evalBatchSize, numClasses: dataset.numClasses, labelSmoothing: config.labelSmoothing });
      checkFiniteTestLoss(evaluation.crossEntropy, epoch);
      const row: EpochRow = {
        epoch: epoch + 1,
        lr: lastLr,
        trainSmoothedCe: lossSum / seen,
        trainAcc: (100 * correct!) / seen,
        testSmoothedCe: evaluation.smoothedCrossEntropy,
        testCe: evaluation.crossEntropy,
        testAcc: evaluation.accuracy,
        samples: seen,
        pruned: skipped,
        epochSeconds,
        elapsedSeconds: state.elapsedSeconds + epochSeconds,
      };
      const improved = evaluation.accuracy > state.bestTestAcc;
      state = {
        version: CHECKPOINT_VERSION,
        epochsDone: epoch + 1,
        elapsedSeconds: row.elapsedSeconds,
        bestTestAcc: improved ? evaluation.accuracy : state.bestTestAcc,
        bestEpoch: improved ? epoch + 1 : state.bestEpoch,
        samplesTrained: state.samplesTrained + seen,
        samplesFull: state.samplesFull + train.count,
        rows: [...state.rows, row],
      };
      // Order matters for crash safety: best model, then checkpoint (the source of truth), then the log row.
      if (improved) await saveModel(model, paths.modelDir);
      await saveCheckpoint(paths.checkpoint, model, await optimizer.getState(), sampler.scores, state);
      await appendEpochRow(paths.log, row);
      await writeRunRecord(paths.record, record(epoch + 1 === config.epochs ? 'complete' : 'running'));
      log(
        `${label}: lr ${lastLr.toExponential(2)} | train loss ${row.trainSmoothedCe.toFixed(4)} acc ${row.trainAcc.toFixed(2)} % | ` +
          `test cross-entropy ${row.testCe.toFixed(4)} acc ${row.testAcc.toFixed(2)} %${improved ? ' (best)' : ''} | ` +
          `${seen} samples${skipped ? `, ${skipped} pruned` : ''} | ${epochSeconds.toFixed(1)} s`,
      );
      epochsThisCall++;
    }
  } catch (error) {
    if (error instanceof DivergenceError) {
      progress.stop();
      // The unfinished epoch is not saved: the checkpoint of the last finished epoch stays resumable.
      await writeRunRecord(paths.record, record('diverged', { epoch: error.epoch, batch: error.batch }));
    }
    throw error;
  } finally {
    optimizer.dispose();
    model.dispose();
  }

  const status: RunStatus = state.epochsDone === config.epochs ? 'complete' : interruptedIn !== null ? 'interrupted' : 'running';
  const final = record(status);
  if (status === 'interrupted') await writeRunRecord(paths.record, final);
  const summary = summaryOf(final, paths);
  if (summary.status === 'complete') {
    log(
      `done: best test accuracy ${summary.bestTestAcc.toFixed(2)} % (epoch ${summary.bestEpoch}), training time ` +
        `${(summary.elapsedSeconds / 60).toFixed(2)} min, sample-steps saved ${summary.savedPercent.toFixed(1)} % ` +
        `(${summary.samplesTrained} of ${summary.samplesFull}); log ${paths.log}, model ${paths.modelDir}/`,
    );
  } else if (status === 'interrupted' && state.epochsDone === 0) {
    log(`interrupted in epoch ${interruptedIn}/${config.epochs}, before any epoch finished: nothing to resume; start it again with --overwrite`);
  } else if (status === 'interrupted') {
    log(
      `interrupted in epoch ${interruptedIn}/${config.epochs} (its batches are not kept): ${state.epochsDone} epoch(s) finished and saved; ` +
        `resume with: ${resumeCommand(config.experimentName, options)}`,
    );
  } else {
    log(`stopped after epoch ${state.epochsDone}/${config.epochs}; continue with --resume`);
  }
  return summary;
}


/** The command that continues this run with its saved settings (folders given only when not the defaults). */
export function resumeCommand(experimentName: string, options: Pick<TrainOptions, 'logDir' | 'modelDir'>): string {
  const quote = (value: string): string => (/^[\w./:@%+=-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`);
  const parts = ['infobatch', 'train', '--experiment_name', quote(experimentName), '--resume'];
  if (options.logDir !== undefined && options.logDir !== 'logs') parts.push('--log_dir', quote(options.logDir));
  if (options.modelDir !== undefined && options.modelDir !== 'saved_models') parts.push('--model_dir', quote(options.modelDir));
  return parts.join(' ');
}
