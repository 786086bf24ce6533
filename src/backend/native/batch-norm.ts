import type * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD } from '../../ops/kernel-names.js';
import { BinaryOp, UnaryOp } from './addon.js';
import { allocFloat32, cpuBackendOf, floatValues, makeFloatOutput, type KernelContext } from './kernel-util.js';

/**
 * The addon's training-mode BatchNorm as the kernels of our batchNormTrain op (src/ops): forward =
 * batch statistics + normalization in two passes over x; backward = the full gradient, through the
 * batch statistics, in two passes over x and dy.
 */

/**
 * inputs {x, gamma, beta, runningMean, runningVar, residual?}, attrs {epsilon, momentum, relu} → [y, mean,
 * variance (biased), runningMean′, runningVar′]. The running update is a loop over the channels here: the
 * addon computes the statistics, and a per-channel pass in JavaScript costs nothing beside the two passes
 * over x. The residual and the ReLU are the addon's element-wise kernels over y, in place.
 */
export function batchNormTrain(context: KernelContext): tf.KernelFunc {
  return (args) => {
    const backend = cpuBackendOf(args);
    const { x, gamma, beta, runningMean, runningVar, residual } = args.inputs;
    const { epsilon, momentum, relu } = args.attrs as { epsilon: number; momentum: number; relu?: boolean };
    const [xValues, gammaValues, betaValues, runningMeanValues, runningVarValues] = [x, gamma, beta, runningMean, runningVar].map((t) => floatValues(backend, t));
    if (!xValues || !gammaValues || !betaValues || !runningMeanValues || !runningVarValues) {
      throw new Error(`${BATCH_NORM_TRAIN} takes float32 x, gamma, beta, runningMean and runningVar`);
    }
    const channels = x!.shape[x!.shape.length - 1]!;
    const y = allocFloat32(backend, xValues.length);
    const mean = allocFloat32(backend, channels);
    const variance = allocFloat32(backend, channels);
    context.addon.batchNormTrain(xValues, channels, gammaValues, betaValues, epsilon, y, mean, variance);
    if (residual) {
      const residualValues = floatValues(backend, residual);
      if (!residualValues) throw new Error(`${BATCH_NORM_TRAIN} takes a float32 residual`);
      context.addon.binary(BinaryOp.Add, y, x!.shape, residualValues, residual.shape, y, x!.shape);
    }
    if (relu) context.addon.unary(UnaryOp.Relu, y, y);
    const n = xValues.length / channels;
    const newMean = allocFloat32(backend, channels);
    const newVar = allocFloat32(backend, channels);
    for (let c = 0; c < channels; c++) {
      newMean[c] = (1 - momentum) * runningMeanValues[c]! + momentum * mean[c]!;
      newVar[c] = (1 - momentum) * runningVarValues[c]! + ((momentum * n) / (n - 1)) * variance[c]!;
    }
    return [y, mean, variance, newMean, newVar].map((values, i) => makeFloatOutput(backend, i === 0 ? [...x!.shape] : [channels], values));
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
