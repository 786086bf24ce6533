import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_CONFIG } from '../src/config.js';
import { SgdMomentum } from '../src/train/sgd.js';
import { trainableVariables, trainStep } from '../src/train/step.js';

/**
 * The project's training step for the webgpu tests and the GPU benchmark, which time or compare single
 * steps at a fixed learning rate: InfoBatch's weighted label-smoothed cross-entropy (1/B) Σ wᵢ ℓᵢ, then
 * SGD with momentum and weight decay as torch.optim.SGD, in training mode (BatchNorm on batch statistics).
 */
export interface StepSettings {
  readonly learningRate: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly labelSmoothing: number;
}

/**
 * The training recipe's constants (src/config.ts) at a fixed point: lr at OneCycle's peak, momentum midway
 * through its cycle (0.9, the official example's SGD momentum, which OneCycle then cycles).
 */
export const RECIPE: StepSettings = {
  learningRate: DEFAULT_CONFIG.maxLr,
  momentum: (DEFAULT_CONFIG.baseMomentum + DEFAULT_CONFIG.maxMomentum) / 2,
  weightDecay: DEFAULT_CONFIG.weightDecay,
  labelSmoothing: DEFAULT_CONFIG.labelSmoothing,
};

export interface TrainStep {
  /** Runs one step of the trainer (src/train/step.ts) and resolves to the batch's mean per-sample loss. */
  (images: tf.Tensor4D, labels: tf.Tensor1D, sampleWeights: tf.Tensor1D): Promise<number>;
  /** Frees the momentum buffers. */
  dispose(): void;
}

/**
 * The trainer's own step at a fixed learning rate and momentum, including its per-sample loss read-back
 * (which the InfoBatch scores need every step), so what is timed is what training does.
 */
export function makeTrainStep(model: tfl.LayersModel, settings: StepSettings = RECIPE): TrainStep {
  const variables = trainableVariables(model);
  const optimizer = new SgdMomentum(variables, settings.weightDecay);
  const step = async (images: tf.Tensor4D, labels: tf.Tensor1D, sampleWeights: tf.Tensor1D): Promise<number> => {
    const { losses } = await trainStep(model, variables, optimizer, {
      images,
      labels,
      weights: sampleWeights,
      lr: settings.learningRate,
      momentum: settings.momentum,
      labelSmoothing: settings.labelSmoothing,
    });
    return losses.reduce((sum, loss) => sum + loss, 0) / losses.length;
  };
  return Object.assign(step, { dispose: () => optimizer.dispose() });
}
