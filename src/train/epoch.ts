import * as tf from '@tensorflow/tfjs-core';
import type { EpochPlan, InfoBatch } from '../infobatch/index.js';
import { dispatchStep, type PendingStep, type StepHyper, type StepSpec } from './step.js';

/**
 * One training epoch, the loop both the CLI's trainer and the library's `fit` run: plan the epoch with
 * InfoBatch, then for every batch build its tensors, dispatch a step and move on, without waiting for
 * the device.
 *
 * Why the losses are read back lagged: InfoBatch needs a sample's loss only for the *next* epoch's plan,
 * and each sample appears at most once per epoch, so nothing in the epoch depends on reading batch b
 * right after its step. Reading it at once would make the host wait for the device at every step (on a
 * GPU backend, a pipeline drain per batch). So batch b's per-sample losses (and correct count) stay on
 * the device until `readLag` later steps have been dispatched, and the epoch's last ones are read at its
 * end; the scores InfoBatch gets are exactly those of a synchronous loop. Only the epoch boundary waits.
 * The method itself never sees a tensor: this loop hands it the numbers it read.
 */
export interface EpochRunner {
  readonly sampler: InfoBatch;
  readonly step: StepSpec;
  /** Builds batch `b`'s inputs and targets from its sample indices; the runner disposes them. */
  readonly makeBatch: (indices: Int32Array, b: number, plan: EpochPlan) => StepTensors | Promise<StepTensors>;
  /** lr / momentum of step `b` of `numBatches` in epoch `epoch` (0-based). */
  readonly hyper: (epoch: number, b: number, numBatches: number) => StepHyper;
  /** Called with the epoch's plan before its first batch. */
  readonly onEpochStart?: (plan: EpochPlan) => void | Promise<void>;
  /** Steps dispatched before the oldest unread batch is read (0 reads every batch at once). */
  readonly readLag?: number;
  /**
   * Called with each batch's unweighted per-sample losses once they are read back (up to `readLag`
   * batches after its step), before they become InfoBatch scores; in batch order. The place for a
   * finite-loss check (throwing stops the epoch) and for progress and per-batch callbacks.
   */
  readonly onBatchLosses?: (read: BatchRead) => void | Promise<void>;
  /** Polled before every batch; true ends the epoch early (its dispatched batches are still read). */
  readonly shouldStop?: () => boolean;
  /** How a tensor is read back; tests inject one to count and order the reads. */
  readonly readTensor?: (tensor: tf.Tensor) => Promise<tf.TypedArray>;
}

export interface StepTensors {
  readonly inputs: tf.Tensor | tf.Tensor[];
  readonly targets: tf.Tensor;
}

export interface BatchRead {
  readonly epoch: number;
  readonly batch: number;
  readonly numBatches: number;
  readonly indices: Int32Array;
  readonly losses: Float32Array;
  /** Right predictions in the batch; null when the step counts none. */
  readonly correct: number | null;
  readonly hyper: StepHyper;
  /** Samples of the epoch read back so far, this batch included, and their mean loss and right predictions. */
  readonly samplesRead: number;
  readonly runningLoss: number;
  readonly runningCorrect: number | null;
}

export interface EpochResult {
  readonly plan: EpochPlan;
  /** Sum of the unweighted per-sample losses, right predictions (null: not counted), samples trained. */
  readonly lossSum: number;
  readonly correct: number | null;
  readonly seen: number;
  readonly skipped: number;
  readonly batchesDone: number;
  /** Whether `shouldStop` ended the epoch before its last batch. */
  readonly stopped: boolean;
  readonly lastHyper: StepHyper;
  /** Wall time: planning, data preparation, steps and the read-back of every batch. */
  readonly seconds: number;
}

export const DEFAULT_READ_LAG = 4;

/** The one check of a read lag, for callers that validate their options before any work starts. */
export function checkReadLag(lag: number): number {
  if (!Number.isInteger(lag) || lag < 0) throw new RangeError(`readLag must be a non-negative integer, got ${lag}`);
  return lag;
}

type ReadTensor = (tensor: tf.Tensor) => Promise<tf.TypedArray>;

/**
 * Device tensors queued for reading back in order, at most `lag` unread: `push` dispatches nothing and
 * waits only when the queue is over its lag, and then only for the oldest entry. Every tensor pushed is
 * disposed once read (or on `discard`).
 */
export class LaggedReads<T> {
  private readonly queue: { readonly tensors: readonly tf.Tensor[]; readonly value: T }[] = [];

