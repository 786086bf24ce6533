import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fork } from '../../ops/index.js';
import { oneShape, oneTensor } from './layer-util.js';

/**
 * Its input twice, for two branches (a ResNet block's first convolution and its shortcut), through our
 * fork op: the branches' gradients are summed and freed at once rather than one of them being held to
 * the end of the backward pass (see src/ops/fork.ts). No weights; the values are the input's.
 * tfjs-layers' executor applies a layer once per output, so this runs twice per pass; the second call's
 * tensors share the input's data, lead nowhere, and go with the step's tidy.
 */
export class Fork extends tfl.layers.Layer {
  static className = 'InfobatchFork';

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape[] {
    const shape = oneShape(inputShape, this.name);
    return [shape, shape];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return fork(oneTensor(inputs, this.name));
  }
}
tf.serialization.registerClass(Fork);
