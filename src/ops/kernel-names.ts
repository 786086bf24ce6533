// src/ops/kernel-names.ts
/** Training-mode BatchNorm over every axis but the last, with PyTorch's running-statistics update.
 *  inputs {x, gamma, beta, runningMean, runningVar, residual (optional, x's shape)} (float32),
 *  attrs {epsilon, momentum, relu: boolean}
 *  → [y, mean, variance, runningMean′, runningVar′]; y = bn(x) (+ residual) (then max(·, 0) if relu);
 *  mean/variance are per channel, of x, variance BIASED (÷n);
 *  runningMean′ = (1 − momentum)·runningMean + momentum·mean,
 *  runningVar′ = (1 − momentum)·runningVar + momentum·variance·n/(n − 1), n = rows per channel. */
export const BATCH_NORM_TRAIN = 'InfobatchBatchNormTrain';
/** Its gradient. inputs {x, dy, gamma, mean, variance}, attrs {epsilon} → [dx, dgamma, dbeta]. */
export const BATCH_NORM_TRAIN_GRAD = 'InfobatchBatchNormTrainGrad';
/** ReLU's gradient from its OUTPUT. inputs {dy, y} → dx = (y > 0 ? dy : 0). */
export const RELU_GRAD = 'InfobatchReluGrad';
/** torch.optim.SGD (dampening 0, no Nesterov) over n tensors in one kernel.
 *  inputs: an array of 3n float32 tensors [param_0..param_{n-1}, grad_0..grad_{n-1}, buffer_0..buffer_{n-1}]
 *  (passed to runKernel as the inputs object, keys '0'..'3n-1', like Concat/AddN do),
 *  attrs {lr: number, momentum: number, weightDecay: number, firstStep: boolean}
 *  → 2n outputs [param'_0.., buffer'_0..]:  g = grad + weightDecay·param;
 *     buffer' = firstStep ? g : momentum·buffer + g;   param' = param − lr·buffer'.
 *  (On the first step the buffers passed are zeros and are not read.) The caller assigns the outputs to
 *  its variables (tf.Variable.assign swaps the data, no copy). */
export const SGD_MOMENTUM = 'InfobatchSgdMomentum';
/** Two references to x for two consumers. inputs {x} → [x, x] (shared data, no copy). Its gradient sums
 *  the two and releases them (see ./fork.ts). */
export const FORK = 'InfobatchFork';
