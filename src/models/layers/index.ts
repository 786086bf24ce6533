/**
 * Layers of our own with PyTorch's semantics (padding, initialization, BatchNorm statistics), built
 * on our training ops (src/ops). Importing this registers them for deserialization, so saved models
 * load again.
 */
export { BatchNorm, BN_EPSILON, BN_MOMENTUM, type BatchNormArgs } from './batch-norm.js';
export { Conv2d, type Conv2dArgs } from './conv2d.js';
export { Fork } from './fork.js';
export { GlobalAveragePool } from './global-average-pool.js';
export { Linear, type LinearArgs } from './linear.js';
export { fanInOf, PyTorchDefaultInit, type PyTorchDefaultInitArgs } from './pytorch-init.js';
export { ReLU } from './relu.js';
