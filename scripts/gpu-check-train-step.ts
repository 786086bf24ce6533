import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { perSampleCrossEntropy, weightedMean } from '../src/train/loss.js';
import { SgdMomentum } from '../src/train/sgd.js';

/**
 * One optimizer step of the project's training recipe, built from the trainer's own loss and optimizer
 * (src/train/loss.ts, src/train/sgd.ts): InfoBatch's weighted label-smoothed cross-entropy
 * (1/B) Σ wᵢ ℓᵢ, then SGD with momentum and weight decay as torch.optim.SGD. The model runs in training
 * mode, so BatchNorm uses batch statistics and updates its moving averages. Used by the webgpu tests
 * and the GPU benchmark, which time or compare single steps at a fixed learning rate.
 */
export interface StepSettings {
  readonly learningRate: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly labelSmoothing: number;
}

/** The official CIFAR recipe's constants (lr is OneCycle's peak, momentum its plain SGD value). */
export const RECIPE: StepSettings = { learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4, labelSmoothing: 0.1 };

export interface TrainStep {
  /** Runs one step and returns the batch loss (reading it waits for the device). */
  (images: tf.Tensor4D, labels: tf.Tensor1D, sampleWeights: tf.Tensor1D): tf.Scalar;
  /** Frees the momentum buffers. */
  dispose(): void;
}

export function makeTrainStep(model: tfl.LayersModel, settings: StepSettings = RECIPE): TrainStep {
  const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const optimizer = new SgdMomentum(variables, settings.weightDecay);
  const step = (images: tf.Tensor4D, labels: tf.Tensor1D, sampleWeights: tf.Tensor1D): tf.Scalar =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.apply(images, { training: true }) as tf.Tensor2D;
        return weightedMean(perSampleCrossEntropy(logits, labels, settings.labelSmoothing), sampleWeights);
      }, variables);
      optimizer.step(variables.map((variable) => grads[variable.name]!), settings.learningRate, settings.momentum);
      return value;
    });
  return Object.assign(step, { dispose: () => optimizer.dispose() });
}
