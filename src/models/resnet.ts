import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BatchNorm, Conv2d, Fork, GlobalAveragePool, Linear } from './layers/index.js';

/**
 * CIFAR-form ResNets built from our PyTorch-semantics layers (./layers), for any input shape and class
 * count.
 *
 * CIFAR form (as in the official InfoBatch example and the reproduction it mirrors): a 3×3 stride-1 stem,
 * no max-pool, stages with strides 1/2/2/2, BatchNorm after every convolution, global average pool, one
 * dense layer. Each BatchNorm carries the ReLU after it, and a block's last one the shortcut's addition
 * too (relu(bn(x) + shortcut) as one layer: see BatchNorm), the same function as PyTorch's separate
 * modules with fewer tensors kept for the backward pass. Convolutions have no bias (BatchNorm follows), so ResNet-18 for 10 classes has exactly
 * 11,173,962 trainable parameters, like torchvision-style CIFAR ResNet-18 in PyTorch. The recipe is
 * PyTorch's: convolutions pad symmetrically (padding 1 for 3×3, 0 for 1×1, so both paths of a
 * downsampling block sample pixels 0, 2, 4…), weights and biases start from PyTorch's default init,
 * BatchNorm has momentum 0.1 and eps 1e-5 and keeps its running variance unbiased.
 */
export interface ResNetSpec {
  /** 'basic' (two 3×3 convs, ResNet-18/34) or 'bottleneck' (1×1, 3×3, 1×1 ×4, ResNet-50). */
  readonly block: 'basic' | 'bottleneck';
  /** Blocks per stage. */
  readonly blocks: readonly number[];
  /** Channels per stage (before the bottleneck's ×4 expansion); the stem has widths[0]. */
  readonly widths: readonly number[];
  /**
   * How a block changes shape on its shortcut: 'projection' (1×1 conv + BN, as ResNet-18/50) or
   * 'zero-pad' (subsample and pad channels with zeros: option A of He et al., as ResNet-20 for CIFAR).
   */
  readonly shortcut: 'projection' | 'zero-pad';
}

export interface BuildOptions {
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  /** Seeds every initializer (each layer gets its own derived seed). */
  readonly seed: number;
}

/**
 * Pads the channel axis with zeros on both sides (the option-A shortcut of He et al.). A custom layer
 * because tfjs-layers has no Lambda; registered so saved models load again.
 */
export class ZeroPadChannels extends tfl.layers.Layer {
  static className = 'ZeroPadChannels';
  private readonly before: number;
  private readonly after: number;

  constructor(args: { before: number; after: number; name?: string }) {
    super(args);
    this.before = args.before;
    this.after = args.after;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const channels = shape[shape.length - 1];
    return [...shape.slice(0, -1), channels == null ? null : channels + this.before + this.after];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const paddings = x.shape.map((_, axis) => (axis === x.rank - 1 ? [this.before, this.after] : [0, 0])) as Array<[number, number]>;
    return tf.pad(x, paddings);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), before: this.before, after: this.after };
  }
}
tf.serialization.registerClass(ZeroPadChannels);

/** Builds the layer graph; the seed counter makes every initializer distinct yet reproducible. */
class ResNetBuilder {
  private layerSeed: number;

  constructor(seed: number) {
    // Spread seeds of different runs apart so run s's layer k never shares a seed with run s+1's layer k-1.
    this.layerSeed = seed * 10007 + 1;
  }

  private nextSeed(): number {
    return this.layerSeed++;
  }

  /** A bias-free convolution padded (kernelSize − 1)/2 on every side, as PyTorch's ResNets. */
  conv(x: tfl.SymbolicTensor, filters: number, kernelSize: number, strides: number, name: string): tfl.SymbolicTensor {
    return new Conv2d({ filters, kernelSize, strides, padding: (kernelSize - 1) / 2, useBias: false, seed: this.nextSeed(), name }).apply(x) as tfl.SymbolicTensor;
  }

  bn(x: tfl.SymbolicTensor, name: string): tfl.SymbolicTensor {
    return new BatchNorm({ name }).apply(x) as tfl.SymbolicTensor;
  }

  /** relu(bn(x)), one layer (PyTorch: F.relu(bn(x))). */
  bnRelu(x: tfl.SymbolicTensor, name: string): tfl.SymbolicTensor {
    return new BatchNorm({ activation: 'relu', name }).apply(x) as tfl.SymbolicTensor;
  }