  constructor(
    private readonly lag: number,
    private readonly onRead: (value: T, data: tf.TypedArray[]) => void | Promise<void>,
    private readonly read: ReadTensor = (t) => t.data(),
  ) {
    checkReadLag(lag);
  }

  get pending(): number {
    return this.queue.length;
  }

  async push(tensors: readonly tf.Tensor[], value: T): Promise<void> {
    this.queue.push({ tensors, value });
    while (this.queue.length > this.lag) await this.readOldest();
  }

  /** Reads everything still queued (the epoch boundary). */
  async flush(): Promise<void> {
    while (this.queue.length > 0) await this.readOldest();
  }

  /** Drops what is queued without reading (after an error). */
  discard(): void {
    for (const entry of this.queue.splice(0)) tf.dispose([...entry.tensors]);
  }

  private async readOldest(): Promise<void> {
    const entry = this.queue.shift()!;
    try {
      await this.onRead(entry.value, await Promise.all(entry.tensors.map((t) => this.read(t))));
    } finally {
      tf.dispose([...entry.tensors]);
    }
  }
}

/**
 * For your own training loop: hands each batch's per-sample loss tensor to InfoBatch as scores, read
 * back `readLag` batches later so that the loop never waits for the device; `flush()` at the epoch's end,
 * before planning the next epoch.
 */
export class ScoreFeedback {
  private readonly reads: LaggedReads<Int32Array>;

  constructor(infobatch: InfoBatch, options: { readLag?: number } = {}) {
    this.reads = new LaggedReads(options.readLag ?? DEFAULT_READ_LAG, (indices, [losses]) => infobatch.updateScores(indices, losses!));
  }

  /** Queues batch `indices`' unweighted losses (the `losses` of weightedLoss); takes ownership of the tensor. */
  add(indices: Int32Array, losses: tf.Tensor1D): Promise<void> {
    if (losses.size !== indices.length) throw new RangeError(`${indices.length} indices but ${losses.size} losses`);
    return this.reads.push([losses], Int32Array.from(indices));
  }

  flush(): Promise<void> {
    return this.reads.flush();
  }
}

interface Unread {
  readonly b: number;
  readonly indices: Int32Array;
  readonly hyper: StepHyper;
}

export async function runEpoch(runner: EpochRunner, epoch: number): Promise<EpochResult> {
  const start = performance.now();
  const plan = runner.sampler.planEpoch(epoch);
  await runner.onEpochStart?.(plan);
  let lossSum = 0;
  let correct: number | null = runner.step.correct ? 0 : null;
  let seen = 0;
  let batchesDone = 0;
  let stopped = false;
  let lastHyper: StepHyper = {};

  const reads = new LaggedReads<Unread>(
    runner.readLag ?? DEFAULT_READ_LAG,
    async (entry, [losses, hits]) => {
      const values = Float32Array.from(losses!);
      const batchCorrect = hits ? hits[0]! : null;
      seen += values.length;
      for (const loss of values) lossSum += loss;
      if (correct !== null && batchCorrect !== null) correct += batchCorrect;
      await runner.onBatchLosses?.({
        epoch,
        batch: entry.b,
        numBatches: plan.numBatches,
        indices: entry.indices,
        losses: values,
        correct: batchCorrect,
        hyper: entry.hyper,
        samplesRead: seen,
        runningLoss: lossSum / seen,
        runningCorrect: correct,
      });
      runner.sampler.updateScores(entry.indices, values);
    },
    runner.readTensor,
  );

  try {
    for (let b = 0; b < plan.numBatches; b++) {
      if (runner.shouldStop?.()) {
        stopped = true;
        break;
      }
      const batch = runner.sampler.batch(plan, b);
      const hyper = runner.hyper(epoch, b, plan.numBatches);
      const tensors = await runner.makeBatch(batch.indices, b, plan);
      const weights = tf.tensor1d(batch.weights, 'float32');
      let pending: PendingStep;
      try {
        pending = dispatchStep(runner.step, { inputs: tensors.inputs, targets: tensors.targets, weights, hyper });
      } finally {
        tf.dispose([weights, tensors.targets, ...(Array.isArray(tensors.inputs) ? tensors.inputs : [tensors.inputs])]);
      }
      lastHyper = hyper;
      batchesDone++;
      await reads.push(pending.correct ? [pending.losses, pending.correct] : [pending.losses], { b, indices: batch.indices, hyper });
    }
    await reads.flush();
  } finally {
    // An error (a bad batch, a failed check) leaves no tensor behind.
    reads.discard();
  }
  return { plan, lossSum, correct, seen, skipped: plan.skipped, batchesDone, stopped, lastHyper, seconds: (performance.now() - start) / 1000 };
}
