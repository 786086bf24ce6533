import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { perSampleCrossEntropy, weightedMean } from './loss.js';
import type { SgdMomentum } from './sgd.js';

/** The model's trainable tf.Variables, in a fixed order (the optimizer's buffers follow it). */
export function trainableVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

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
  /** Unweighted per-sample losses: the samples' new InfoBatch scores. */
  readonly losses: Float32Array;
  /** Number of samples whose argmax prediction was right. */
  readonly correct: number;
}

/**
 * One training step: forward in training mode (BatchNorm uses and updates batch statistics), per-sample
 * label-smoothed cross-entropy, loss = mean(wᵢ·ℓᵢ), backward, SGD update. The per-sample losses come from
 * the same forward pass as the gradient, as in the official code.
 */
export async function trainStep(model: tfl.LayersModel, variables: readonly tf.Variable[], optimizer: SgdMomentum, input: StepInput): Promise<StepResult> {
  let perSample: tf.Tensor1D | undefined;
  let hits: tf.Tensor | undefined;
  const { grads, value } = tf.variableGrads(() => {
    const logits = model.apply(input.images, { training: true }) as tf.Tensor2D;
    const losses = perSampleCrossEntropy(logits, input.labels, input.labelSmoothing);
    perSample = tf.keep(losses);
    hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.cast(input.labels, 'int32')), 'int32')));
    return weightedMean(losses, input.weights);
  }, variables as tf.Variable[]);
  optimizer.step(variables.map((v) => grads[v.name]!), input.lr, input.momentum);
  // data(), not dataSync(): the webgpu backend cannot read GPU tensors synchronously in Node.
  const [losses, hitCount] = (await Promise.all([perSample!.data(), hits!.data()])) as [Float32Array, Int32Array];
  const correct = hitCount[0]!;
  tf.dispose([perSample!, hits!, value, ...Object.values(grads)]);
  return { losses: new Float32Array(losses), correct };
}
