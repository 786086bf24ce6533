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
