import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from '../backend/select.js';
import { InfoBatch, type InfoBatchOptions } from '../infobatch/index.js';
import { checkReadLag, DEFAULT_READ_LAG, runEpoch, type BatchRead, type EpochRunner } from './epoch.js';
import { dataSource, type DataSource, type FitData } from './fit-data.js';
import { LOSS_NAMES, PER_SAMPLE_LOSSES, type LossName } from './loss.js';
import type { StepPosition } from './schedule.js';
import { SgdMomentum } from './sgd.js';
import { argmaxCorrect, sgdUpdater, tfOptimizerUpdater, trainableVariables, type CorrectCount, type PerSampleLoss, type StepHyper, type StepUpdater, type TfOptimizer } from './step.js';

/**
 * `fit`: InfoBatch training for any tfjs-layers model and any in-memory dataset (or batch builder), the
 * library face of the same epoch runner (epoch.ts) and step (step.ts) the CLI's trainer uses.
 * Errors are exceptions (RangeError/TypeError with the option's name), thrown before any training.
 */

/** Our SGD with torch semantics (momentum, L2 weight decay); momentum may also come from the schedule. */
export interface SgdConfig {
  readonly type: 'sgd';
  readonly momentum?: number;
  readonly weightDecay?: number;
}

/** lr of every step, or per step: a function, or an object with forStep (e.g. OneCycleSchedule). */
export type LearningRate =
  | number
  | ((step: StepPosition) => number | StepHyper)
  | { forStep(epoch: number, batch: number, numBatches: number): StepHyper };

export interface BatchLogs {
  readonly epoch: number;
  readonly batch: number;
  readonly numBatches: number;
  /** The batch's unweighted per-sample losses (its samples' new scores) and their mean. */
  readonly losses: Float32Array;
  readonly loss: number;
  /** Share of right predictions in the batch (0..1); null without accuracy. */
  readonly accuracy: number | null;
  readonly lr: number | undefined;
  /** Samples of this epoch trained up to this batch, and samples this epoch skips. */
  readonly samplesTrained: number;
  readonly samplesPruned: number;
}

export interface EpochLogs {
  readonly epoch: number;
  /** Mean unweighted per-sample training loss, and training accuracy (0..1, null without accuracy). */
  readonly loss: number;
  readonly accuracy: number | null;
  readonly samplesTrained: number;
  readonly samplesPruned: number;
  /** Whether the epoch is in InfoBatch's pruning phase (e < ⌊δ·E⌋); epoch 0 prunes nothing all the same (equal scores). */
  readonly pruning: boolean;
  readonly lr: number | undefined;
  /** Training wall time of the epoch (without validation). */
  readonly seconds: number;
  readonly valLoss?: number;
  readonly valAccuracy?: number | null;
}

export interface FitCallbacks {
  readonly onEpochBegin?: (epoch: number, info: { numBatches: number; samples: number; pruned: number }) => void | Promise<void>;
  /**
   * After a batch's losses were read back: up to `readLag` batches after its step (steps never wait for
   * the device), always in order and all before onEpochEnd. Throwing stops training (e.g. a NaN check).
   */
  readonly onBatchEnd?: (logs: BatchLogs) => void | Promise<void>;
  readonly onEpochEnd?: (logs: EpochLogs) => void | Promise<void>;
}

export interface FitOptions {
  readonly epochs: number;
  readonly batchSize: number;
  /** A per-sample loss by name, or your own (targets, predictions) → one loss per sample. */
  readonly loss: LossName | PerSampleLoss;
  /** Label smoothing of `softmaxCrossEntropy` (default 0). */
  readonly labelSmoothing?: number;
  /**
   * InfoBatch settings (default r = 0.5, δ = 0.875, as the paper); false trains on the full data every
   * epoch (the baseline), through the same loop.
   */
  readonly infobatch?: false | Partial<Pick<InfoBatchOptions, 'ratio' | 'delta' | 'pruneStrategy' | 'rescale' | 'anneal'>>;
  /** Seeds InfoBatch's pruning and the shuffles (default 0). The model's initial weights are yours. */
  readonly seed?: number;
  /** Default: our SGD, momentum 0.9, no weight decay. Any tf.train optimizer works too. */
  readonly optimizer?: SgdConfig | TfOptimizer;
  /** Default 0.01 for our SGD; for a tf.train optimizer, omit it to keep the optimizer's own. */
  readonly learningRate?: LearningRate;
  /** Count right argmax predictions (default: on for the cross-entropies, off otherwise). */
  readonly accuracy?: boolean;
  /** Evaluated after every epoch in inference mode (unweighted mean loss, accuracy). */
  readonly validationData?: FitData;
  readonly evalBatchSize?: number;
  readonly callbacks?: FitCallbacks;
  /** Activates a backend first, by name ('native', 'wasm', 'webgpu', 'cpu'…) or 'auto'. Default: keep the current one. */
  readonly backend?: string;
  /** Receives the backend line. Default: silent. */
  readonly log?: (line: string) => void;
  /** Steps dispatched before a batch's losses are read back (default 4; 0 = read each batch at once). */
  readonly readLag?: number;
  /** Polled before every batch and epoch; true ends training after reading back what was dispatched. */
  readonly shouldStop?: () => boolean;
}

