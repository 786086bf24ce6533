import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { releaseConsumedGradient } from './gradients.js';
import { allocFloat32, cpuBackendOf, floatValues, makeFloatOutput, NATIVE_BACKEND, type KernelContext } from './kernel_util.js';

/**
 * BatchNorm in training mode as two kernels of our own (registered for the native backend only):
 * forward = batch statistics + normalization in two passes over x; backward = the full gradient,
 * through the batch statistics, in two passes over x and dy.
 *
 * Why: tfjs-layers computes training-mode BatchNorm as tf.moments + tf.batchNorm, whose gradients
 * decompose into ~30 tensor-sized ops per layer (a Tile, broadcast multiplies, sums, …). With fast
 * convolutions those took over half of a ResNet-18 step; PyTorch spends ~7 % of its step on BatchNorm.
 */
export const BN_TRAIN_KERNEL = 'InfobatchBatchNormTrain';
export const BN_TRAIN_GRAD_KERNEL = 'InfobatchBatchNormTrainGrad';

/** inputs {x, gamma, beta}, attrs {epsilon} → [y, mean, variance] (variance biased, as tf.moments). */
export function batchNormTrain(context: KernelContext): tf.KernelFunc {
  return (args) => {
    const backend = cpuBackendOf(args);
    const { x, gamma, beta } = args.inputs;
    const { epsilon } = args.attrs as { epsilon: number };
    const xValues = floatValues(backend, x);
    const gammaValues = floatValues(backend, gamma);
    const betaValues = floatValues(backend, beta);
    if (!xValues || !gammaValues || !betaValues) throw new Error(`${BN_TRAIN_KERNEL} takes float32 x, gamma and beta`);
    const channels = x!.shape[x!.shape.length - 1]!;
    const y = allocFloat32(backend, xValues.length);
    const mean = allocFloat32(backend, channels);
    const variance = allocFloat32(backend, channels);
    context.addon.batchNormTrain(xValues, channels, gammaValues, betaValues, epsilon, y, mean, variance);
    return [makeFloatOutput(backend, [...x!.shape], y), makeFloatOutput(backend, [channels], mean), makeFloatOutput(backend, [channels], variance)];
  };
}

/** inputs {x, dy, gamma, mean, variance}, attrs {epsilon} → [dx, dgamma, dbeta]. */
export function batchNormTrainGrad(context: KernelContext): tf.KernelFunc {
  return (args) => {
    const backend = cpuBackendOf(args);
    const { x, dy, gamma, mean, variance } = args.inputs;
    const { epsilon } = args.attrs as { epsilon: number };
    const [xValues, dyValues, gammaValues, meanValues, varianceValues] = [x, dy, gamma, mean, variance].map((t) => floatValues(backend, t));
    if (!xValues || !dyValues || !gammaValues || !meanValues || !varianceValues) {
      throw new Error(`${BN_TRAIN_GRAD_KERNEL} takes float32 inputs`);
    }
    const channels = x!.shape[x!.shape.length - 1]!;
    const dx = allocFloat32(backend, xValues.length);
    const dgamma = allocFloat32(backend, channels);
    const dbeta = allocFloat32(backend, channels);
    context.addon.batchNormTrainGrad(xValues, dyValues, channels, gammaValues, meanValues, varianceValues, epsilon, dx, dgamma, dbeta);
    return [makeFloatOutput(backend, [...x!.shape], dx), makeFloatOutput(backend, [channels], dgamma), makeFloatOutput(backend, [channels], dbeta)];
  };
}

/**
 * Training-mode BatchNorm over every axis but the last, differentiable with respect to x, gamma and
 * beta. Returns the normalized tensor and the batch mean and variance (for the moving averages; the
 * caller disposes them).
 */
export function batchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  let mean: tf.Tensor | undefined;
  let variance: tf.Tensor | undefined;
  const forward = (xIn: tf.Tensor, gammaIn: tf.Tensor, betaIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, batchMean, batchVariance] = tf.engine().runKernel(BN_TRAIN_KERNEL, { x: xIn, gamma: gammaIn, beta: betaIn }, { epsilon }) as tf.Tensor[];
    // customGrad disposes what its function made except the value; the statistics must outlive it.
    mean = tf.keep(batchMean!);
    variance = tf.keep(batchVariance!);
    save([xIn, gammaIn, batchMean!, batchVariance!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, gammas, means, variances] = saved;
        const grads = tf.engine().runKernel(BN_TRAIN_GRAD_KERNEL, { x: xs!, dy: dy as tf.Tensor, gamma: gammas!, mean: means!, variance: variances! }, { epsilon }) as tf.Tensor[];
        releaseConsumedGradient(dy as tf.Tensor);
        return grads;
      },
    };
  };
  // customGrad types its function's arguments as one union; ours come in a fixed order.
  const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, gamma, beta) as tf.Tensor;
  return { y, mean: mean!, variance: variance! };
}

/** The parts of tfjs-layers' BatchNormalization layer that its training-mode call uses. */
interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tfl.LayerVariable | null;
  beta: tfl.LayerVariable | null;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor;
}

let layerPatched = false;

/**
 * Routes tfjs-layers' BatchNormalization in training mode through batchNormTraining when the native
 * backend is active; on every other backend, in inference mode, or for a layer whose axis is not the
 * last or that lacks gamma or beta, the layer's own call runs unchanged. The moving-average update is
 * the layer's own formula: moving ← moving − (moving − batch)·(1 − momentum).
 */
export function patchBatchNormalizationLayer(): void {
  if (layerPatched) return;
  const layerClass = tf.serialization.SerializationMap.getMap().classNameMap['BatchNormalization']?.[0] as unknown as
    | { prototype: BatchNormLayer }
    | undefined;
  if (!layerClass) throw new Error('tfjs-layers has no BatchNormalization layer registered');
  const original = layerClass.prototype.call;
  layerClass.prototype.call = function (this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0]! : undefined) : inputs;
    const native =
      kwargs['training'] === true &&
      tf.getBackend() === NATIVE_BACKEND &&
      x !== undefined &&
      x.dtype === 'float32' &&
      x.rank >= 2 &&
      (this.axis === -1 || this.axis === x.rank - 1) &&
      this.gamma !== null &&
      this.beta !== null;
    if (!native) return original.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(x, this.gamma!.read(), this.beta!.read(), this.epsilon);
      const decay = 1 - this.momentum;
      for (const [variable, value] of [[this.movingMean, mean], [this.movingVariance, variance]] as const) {
        const current = variable.read();
        variable.write(tf.sub(current, tf.mul(tf.sub(current, value), decay)));
      }
      tf.dispose([mean, variance]);
      return y;
    });
  };
  layerPatched = true;
}
