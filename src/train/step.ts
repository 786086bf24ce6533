import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { perSampleCrossEntropy, weightedLoss } from './loss.js';
import type { SgdMomentum } from './sgd.js';

/** The model's trainable tf.Variables, in a fixed order (the optimizer's buffers follow it). */
export function trainableVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** Per-sample loss: one value per row of the batch, unweighted (InfoBatch's scores are these). */
export type PerSampleLoss = (targets: tf.Tensor, predictions: tf.Tensor) => tf.Tensor1D;

/** Number of rows whose prediction is right (as an int32 scalar), for the running accuracy. */
export type CorrectCount = (targets: tf.Tensor, predictions: tf.Tensor) => tf.Scalar;

/** lr and (where the optimizer has one) momentum of one step. */
export interface StepHyper {
  readonly lr?: number;
  readonly momentum?: number;
}

/** Applies one step's gradients; `grads[i]` belongs to the i-th trainable variable. */
export interface StepUpdater {
  apply(grads: readonly tf.Tensor[], hyper: StepHyper): void;
}

/** Our torch-semantics SGD (momentum and lr per step, as OneCycle needs). */
export function sgdUpdater(optimizer: SgdMomentum, defaults: { lr?: number; momentum?: number } = {}): StepUpdater {
  return {
    apply(grads, hyper) {
      const lr = hyper.lr ?? defaults.lr;
      if (lr === undefined) throw new RangeError('SGD needs a learning rate: pass one, or a schedule');
      optimizer.step(grads, lr, hyper.momentum ?? defaults.momentum ?? 0);
    },
  };
}

/** What a tf.train optimizer offers, structurally (so a second copy of tfjs-core still fits). */
export interface TfOptimizer {
  applyGradients(variableGradients: { name: string; tensor: tf.Tensor }[]): void;
  setLearningRate?(lr: number): void;
  setMomentum?(momentum: number): void;
  dispose(): void;
}

/**
 * Any tf.train optimizer. A per-step lr (or momentum) goes through its public setters, which SGD and
 * Momentum have; asking for a schedule with one that has none (Adam, RMSProp…) is an error, not a no-op.
 */
export function tfOptimizerUpdater(optimizer: TfOptimizer, variables: readonly tf.Variable[]): StepUpdater {
  return {
    apply(grads, hyper) {
      if (hyper.lr !== undefined) {
        if (!optimizer.setLearningRate) throw new TypeError('this tf.train optimizer cannot change its learning rate; use tf.train.sgd/momentum or drop the schedule');
        optimizer.setLearningRate(hyper.lr);
      }
      if (hyper.momentum !== undefined && optimizer.setMomentum) optimizer.setMomentum(hyper.momentum);
      optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
    },
  };
}

export interface StepSpec {
  readonly model: tfl.LayersModel;
  readonly variables: readonly tf.Variable[];
  readonly updater: StepUpdater;
  readonly loss: PerSampleLoss;
  /** Omit for losses without a notion of a right prediction (regression). */
  readonly correct?: CorrectCount;
}

export interface StepBatch {
  readonly inputs: tf.Tensor | tf.Tensor[];
  readonly targets: tf.Tensor;
  /** Per-sample loss weights (InfoBatch's 1/(1−r) or 1). */
  readonly weights: tf.Tensor1D;
  readonly hyper: StepHyper;
}

/**
 * A dispatched step's outputs, still on the device: nothing has been read back. The caller owns both
 * tensors (reads them when it chooses, then disposes them).
 */
export interface PendingStep {
  /** Unweighted per-sample losses: the samples' next InfoBatch scores. */
  readonly losses: tf.Tensor1D;
  readonly correct: tf.Scalar | null;
}

/**
 * One training step: forward in training mode (BatchNorm uses and updates batch statistics), per-sample
 * loss, loss = mean(wᵢ·ℓᵢ), backward, optimizer update. It only dispatches work and never waits for the
 * device: the per-sample losses come back as a tensor from the same forward pass as the gradient (as in
 * the official code), to be read later (see epoch.ts for why later).
 */
export function dispatchStep(spec: StepSpec, batch: StepBatch): PendingStep {
  let losses: tf.Tensor1D | undefined;
  let correct: tf.Scalar | null = null;
  const { grads, value } = tf.variableGrads(() => {
    const predictions = spec.model.apply(batch.inputs, { training: true }) as tf.Tensor;
    const weighted = weightedLoss(spec.loss(batch.targets, predictions), batch.weights);
    losses = weighted.losses;
    if (spec.correct) correct = tf.keep(spec.correct(batch.targets, predictions));
    return weighted.loss;
  }, spec.variables as tf.Variable[]);
  spec.updater.apply(
    spec.variables.map((v) => grads[v.name]!),
    batch.hyper,
  );
  tf.dispose([value, ...Object.values(grads)]);
  return { losses: losses!, correct };
}

/** Right argmax predictions against class labels (rank 1) or one-hot / probability targets (rank 2). */
export const argmaxCorrect: CorrectCount = (targets, predictions) =>
  tf.tidy(() => {
    const truth = targets.rank === 1 ? tf.cast(targets, 'int32') : tf.argMax(targets, -1);
    return tf.sum(tf.cast(tf.equal(tf.argMax(predictions, -1), truth), 'int32'));
  });

export interface StepInput {
  /** NHWC float32, already augmented and normalized. */
  readonly images: tf.Tensor4D;
  readonly labels: tf.Tensor1D;
  /** Per-sample loss weights (InfoBatch's 1/(1−r) or 1). */
  readonly weights: tf.Tensor1D;
  readonly lr: number;
  readonly momentum: number;
  readonly labelSmoothing: number;
}

export interface StepResult {
  readonly losses: Float32Array;
  readonly correct: number;
}

/** The CLI's image-classification step spec: label-smoothed cross-entropy from logits, our SGD. */
export function imageStepSpec(model: tfl.LayersModel, variables: readonly tf.Variable[], optimizer: SgdMomentum, labelSmoothing: number): StepSpec {
  return {
    model,
    variables,
    updater: sgdUpdater(optimizer),
    loss: (targets, logits) => perSampleCrossEntropy(logits as tf.Tensor2D, targets as tf.Tensor1D, labelSmoothing),
    correct: argmaxCorrect,
  };
}

/**
 * One image step that waits for its results: for benchmarks and kernel tests that time or compare a
 * single step. The training loop never calls it (it reads losses back lagged, see epoch.ts).
 */
export async function trainStep(model: tfl.LayersModel, variables: readonly tf.Variable[], optimizer: SgdMomentum, input: StepInput): Promise<StepResult> {
  const pending = dispatchStep(imageStepSpec(model, variables, optimizer, input.labelSmoothing), {
    inputs: input.images,
    targets: input.labels,
    weights: input.weights,
    hyper: { lr: input.lr, momentum: input.momentum },
  });
  // data(), not dataSync(): the webgpu backend cannot read GPU tensors synchronously in Node.
  const [losses, hits] = (await Promise.all([pending.losses.data(), pending.correct!.data()])) as [Float32Array, Int32Array];
  tf.dispose([pending.losses, pending.correct!]);
  return { losses: new Float32Array(losses), correct: hits[0]! };
}
