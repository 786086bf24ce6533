import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { batchNormTrain } from '../../ops/index.js';
import { channelsOf, isTraining, oneShape, oneTensor } from './layer-util.js';

export interface BatchNormArgs {
  /** Weight of the batch statistic in the running averages (PyTorch's convention). Default 0.1. */
  readonly momentum?: number;
  /** Default 1e-5. */
  readonly epsilon?: number;
  /** 'relu': max(·, 0) of the result, in the same op (default 'linear': none). */
  readonly activation?: BatchNormActivation;
  /**
   * Called on [x, residual]: adds the residual (a residual block's shortcut, x's shape) to the normalized x
   * before the activation — relu(bn(x) + shortcut), the end of a ResNet block, as one op whose sum and
   * pre-activation are never kept (see batchNormTrain). Default false: called on x alone.
   */
  readonly residual?: boolean;
  readonly name?: string;
  readonly trainable?: boolean;
}

export type BatchNormActivation = 'linear' | 'relu';

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
 * γ starts at 1, β at 0, running mean at 0 and running variance at 1. With `residual` and `activation`
 * it is relu(bn(x) + residual) — in PyTorch terms F.relu(bn(x) + shortcut) — in both modes.
 */
export class BatchNorm extends tfl.layers.Layer {
  static className = 'InfobatchBatchNorm';
  readonly momentum: number;
  readonly epsilon: number;
  readonly activation: BatchNormActivation;
  readonly residual: boolean;
  private gamma: tfl.LayerVariable | null = null;
  private beta: tfl.LayerVariable | null = null;
  private runningMean: tfl.LayerVariable | null = null;
  private runningVar: tfl.LayerVariable | null = null;

  constructor(args: BatchNormArgs = {}) {
    super(args);
    this.momentum = args.momentum ?? BN_MOMENTUM;
    this.epsilon = args.epsilon ?? BN_EPSILON;
    this.activation = args.activation ?? 'linear';
    this.residual = args.residual ?? false;
    if (this.activation !== 'linear' && this.activation !== 'relu') throw new Error(`BatchNorm ${this.name}: activation must be 'linear' or 'relu', got "${String(this.activation)}"`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new Error(`BatchNorm ${this.name}: momentum must lie in [0, 1], got ${this.momentum}`);
    if (!(this.epsilon > 0)) throw new Error(`BatchNorm ${this.name}: epsilon must be positive, got ${this.epsilon}`);
  }

  /** The input's shape, and the residual's (null without one). */
  private shapes(inputShape: tfl.Shape | tfl.Shape[]): { x: tfl.Shape; residual: tfl.Shape | null } {
    if (!this.residual) return { x: oneShape(inputShape, this.name), residual: null };
    const list = inputShape as tfl.Shape[];
    if (!Array.isArray(list[0]) || list.length !== 2) throw new Error(`BatchNorm ${this.name}: a residual BatchNorm takes [x, residual]`);
    return { x: list[0], residual: list[1]! };
  }

  /** The input, and the residual (null without one). */
  private tensors(inputs: tf.Tensor | tf.Tensor[]): { x: tf.Tensor; residual: tf.Tensor | null } {
    if (!this.residual) return { x: oneTensor(inputs, this.name), residual: null };
    if (!Array.isArray(inputs) || inputs.length !== 2) throw new Error(`BatchNorm ${this.name}: a residual BatchNorm takes [x, residual]`);
    return { x: inputs[0]!, residual: inputs[1]! };
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const { x, residual } = this.shapes(inputShape);
    if (residual && residual.join(',') !== x.join(',')) throw new Error(`BatchNorm ${this.name}: the residual's shape [${residual.join(', ')}] differs from x's [${x.join(', ')}]`);
    return x;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const channels = channelsOf(this.shapes(inputShape).x, this.name);
    const ones = tfl.initializers.ones();
    const zeros = tfl.initializers.zeros();
    this.gamma = this.addWeight('gamma', [channels], 'float32', ones);
    this.beta = this.addWeight('beta', [channels], 'float32', zeros);
    this.runningMean = this.addWeight('running_mean', [channels], 'float32', zeros, undefined, false);
    this.runningVar = this.addWeight('running_var', [channels], 'float32', ones, undefined, false);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: tf.serialization.ConfigDict): tf.Tensor {
    const { x, residual } = this.tensors(inputs);
    const relu = this.activation === 'relu';
    const [gamma, beta, runningMean, runningVar] = [this.gamma!, this.beta!, this.runningMean!, this.runningVar!];
    if (!isTraining(kwargs)) {
      return tf.tidy(() => {
        let y = tf.batchNorm(x, runningMean.read(), runningVar.read(), beta.read(), gamma.read(), this.epsilon);
        if (residual) y = tf.add(y, residual);
        return relu ? tf.relu(y) : y;
      });
    }
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
    return batchNormTrain(x, gamma.read(), beta.read(), running, { epsilon: this.epsilon, momentum: this.momentum, relu, ...(residual ? { residual } : {}) });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), momentum: this.momentum, epsilon: this.epsilon, activation: this.activation, residual: this.residual };
  }
}
tf.serialization.registerClass(BatchNorm);
