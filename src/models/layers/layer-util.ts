import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** The one tensor a single-input layer was called with. */
export function oneTensor(inputs: tf.Tensor | tf.Tensor[], layer: string): tf.Tensor {
  if (!Array.isArray(inputs)) return inputs;
  if (inputs.length !== 1) throw new Error(`${layer} takes one input, got ${inputs.length}`);
  return inputs[0]!;
}

/** The one shape of a single-input layer. */
export function oneShape(shape: tfl.Shape | tfl.Shape[], layer: string): tfl.Shape {
  if (shape.length > 0 && Array.isArray(shape[0])) {
    if (shape.length !== 1) throw new Error(`${layer} takes one input, got ${shape.length}`);
    return shape[0] as tfl.Shape;
  }
  return shape as tfl.Shape;
}

/** The size of the last axis, which must be known when the layer is built. */
export function channelsOf(shape: tfl.Shape, layer: string): number {
  const channels = shape[shape.length - 1];
  if (channels == null) throw new Error(`${layer}: the channel (last) axis of its input must be known, got [${shape.join(', ')}]`);
  return channels;
}

/** Whether a layer's call runs in training mode (model.apply(x, {training: true})). */
export function isTraining(kwargs: tf.serialization.ConfigDict | undefined): boolean {
  return kwargs?.['training'] === true;
}
