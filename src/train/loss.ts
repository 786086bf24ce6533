import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradient functions; tfjs-layers' bundle registers all of tfjs's
// (as the @tensorflow/tfjs union package does). Differentiating the loss needs them.
import '@tensorflow/tfjs-layers';

/**
 * Per-sample softmax cross-entropy with label smoothing, as torch.nn.CrossEntropyLoss(label_smoothing=s,
 * reduction='none'): the target is (1 − s)·onehot + s/K.
 */
export function perSampleCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing: number): tf.Tensor1D {
  return tf.tidy(() => {
    const numClasses = logits.shape[1];
    const onehot = tf.oneHot(tf.cast(labels, 'int32'), numClasses);
    return tf.losses.softmaxCrossEntropy(onehot, logits, undefined, labelSmoothing, tf.Reduction.NONE) as tf.Tensor1D;
  });
}

/** The training objective of InfoBatch: mean over the batch of wᵢ·ℓᵢ (divided by the batch size, not Σw). */
export function weightedMean(perSample: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.mul(perSample, weights)));
}

export interface WeightedLoss {
  /** mean(wᵢ·ℓᵢ): what to differentiate. */
  readonly loss: tf.Scalar;
  /**
   * The unweighted per-sample losses ℓᵢ, kept (it survives the tf.tidy or optimizer.minimize around the
   * call): the caller reads it back for InfoBatch's scores and disposes it.
   */
  readonly losses: tf.Tensor1D;
}

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
