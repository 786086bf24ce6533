import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { batchNormTrain } from '../../ops/index.js';
import { channelsOf, isTraining, oneShape, oneTensor } from './layer-util.js';

export interface BatchNormArgs {
  /** Weight of the batch statistic in the running averages (PyTorch's convention). Default 0.1. */
  readonly momentum?: number;
  /** Default 1e-5. */
  readonly epsilon?: number;
  readonly name?: string;
  readonly trainable?: boolean;
}

/** PyTorch's BatchNorm2d defaults. */
export const BN_MOMENTUM = 0.1;
export const BN_EPSILON = 1e-5;

/**
 * torch.nn.BatchNorm2d (affine, tracking running statistics) over the last axis of an NHWC tensor.
 *
 * Training mode (model.apply(x, {training: true})): normalizes with the batch mean and biased variance
 * through our batchNormTrain op, and updates running ← (1 − momentum)·running + momentum·batch, with
 * the UNBIASED batch variance (×n/(n−1), n values per channel) for running_var, as PyTorch does.
 * Inference mode: normalizes with the running statistics (tf.batchNorm, the FusedBatchNorm kernel).
 * γ starts at 1, β at 0, running mean at 0 and running variance at 1.
 */
export class BatchNorm extends tfl.layers.Layer {
  static className = 'InfobatchBatchNorm';
  readonly momentum: number;
  readonly epsilon: number;
  private gamma: tfl.LayerVariable | null = null;
  private beta: tfl.LayerVariable | null = null;
  private runningMean: tfl.LayerVariable | null = null;
  private runningVar: tfl.LayerVariable | null = null;

  constructor(args: BatchNormArgs = {}) {
    super(args);
    this.momentum = args.momentum ?? BN_MOMENTUM;
    this.epsilon = args.epsilon ?? BN_EPSILON;
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new Error(`BatchNorm ${this.name}: momentum must lie in [0, 1], got ${this.momentum}`);
    if (!(this.epsilon > 0)) throw new Error(`BatchNorm ${this.name}: epsilon must be positive, got ${this.epsilon}`);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const channels = channelsOf(oneShape(inputShape, this.name), this.name);
    const ones = tfl.initializers.ones();
    const zeros = tfl.initializers.zeros();
    this.gamma = this.addWeight('gamma', [channels], 'float32', ones);
    this.beta = this.addWeight('beta', [channels], 'float32', zeros);
    this.runningMean = this.addWeight('running_mean', [channels], 'float32', zeros, undefined, false);
    this.runningVar = this.addWeight('running_var', [channels], 'float32', ones, undefined, false);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: tf.serialization.ConfigDict): tf.Tensor {
    const x = oneTensor(inputs, this.name);
    const [gamma, beta, runningMean, runningVar] = [this.gamma!, this.beta!, this.runningMean!, this.runningVar!];
    if (!isTraining(kwargs)) return tf.batchNorm(x, runningMean.read(), runningVar.read(), beta.read(), gamma.read(), this.epsilon);
    const n = x.size / x.shape[x.rank - 1]!;
    if (n < 2) {
      // PyTorch refuses too: the unbiased variance of one value is undefined and the output would be β.
      throw new Error(`BatchNorm ${this.name}: training needs more than one value per channel, got input shape [${x.shape.join(', ')}]`);
    }
    const running = {
      mean: runningMean.read(),
      variance: runningVar.read(),
      update: (mean: tf.Tensor, variance: tf.Tensor) => {
        runningMean.write(mean);
        runningVar.write(variance);
      },
    };
    return batchNormTrain(x, gamma.read(), beta.read(), running, { epsilon: this.epsilon, momentum: this.momentum });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), momentum: this.momentum, epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(BatchNorm);
