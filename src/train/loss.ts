import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradient functions; tfjs-layers' bundle registers all of tfjs's
// (as the @tensorflow/tfjs union package does). Differentiating the loss needs them.
import '@tensorflow/tfjs-layers';

/**
 * Per-sample softmax cross-entropy with label smoothing, as torch.nn.CrossEntropyLoss(label_smoothing=s,
 * reduction='none'): the target is (1 − s)·onehot + s/K.
 */
export function perSampleCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing: number): tf.Tensor1D {
  return PER_SAMPLE_LOSSES.softmaxCrossEntropy(labelSmoothing)(labels, logits);
}

/** The training objective of InfoBatch: mean over the batch of wᵢ·ℓᵢ (divided by the batch size, not Σw). */
export function weightedMean(perSample: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.mul(perSample, weights)));
}

// A type, not an interface: it can be returned from tf.tidy (a TensorContainer).
export type WeightedLoss = {
  /** mean(wᵢ·ℓᵢ): what to differentiate. */
  readonly loss: tf.Scalar;
  /**
   * The unweighted per-sample losses ℓᵢ, kept (it survives the tf.tidy or optimizer.minimize around the
   * call): the caller reads it back for InfoBatch's scores and disposes it.
   */
  readonly losses: tf.Tensor1D;
};

/**
 * InfoBatch's training loss from a per-sample loss tensor and the batch's weights (a tensor or the
 * Float32Array of `InfoBatch.batch`), plus the unweighted losses for the scores. The scores must be the
 * losses of the same forward pass that produced the gradient, as in the official code.
 */
export function weightedLoss(perSample: tf.Tensor1D, weights: tf.Tensor1D | ArrayLike<number>): WeightedLoss {
  if (perSample.rank !== 1) throw new RangeError(`the per-sample loss must be one value per sample (rank 1), got shape [${perSample.shape.join(', ')}]`);
  const n = perSample.shape[0];
  // Arrays by shape, not `instanceof tf.Tensor`: a second copy of tfjs-core has its own Tensor class.
  const isArray = ArrayBuffer.isView(weights) || Array.isArray(weights);
  const count = isArray ? (weights as ArrayLike<number>).length : (weights as tf.Tensor1D).size;
  if (count !== n) throw new RangeError(`${n} per-sample losses but ${count} weights`);
  const loss = tf.tidy(() => weightedMean(perSample, isArray ? tf.tensor1d(weights as ArrayLike<number> as number[], 'float32') : (weights as tf.Tensor1D)));
  return { loss, losses: tf.keep(perSample) };
}

/** Mean over every axis but the first: one value per sample. */
function perRowMean(values: tf.Tensor): tf.Tensor1D {
  return (values.rank === 1 ? values : tf.mean(tf.reshape(values, [values.shape[0]!, -1]), 1)) as tf.Tensor1D;
}

/** Class-index targets (rank 1) as one-hot rows of `numClasses`; one-hot / soft targets stay as they are. */
function asOneHot(targets: tf.Tensor, numClasses: number): tf.Tensor {
  return targets.rank === 1 ? tf.oneHot(tf.cast(targets, 'int32'), numClasses) : tf.cast(targets, 'float32');
}

/** Probabilities are clipped away from 0 and 1 before the log, as Keras does (epsilon 1e-7). */
const PROBABILITY_EPSILON = 1e-7;

/**
 * The per-sample losses `fit` knows by name. `targets` are class indices or one-hot rows for the
 * cross-entropies; the name says what the model outputs (logits or probabilities).
 */
export const PER_SAMPLE_LOSSES = {
  /** Logits out, class indices or one-hot targets in (torch.nn.CrossEntropyLoss). */
  softmaxCrossEntropy: (labelSmoothing = 0) => (targets: tf.Tensor, logits: tf.Tensor): tf.Tensor1D =>
    tf.tidy(() => tf.losses.softmaxCrossEntropy(asOneHot(targets, logits.shape[1]!), logits as tf.Tensor2D, undefined, labelSmoothing, tf.Reduction.NONE) as tf.Tensor1D),
  /** Softmax probabilities out (a Keras model ending in activation 'softmax'); class indices or one-hot targets. */
  categoricalCrossentropy: () => (targets: tf.Tensor, probabilities: tf.Tensor): tf.Tensor1D =>
    tf.tidy(() => {
      const clipped = tf.clipByValue(probabilities, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON);
      return tf.neg(tf.sum(tf.mul(asOneHot(targets, probabilities.shape[1]!), tf.log(clipped)), 1)) as tf.Tensor1D;
    }),
  /** Sigmoid probabilities out, 0/1 targets of the same shape (or one per sample); mean over the outputs. */
  binaryCrossentropy: () => (targets: tf.Tensor, probabilities: tf.Tensor): tf.Tensor1D =>
    tf.tidy(() => {
      const p = tf.clipByValue(probabilities, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON);
      const y = tf.reshape(tf.cast(targets, 'float32'), p.shape);
      return perRowMean(tf.neg(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p))))));
    }),
  /** Mean squared error over each sample's outputs. */
  meanSquaredError: () => (targets: tf.Tensor, predictions: tf.Tensor): tf.Tensor1D =>
    tf.tidy(() => perRowMean(tf.squaredDifference(predictions, tf.reshape(tf.cast(targets, 'float32'), predictions.shape)))),
} as const;

export type LossName = keyof typeof PER_SAMPLE_LOSSES;
export const LOSS_NAMES = Object.keys(PER_SAMPLE_LOSSES) as LossName[];
