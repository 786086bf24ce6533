import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

export interface PyTorchDefaultInitArgs {
  /**
   * Inputs feeding each output: k·k·C_in for a conv filter [k, k, C_in, C_out], C_in for a dense kernel
   * [C_in, C_out]. Required for a bias (its shape does not say); taken from the shape otherwise.
   */
  readonly fanIn?: number;
  /** Seeds the draw (any number or string); unseeded draws differ every time. */
  readonly seed?: number | string;
}

/**
 * PyTorch's default initialization of Conv2d and Linear: weights kaiming_uniform_(a = √5), i.e.
 * U(−b, b) with b = gain·√(3/fan_in), gain = √(2/(1 + a²)) = √(1/3), so b = 1/√fan_in; biases
 * U(±1/√fan_in) with the same fan_in. Standard deviation b/√3 = 1/√(3·fan_in): about 2.2× smaller
 * than He-normal's √(2/fan_in), which matters with BatchNorm (the effective learning rate of a
 * normalized layer scales with 1/‖w‖², and weight decay takes far longer than a 100-epoch run to pull
 * the norms together). Serializable, so configs naming it load again.
 */
export class PyTorchDefaultInit extends tf.serialization.Serializable {
  static className = 'PyTorchDefaultInit';
  readonly fanIn: number | undefined;
  readonly seed: number | string | undefined;

  constructor(args: PyTorchDefaultInitArgs = {}) {
    super();
    if (args.fanIn !== undefined && !(Number.isInteger(args.fanIn) && args.fanIn > 0)) throw new Error(`PyTorchDefaultInit: fanIn must be a positive integer, got ${args.fanIn}`);
    this.fanIn = args.fanIn;
    this.seed = args.seed;
  }

  /** The bound b of U(−b, b) for a tensor of this shape. */
  bound(shape: readonly number[]): number {
    return 1 / Math.sqrt(this.fanIn ?? fanInOf(shape));
  }

  apply(shape: tfl.Shape, dtype: tf.DataType = 'float32'): tf.Tensor {
    const dims = shape.map((d) => {
      if (d == null) throw new Error('PyTorchDefaultInit needs a fully defined shape');
      return d;
    });
    const bound = this.bound(dims);
    if (dtype !== 'float32') throw new Error(`PyTorchDefaultInit makes float32 tensors, not ${dtype}`);
    // tf.randomUniform hashes a string seed; numbers go through it the same way.
    return tf.randomUniform(dims, -bound, bound, 'float32', this.seed === undefined ? undefined : String(this.seed));
  }

  fromConfigUsesCustomObjects(): boolean {
    return false;
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...(this.fanIn !== undefined && { fanIn: this.fanIn }), ...(this.seed !== undefined && { seed: this.seed }) };
  }
}
tf.serialization.registerClass(PyTorchDefaultInit);

/** fan_in as PyTorch computes it for a weight in tfjs's layout (inputs on the second-to-last axis). */
export function fanInOf(shape: readonly number[]): number {
  if (shape.length < 2) throw new Error(`fan_in of a tensor of shape [${shape.join(', ')}] is undefined; pass fanIn`);
  // [kh, kw, C_in, C_out] or [C_in, C_out]: every axis but the last (the outputs).
  return shape.slice(0, -1).reduce((a, b) => a * b, 1);
}