export interface FitHistory {
  readonly epochs: EpochLogs[];
  readonly samplesTrained: number;
  /** Sample-steps of the full-data run: epochs × N. */
  readonly samplesFull: number;
  /** 1 − samplesTrained / samplesFull. */
  readonly savedFraction: number;
  readonly stopped: boolean;
  /** The tfjs backend that trained (tf.getBackend()). */
  readonly backend: string;
  /** The InfoBatch instance (final scores, plans). */
  readonly infobatch: InfoBatch;
}

const CROSS_ENTROPIES: ReadonlySet<string> = new Set(['softmaxCrossEntropy', 'categoricalCrossentropy']);

function perSampleLoss(options: FitOptions): PerSampleLoss {
  if (typeof options.loss === 'function') return options.loss;
  if (options.loss === 'softmaxCrossEntropy') {
    const smoothing = options.labelSmoothing ?? 0;
    if (!(smoothing >= 0 && smoothing < 1)) throw new RangeError(`labelSmoothing must be in [0, 1), got ${smoothing}`);
    return PER_SAMPLE_LOSSES.softmaxCrossEntropy(smoothing);
  }
  if (options.labelSmoothing !== undefined) throw new TypeError('labelSmoothing applies to the softmaxCrossEntropy loss only');
  const make = (PER_SAMPLE_LOSSES as Record<string, (() => PerSampleLoss) | undefined>)[options.loss];
  if (!make) throw new TypeError(`unknown loss "${String(options.loss)}"; choose one of: ${LOSS_NAMES.join(', ')}, or pass a function`);
  return make();
}

function isTfOptimizer(optimizer: SgdConfig | TfOptimizer): optimizer is TfOptimizer {
  return typeof (optimizer as TfOptimizer).applyGradients === 'function';
}

function stepHyper(rate: LearningRate | undefined, fallbackLr: number | undefined, epochs: number, stepsPerEpoch: number): (epoch: number, batch: number, numBatches: number) => StepHyper {
  if (rate === undefined) return () => (fallbackLr === undefined ? {} : { lr: fallbackLr });
  if (typeof rate === 'number') {
    if (!(rate > 0 && Number.isFinite(rate))) throw new RangeError(`learningRate must be a positive number, got ${rate}`);
    return () => ({ lr: rate });
  }
  if (typeof rate === 'function') {
    return (epoch, batch, numBatches) => {
      const value = rate({ epoch, batch, numBatches, epochs, stepsPerEpoch });
      return typeof value === 'number' ? { lr: value } : value;
    };
  }
  if (typeof rate.forStep === 'function') return (epoch, batch, numBatches) => rate.forStep(epoch, batch, numBatches);
  throw new TypeError('learningRate must be a number, a function or an object with forStep');
}

interface Evaluation {
  readonly loss: number;
  readonly accuracy: number | null;
}

/** Inference-mode pass over a data source (BatchNorm uses running statistics); it waits for every batch. */
async function evaluateSource(model: tfl.LayersModel, source: DataSource, loss: PerSampleLoss, correct: CorrectCount | undefined, batchSize: number): Promise<Evaluation> {
  let lossSum = 0;
  let hits = 0;
  for (let start = 0; start < source.numSamples; start += batchSize) {
    const indices = Int32Array.from({ length: Math.min(batchSize, source.numSamples - start) }, (_, i) => start + i);
    const { inputs, targets } = await source.makeBatch(indices);
    const [losses, right] = tf.tidy(() => {
      const predictions = model.apply(inputs, { training: false }) as tf.Tensor;
      return [tf.sum(loss(targets, predictions)), correct ? correct(targets, predictions) : tf.scalar(0, 'int32')];
    });
    const [lossValue, rightValue] = await Promise.all([losses!.data(), right!.data()]);
    lossSum += lossValue[0]!;
    hits += rightValue[0]!;
    tf.dispose([losses!, right!, targets, ...(Array.isArray(inputs) ? inputs : [inputs])]);
  }
  return { loss: lossSum / source.numSamples, accuracy: correct ? hits / source.numSamples : null };
}

/**
 * Trains `model` with InfoBatch (or the full data with `infobatch: false`) and returns the per-epoch
 * logs and the share of sample-steps saved.
 */