  /** relu(bn(x) + shortcut), a block's end as one layer (PyTorch: F.relu(bn2(y) + shortcut(x))). */
  bnAddRelu(x: tfl.SymbolicTensor, shortcut: tfl.SymbolicTensor, name: string): tfl.SymbolicTensor {
    return new BatchNorm({ activation: 'relu', residual: true, name }).apply([x, shortcut]) as tfl.SymbolicTensor;
  }

  shortcut(x: tfl.SymbolicTensor, outChannels: number, strides: number, kind: ResNetSpec['shortcut'], name: string): tfl.SymbolicTensor {
    const inChannels = x.shape[x.shape.length - 1]!;
    if (strides === 1 && inChannels === outChannels) return x;
    if (kind === 'projection') {
      return this.bn(this.conv(x, outChannels, 1, strides, `${name}_conv`), `${name}_bn`);
    }
    // Option A: take every strides-th pixel (a 1×1 pool with a stride), then pad channels with zeros.
    const subsampled =
      strides === 1 ? x : (tfl.layers.averagePooling2d({ poolSize: 1, strides, padding: 'valid', name: `${name}_subsample` }).apply(x) as tfl.SymbolicTensor);
    const extra = outChannels - inChannels;
    return new ZeroPadChannels({ before: Math.floor(extra / 2), after: extra - Math.floor(extra / 2), name: `${name}_pad` }).apply(subsampled) as tfl.SymbolicTensor;
  }

  /** The block input for its two branches: one Fork layer (see layers/fork.ts). */
  branches(x: tfl.SymbolicTensor, name: string): [tfl.SymbolicTensor, tfl.SymbolicTensor] {
    const [main, skip] = new Fork({ name: `${name}_fork` }).apply(x) as tfl.SymbolicTensor[];
    return [main!, skip!];
  }

  basicBlock(input: tfl.SymbolicTensor, width: number, strides: number, shortcut: ResNetSpec['shortcut'], name: string): tfl.SymbolicTensor {
    const [x, skip] = this.branches(input, name);
    const y = this.bnRelu(this.conv(x, width, 3, strides, `${name}_conv1`), `${name}_bn1`);
    const residual = this.shortcut(skip, width, strides, shortcut, `${name}_shortcut`);
    return this.bnAddRelu(this.conv(y, width, 3, 1, `${name}_conv2`), residual, `${name}_bn2`);
  }

  bottleneckBlock(input: tfl.SymbolicTensor, width: number, strides: number, shortcut: ResNetSpec['shortcut'], name: string): tfl.SymbolicTensor {
    const out = width * 4;
    const [x, skip] = this.branches(input, name);
    let y = this.bnRelu(this.conv(x, width, 1, 1, `${name}_conv1`), `${name}_bn1`);
    y = this.bnRelu(this.conv(y, width, 3, strides, `${name}_conv2`), `${name}_bn2`);
    const residual = this.shortcut(skip, out, strides, shortcut, `${name}_shortcut`);
    return this.bnAddRelu(this.conv(y, out, 1, 1, `${name}_conv3`), residual, `${name}_bn3`);
  }

  dense(x: tfl.SymbolicTensor, units: number): tfl.SymbolicTensor {
    return new Linear({ units, seed: this.nextSeed(), name: 'classifier' }).apply(x) as tfl.SymbolicTensor;
  }
}

export function buildResNet(name: string, spec: ResNetSpec, options: BuildOptions): tfl.LayersModel {
  if (spec.blocks.length !== spec.widths.length) throw new Error(`${name}: blocks and widths differ in length`);
  const builder = new ResNetBuilder(options.seed);
  const input = tfl.input({ shape: [...options.inputShape], name: 'image' });
  let x = builder.bnRelu(builder.conv(input, spec.widths[0]!, 3, 1, 'stem_conv'), 'stem_bn');
  spec.widths.forEach((width, stage) => {
    for (let block = 0; block < spec.blocks[stage]!; block++) {
      const strides = stage > 0 && block === 0 ? 2 : 1;
      const blockName = `stage${stage + 1}_block${block + 1}`;
      x =
        spec.block === 'basic'
          ? builder.basicBlock(x, width, strides, spec.shortcut, blockName)
          : builder.bottleneckBlock(x, width, strides, spec.shortcut, blockName);
    }
  });
  x = new GlobalAveragePool({ name: 'pool' }).apply(x) as tfl.SymbolicTensor;
  const logits = builder.dense(x, options.numClasses);
  return tfl.model({ inputs: input, outputs: logits, name });
}
