import * as tf from '@tensorflow/tfjs-core';
import { customOp, releaseConsumedGradient } from './dispatch.js';

export interface Conv2dOptions {
  /** Stride along height and width (one number for both). */
  readonly strides: number | readonly [number, number];
  /** Zeros added on every side of the height and width axes (PyTorch's `padding`), e.g. 1 for 3×3. */
  readonly pad: number;
}

/**
 * 2-D convolution, NHWC input and [kh, kw, in, out] filter, with symmetric explicit padding, whose
 * gradient saves only its input and filter and frees the incoming gradient once used. tfjs's own
 * conv2d gradient is the same two kernels (Conv2DBackpropInput, Conv2DBackpropFilter), but the fused
 * conv2d tfjs-layers calls also saves its output and, like every tfjs op, leaves the incoming gradient
 * alive until the whole backward pass ends; at batch 128 those held ResNet-18's peak memory about
 * 300 MB above what the kernels need.
 *
 * Symmetric padding as PyTorch's: with pad 1, a 3×3 stride-2 window centres on pixels 0, 2, 4… like a
 * 1×1 stride-2 shortcut, where TF's 'same' pads (0, 1) and centres on 1, 3, 5….
 */
export function conv2d(x: tf.Tensor4D, filter: tf.Tensor4D, options: Conv2dOptions): tf.Tensor4D {
  const strides: [number, number] = typeof options.strides === 'number' ? [options.strides, options.strides] : [options.strides[0], options.strides[1]];
  const { pad } = options;
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`conv2d: pad must be a non-negative integer, got ${pad}`);
  if (!strides.every((s) => Number.isInteger(s) && s >= 1)) throw new Error(`conv2d: strides must be positive integers, got [${strides.join(', ')}]`);
  if (x.rank !== 4 || filter.rank !== 4) throw new Error(`conv2d: takes a rank-4 input and filter, got [${x.shape.join(', ')}] and [${filter.shape.join(', ')}]`);
  if (x.shape[3] !== filter.shape[2]) throw new Error(`conv2d: input has ${x.shape[3]} channels, the filter expects ${filter.shape[2]}`);
  const attrs = { strides, pad, dataFormat: 'NHWC', dilations: [1, 1] };
  const op = customOp<[tf.Tensor4D, tf.Tensor4D]>((xIn, filterIn, save) => {
    const y = tf.engine().runKernel('Conv2D', { x: xIn, filter: filterIn }, attrs) as tf.Tensor4D;
    save([xIn, filterIn]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [xs, filters] = saved as [tf.Tensor4D, tf.Tensor4D];
        const gradAttrs = { strides, pad, dataFormat: 'NHWC' };
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: filters }, { ...gradAttrs, inputShape: xs.shape }) as tf.Tensor;
        const dfilter = tf.engine().runKernel('Conv2DBackpropFilter', { x: xs, dy }, { ...gradAttrs, filterShape: filters.shape }) as tf.Tensor;
        releaseConsumedGradient(dy);
        return [dx, dfilter];
      },
    };
  });
  return op(x, filter) as tf.Tensor4D;
}
