import type * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD } from '../../ops/kernel-names.js';
import { allocFloat32, cpuBackendOf, floatValues, makeFloatOutput, type KernelContext } from './kernel-util.js';

/**
 * The addon's training-mode BatchNorm as the kernels of our batchNormTrain op (src/ops): forward =
 * batch statistics + normalization in two passes over x; backward = the full gradient, through the
 * batch statistics, in two passes over x and dy.
 */

/** inputs {x, gamma, beta}, attrs {epsilon} → [y, mean, variance] (variance biased). */
export function batchNormTrain(context: KernelContext): tf.KernelFunc {
  return (args) => {
    const backend = cpuBackendOf(args);
    const { x, gamma, beta } = args.inputs;
    const { epsilon } = args.attrs as { epsilon: number };
    const xValues = floatValues(backend, x);
    const gammaValues = floatValues(backend, gamma);
    const betaValues = floatValues(backend, beta);
    if (!xValues || !gammaValues || !betaValues) throw new Error(`${BATCH_NORM_TRAIN} takes float32 x, gamma and beta`);
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
      throw new Error(`${BATCH_NORM_TRAIN_GRAD} takes float32 inputs`);
    }
    const channels = x!.shape[x!.shape.length - 1]!;
    const dx = allocFloat32(backend, xValues.length);
    const dgamma = allocFloat32(backend, channels);
    const dbeta = allocFloat32(backend, channels);
    context.addon.batchNormTrainGrad(xValues, dyValues, channels, gammaValues, meanValues, varianceValues, epsilon, dx, dgamma, dbeta);
    return [makeFloatOutput(backend, [...x!.shape], dx), makeFloatOutput(backend, [channels], dgamma), makeFloatOutput(backend, [channels], dbeta)];
  };
}
