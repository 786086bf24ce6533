import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { relu } from '../../ops/index.js';
import { oneTensor } from './layer-util.js';

/**
 * max(x, 0) through our relu op, whose gradient saves the output rather than the input. Our ResNets fold
 * their ReLUs into the BatchNorm before them (BatchNorm's `activation`); this layer stays registered for
 * models of your own and so that models saved with it load again.
 */
export class ReLU extends tfl.layers.Layer {
  static className = 'InfobatchReLU';

  constructor(args: { name?: string; trainable?: boolean } = {}) {
    super(args);
    this.supportsMasking = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return relu(oneTensor(inputs, this.name));
  }
}
tf.serialization.registerClass(ReLU);
