import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { oneShape, oneTensor } from './layer-util.js';

/**
 * The mean over height and width of an NHWC tensor → [batch, channels], as an average pool whose window
 * is the whole image (PyTorch's ResNets: F.avg_pool2d(out, 4), or AdaptiveAvgPool2d(1)).
 *
 * Why not tfjs-layers' GlobalAveragePooling2D: it computes tf.mean, whose gradient multiplies by a ones
 * tensor of the input's whole shape made on the host (8 MiB for ResNet-18 at batch 256), which a GPU
 * backend uploads every step; the average pool's gradient is one AvgPoolGrad kernel.
 */
export class GlobalAveragePool extends tfl.layers.Layer {
  static className = 'InfobatchGlobalAveragePool';

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = oneShape(inputShape, this.name);
    if (shape.length !== 4) throw new Error(`GlobalAveragePool ${this.name}: expects NHWC input, got shape [${shape.join(', ')}]`);
    return [shape[0]!, shape[3]!];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = oneTensor(inputs, this.name);
    if (x.rank !== 4) throw new Error(`GlobalAveragePool ${this.name}: expects NHWC input, got shape [${x.shape.join(', ')}]`);
    const [batch, height, width, channels] = x.shape as [number, number, number, number];
    return tf.reshape(tf.avgPool(x as tf.Tensor4D, [height, width], [height, width], 'valid'), [batch, channels]);
  }
}
tf.serialization.registerClass(GlobalAveragePool);