export async function fit(model: tfl.LayersModel, data: FitData, options: FitOptions): Promise<FitHistory> {
  if (!model || typeof (model as tfl.LayersModel).apply !== 'function' || !Array.isArray(model.trainableWeights)) {
    throw new TypeError('fit needs a tfjs-layers model (tf.sequential(), tf.model(), or a loaded LayersModel)');
  }
  if (model.outputs.length !== 1) throw new RangeError(`fit trains models with one output; this one has ${model.outputs.length}`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  const readLag = checkReadLag(options.readLag ?? DEFAULT_READ_LAG);
  const evalBatchSize = options.evalBatchSize ?? Math.max(options.batchSize, 256);
  if (!Number.isInteger(evalBatchSize) || evalBatchSize <= 0) throw new RangeError(`evalBatchSize must be a positive integer, got ${evalBatchSize}`);
  const loss = perSampleLoss(options);
  const counting = options.accuracy ?? (typeof options.loss === 'string' && CROSS_ENTROPIES.has(options.loss));
  const optimizerOption = options.optimizer ?? { type: 'sgd' };
  if (!isTfOptimizer(optimizerOption) && optimizerOption.type !== 'sgd') throw new TypeError('optimizer must be { type: "sgd", ... } or a tf.train optimizer');

  if (options.backend !== undefined) await selectBackend(options.backend, options.log);
  const train = dataSource(data, model, 'data');
  const validation = options.validationData ? dataSource(options.validationData, model, 'validationData') : null;
  const pruning = options.infobatch !== false;
  const settings = options.infobatch || {};
  // Throws RangeError for epochs, batchSize, r ∉ [0, 1), δ ∉ [0, 1].
  const infobatch = new InfoBatch({
    numSamples: train.numSamples,
    epochs: options.epochs,
    batchSize: options.batchSize,
    ratio: pruning ? (settings.ratio ?? 0.5) : 0,
    delta: pruning ? (settings.delta ?? 0.875) : 0,
    seed,
    pruneStrategy: settings.pruneStrategy,
    rescale: settings.rescale,
    anneal: settings.anneal,
  });

  const hyper = stepHyper(options.learningRate, isTfOptimizer(optimizerOption) ? undefined : 0.01, options.epochs, Math.ceil(train.numSamples / options.batchSize));
  const variables = trainableVariables(model);
  let ours: SgdMomentum | null = null;
  let updater: StepUpdater;
  if (isTfOptimizer(optimizerOption)) {
    updater = tfOptimizerUpdater(optimizerOption, variables);
  } else {
    const momentum = optimizerOption.momentum ?? 0.9;
    const weightDecay = optimizerOption.weightDecay ?? 0;
    if (!(momentum >= 0 && momentum < 1)) throw new RangeError(`optimizer.momentum must be in [0, 1), got ${momentum}`);
    if (!(weightDecay >= 0)) throw new RangeError(`optimizer.weightDecay must be >= 0, got ${weightDecay}`);
    ours = new SgdMomentum(variables, weightDecay);
    updater = sgdUpdater(ours, { momentum });
  }

  const callbacks = options.callbacks ?? {};
  const history: EpochLogs[] = [];
  let samplesTrained = 0;
  let stopped = false;
  let skipped = 0;
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      if (options.shouldStop?.()) {
        stopped = true;
        break;
      }
      const runner: EpochRunner = {
        sampler: infobatch,
        step: { model, variables, updater, loss, correct: counting ? argmaxCorrect : undefined },
        makeBatch: (indices) => train.makeBatch(indices),
        hyper,
        readLag,
        shouldStop: options.shouldStop,
        onEpochStart: (plan) => {
          skipped = plan.skipped;
          return callbacks.onEpochBegin?.(epoch, { numBatches: plan.numBatches, samples: plan.indices.length, pruned: plan.skipped });
        },
        onBatchLosses: callbacks.onBatchEnd
          ? (read: BatchRead) =>
              callbacks.onBatchEnd!({
                epoch,
                batch: read.batch,
                numBatches: read.numBatches,
                losses: read.losses,
                loss: read.losses.reduce((a, b) => a + b, 0) / read.losses.length,
                accuracy: read.correct === null ? null : read.correct / read.losses.length,
                lr: read.hyper.lr,
                samplesTrained: read.samplesRead,
                samplesPruned: skipped,
              })
          : undefined,
      };
      const result = await runEpoch(runner, epoch);
      samplesTrained += result.seen;
      let logs: EpochLogs = {
        epoch,
        loss: result.seen > 0 ? result.lossSum / result.seen : Number.NaN,
        accuracy: result.correct === null || result.seen === 0 ? null : result.correct / result.seen,
        samplesTrained: result.seen,
        samplesPruned: result.skipped,
        pruning: result.plan.pruning,
        lr: result.lastHyper.lr,
        seconds: result.seconds,
      };
      if (result.stopped) {
        stopped = true;
        history.push(logs);
        break;
      }
      if (validation) {
        const evaluation = await evaluateSource(model, validation, loss, counting ? argmaxCorrect : undefined, evalBatchSize);
        logs = { ...logs, valLoss: evaluation.loss, valAccuracy: evaluation.accuracy };
      }
      history.push(logs);
      await callbacks.onEpochEnd?.(logs);
    }
  } finally {
    ours?.dispose();
    train.dispose();
    validation?.dispose();
  }
  const samplesFull = history.length * train.numSamples;
  return { epochs: history, samplesTrained, samplesFull, savedFraction: samplesFull > 0 ? 1 - samplesTrained / samplesFull : 0, stopped, backend: tf.getBackend(), infobatch };
}
