import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { conv2d } from '../../ops/index.js';
import { channelsOf, oneShape, oneTensor } from './layer-util.js';
import { PyTorchDefaultInit } from './pytorch-init.js';

export interface Conv2dArgs {
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides?: number;
  /** Zeros on every side of height and width, as PyTorch's `padding`; default (kernelSize − 1)/2. */
  readonly padding?: number;
  /** Default false (ResNets follow each convolution by BatchNorm). */
  readonly useBias?: boolean;
  /** Seeds the PyTorch-default initialization (the bias draws from a seed derived from it). */
  readonly seed?: number;
  readonly name?: string;
  readonly trainable?: boolean;
}

/**
 * torch.nn.Conv2d for NHWC tensors: square kernel, symmetric zero padding, PyTorch's default init
 * (PyTorchDefaultInit: U(±1/√(k·k·C_in)) for the filter and the bias). Output size
 * ⌊(H + 2·padding − k)/stride⌋ + 1, as PyTorch. Runs our conv2d op, whose gradient keeps only the
 * input and filter.
 */
export class Conv2d extends tfl.layers.Layer {
  static className = 'InfobatchConv2d';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: number;
  readonly useBias: boolean;
  readonly seed: number | undefined;
  private kernel: tfl.LayerVariable | null = null;
  private bias: tfl.LayerVariable | null = null;

  constructor(args: Conv2dArgs) {
    super(args);
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.strides = args.strides ?? 1;
    this.padding = args.padding ?? Math.floor((args.kernelSize - 1) / 2);
    this.useBias = args.useBias ?? false;
    this.seed = args.seed;
    for (const [what, value, min] of [['filters', this.filters, 1], ['kernelSize', this.kernelSize, 1], ['strides', this.strides, 1], ['padding', this.padding, 0]] as const) {
      if (!Number.isInteger(value) || value < min) throw new Error(`Conv2d ${this.name}: ${what} must be an integer ≥ ${min}, got ${value}`);
    }
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const inChannels = channelsOf(oneShape(inputShape, this.name), this.name);
    const fanIn = this.kernelSize * this.kernelSize * inChannels;
    const seed = this.seed;
    this.kernel = this.addWeight('kernel', [this.kernelSize, this.kernelSize, inChannels, this.filters], 'float32', new PyTorchDefaultInit({ fanIn, seed }));
    if (this.useBias) {
      this.bias = this.addWeight('bias', [this.filters], 'float32', new PyTorchDefaultInit({ fanIn, seed: seed === undefined ? undefined : `${seed}/bias` }));
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const [batch, height, width] = oneShape(inputShape, this.name);
    const out = (size: number | null | undefined) => (size == null ? null : Math.floor((size + 2 * this.padding - this.kernelSize) / this.strides) + 1);
    return [batch ?? null, out(height), out(width), this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneTensor(inputs, this.name) as tf.Tensor4D;
      const y = conv2d(x, this.kernel!.read() as tf.Tensor4D, { strides: this.strides, pad: this.padding });
      return this.bias ? tf.add(y, this.bias.read()) : y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      useBias: this.useBias,
      ...(this.seed !== undefined && { seed: this.seed }),
    };
  }
}
tf.serialization.registerClass(Conv2d);
