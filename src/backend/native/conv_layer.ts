import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { releaseConsumedGradient } from './gradients.js';
import { NATIVE_BACKEND } from './kernel_util.js';

/**
 * 2-D convolution whose gradient saves only its input and filter, and frees the incoming gradient once
 * used. tfjs's fused conv2d (what tfjs-layers' Conv2D calls) also saves its output and, like every tfjs
 * op, leaves the incoming gradient alive until the whole backward pass ends; at batch 128 those held
 * ResNet-18's peak memory about 300 MB above what the kernels need.
 */
export function conv2dSavingInputs(x: tf.Tensor4D, filter: tf.Tensor4D, strides: [number, number], pad: 'same' | 'valid'): tf.Tensor4D {
  const attrs = { strides, pad, dataFormat: 'NHWC', dilations: [1, 1] };
  const forward = (xIn: tf.Tensor4D, filterIn: tf.Tensor4D, save: tf.GradSaveFunc) => {
    const y = tf.engine().runKernel('Conv2D', { x: xIn, filter: filterIn }, attrs) as tf.Tensor4D;
    save([xIn, filterIn]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, filters] = saved as [tf.Tensor4D, tf.Tensor4D];
        const gradAttrs = { strides, pad, dataFormat: 'NHWC' };
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy: dy as tf.Tensor, filter: filters }, { ...gradAttrs, inputShape: xs.shape }) as tf.Tensor;
        const dfilter = tf.engine().runKernel('Conv2DBackpropFilter', { x: xs, dy: dy as tf.Tensor }, { ...gradAttrs, filterShape: filters.shape }) as tf.Tensor;
        releaseConsumedGradient(dy as tf.Tensor);
        return [dx, dfilter];
      },
    };
  };
  // customGrad types its function's arguments as one union; ours come in a fixed order.
  return tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0])(x, filter) as tf.Tensor4D;
}

/** The parts of tfjs-layers' Conv2D layer that its call uses. */
interface ConvLayer {
  rank: number;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number | number[];
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable | null;
  activation: { getClassName(): string } | null;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
}

let layerPatched = false;

/**
 * Routes tfjs-layers' Conv2D through conv2dSavingInputs when the native backend is active and the layer
 * is what ResNets use (2-D, NHWC, no bias, linear activation, no dilation, 'same' or 'valid' padding);
 * every other case runs the layer's own call unchanged.
 */
export function patchConv2DLayer(): void {
  if (layerPatched) return;
  const layerClass = tf.serialization.SerializationMap.getMap().classNameMap['Conv2D']?.[0] as unknown as { prototype: ConvLayer } | undefined;
  if (!layerClass) throw new Error('tfjs-layers has no Conv2D layer registered');
  const original = layerClass.prototype.call;
  layerClass.prototype.call = function (this: ConvLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) {
    const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0]! : undefined) : inputs;
    const dilations = Array.isArray(this.dilationRate) ? this.dilationRate : [this.dilationRate];
    const native =
      tf.getBackend() === NATIVE_BACKEND &&
      x !== undefined &&
      x.rank === 4 &&
      x.dtype === 'float32' &&
      this.rank === 2 &&
      this.dataFormat === 'channelsLast' &&
      this.bias === null &&
      (this.activation === null || this.activation.getClassName() === 'linear') &&
      dilations.every((d) => d === 1) &&
      (this.padding === 'same' || this.padding === 'valid');
    if (!native) return original.call(this, inputs, kwargs);
    return tf.tidy(() =>
      conv2dSavingInputs(x as tf.Tensor4D, this.kernel.read() as tf.Tensor4D, [this.strides[0]!, this.strides[1]!], this.padding as 'same' | 'valid'),
    );
  };
  layerPatched = true;
}
