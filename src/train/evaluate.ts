import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { BatchMaker } from '../data/augment.js';
import type { ImageSplit } from '../data/dataset.js';
import { perSampleCrossEntropy } from './loss.js';

export interface Evaluation {
  /** Mean plain cross-entropy: the official example's test loss. */
  readonly crossEntropy: number;
  /** Mean label-smoothed cross-entropy: the training criterion (unweighted), comparable with the train loss. */
  readonly smoothedCrossEntropy: number;
  /** Top-1 accuracy in percent. */
  readonly accuracy: number;
  /** Top-1 accuracy per class in percent (NaN for a class absent from the split). */
  readonly perClass: number[];
  readonly count: number;
}

/** Evaluates in inference mode (BatchNorm uses its running statistics), batch by batch, no augmentation. */
export async function evaluate(
  model: tfl.LayersModel,
  split: ImageSplit,
  batchMaker: BatchMaker,
  options: { batchSize: number; numClasses: number; labelSmoothing: number },
): Promise<Evaluation> {
  let crossEntropySum = 0;
  let smoothedSum = 0;
  let correct = 0;
  const classTotal = new Float64Array(options.numClasses);
  const classCorrect = new Float64Array(options.numClasses);
  const order = new Int32Array(options.batchSize);
  for (let start = 0; start < split.count; start += options.batchSize) {
    const n = Math.min(options.batchSize, split.count - start);
    for (let i = 0; i < n; i++) order[i] = start + i;
    const batch = batchMaker.make(split, order.subarray(0, n), { augment: false, cropPadding: 0 });
    const outputs = tf.tidy(() => {
      const images = tf.tensor4d(batch.images, batch.shape);
      const labels = tf.tensor1d(batch.labels, 'int32');
      // One pass per batch: predict() would otherwise split it into chunks of 32 (measured 1.4× slower on native).
      const logits = model.predict(images, { batchSize: batch.shape[0] }) as tf.Tensor2D;
      return [perSampleCrossEntropy(logits, labels, 0), perSampleCrossEntropy(logits, labels, options.labelSmoothing), tf.argMax(logits, 1)];
    });
    // data(), not dataSync(): the webgpu backend cannot read GPU tensors synchronously in Node.
    const [crossEntropy, smoothed, predicted] = await Promise.all(outputs.map((t) => t.data()));
    tf.dispose(outputs);
    for (let i = 0; i < n; i++) {
      crossEntropySum += crossEntropy![i]!;
      smoothedSum += smoothed![i]!;
      const label = batch.labels[i]!;
      classTotal[label]! += 1;
      if (predicted[i] === label) {
        correct++;
        classCorrect[label]! += 1;
      }
    }
  }
  return {
    crossEntropy: crossEntropySum / split.count,
    smoothedCrossEntropy: smoothedSum / split.count,
    accuracy: (100 * correct) / split.count,
    perClass: Array.from(classTotal, (total, c) => (total > 0 ? (100 * classCorrect[c]!) / total : Number.NaN)),
    count: split.count,
  };
}
