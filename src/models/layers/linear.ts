import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { channelsOf, oneShape, oneTensor } from './layer-util.js';
import { PyTorchDefaultInit } from './pytorch-init.js';

export interface LinearArgs {
  readonly units: number;
  /** Default true, as torch.nn.Linear. */
  readonly useBias?: boolean;
  /** Seeds the PyTorch-default initialization (the bias draws from a seed derived from it). */
  readonly seed?: number;
  readonly name?: string;
  readonly trainable?: boolean;
}

/**
 * torch.nn.Linear on the last axis of a [batch, features] tensor, with PyTorch's default init:
 * kernel and bias U(±1/√features). One fused matMul + bias (tfjs's _FusedMatMul kernel).
 */
export class Linear extends tfl.layers.Layer {
  static className = 'InfobatchLinear';
  readonly units: number;
  readonly useBias: boolean;
  readonly seed: number | undefined;
  private kernel: tfl.LayerVariable | null = null;
  private bias: tfl.LayerVariable | null = null;

  constructor(args: LinearArgs) {
    super(args);
    this.units = args.units;
    this.useBias = args.useBias ?? true;
    this.seed = args.seed;
    if (!Number.isInteger(this.units) || this.units < 1) throw new Error(`Linear ${this.name}: units must be a positive integer, got ${this.units}`);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = oneShape(inputShape, this.name);
    if (shape.length !== 2) throw new Error(`Linear ${this.name}: takes [batch, features], got [${shape.join(', ')}]`);
    const fanIn = channelsOf(shape, this.name);
    const seed = this.seed;
    this.kernel = this.addWeight('kernel', [fanIn, this.units], 'float32', new PyTorchDefaultInit({ fanIn, seed }));
    if (this.useBias) this.bias = this.addWeight('bias', [this.units], 'float32', new PyTorchDefaultInit({ fanIn, seed: seed === undefined ? undefined : `${seed}/bias` }));
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return [oneShape(inputShape, this.name)[0] ?? null, this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneTensor(inputs, this.name) as tf.Tensor2D;
      return tf.fused.matMul({ a: x, b: this.kernel!.read() as tf.Tensor2D, ...(this.bias && { bias: this.bias.read() }) });
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, useBias: this.useBias, ...(this.seed !== undefined && { seed: this.seed }) };
  }
}
tf.serialization.registerClass(Linear);
