/**
 * Our training ops (the one owner of them): each runs a kernel registered under our own name
 * (./kernel-names.ts) when the active backend has one, and otherwise a composite of standard tfjs ops
 * that computes the same result, so every backend runs them. Gradients of our kernels are registered
 * for our names by the op that runs them, or owned by the op through a custom gradient; nothing overwrites
 * a gradient or a class of tfjs.
 */

export { batchNormTrain, type BatchNormTrainOptions, type RunningStatistics } from './batch-norm-train.js';
export { batchNormTrainGrad } from './batch-norm-train-grad.js';
export { conv2d, type Conv2dOptions } from './conv2d.js';
export { fork } from './fork.js';
export { relu, reluGrad } from './relu.js';
export { sgdMomentum, type SgdMomentumAttrs, type SgdMomentumResult } from './sgd-momentum.js';
export * from './kernel-names.js';
