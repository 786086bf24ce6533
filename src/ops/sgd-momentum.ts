import * as tf from '@tensorflow/tfjs-core';
import { backendHasKernel, runKernelOutputs } from './dispatch.js';
import { SGD_MOMENTUM } from './kernel-names.js';

export interface SgdMomentumAttrs {
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  /** The buffers are zeros and not read: buffer' = g (torch's first step). */
  readonly firstStep: boolean;
}

export interface SgdMomentumResult {
  readonly params: tf.Tensor[];
  readonly buffers: tf.Tensor[];
}

/**
 * One step of torch.optim.SGD (dampening 0, no Nesterov) for n tensors:
 *   g = grad + weightDecay·param;  buffer' = firstStep ? g : momentum·buffer + g;  param' = param − lr·buffer'.
 * One dispatch for all tensors where the backend registers SGD_MOMENTUM; otherwise five element-wise
 * ops per tensor. Returns new tensors; the caller assigns them to its variables.
 */
export function sgdMomentum(params: readonly tf.Tensor[], grads: readonly tf.Tensor[], buffers: readonly tf.Tensor[], attrs: SgdMomentumAttrs): SgdMomentumResult {
  const n = params.length;
  if (grads.length !== n || buffers.length !== n) throw new Error(`sgdMomentum: ${n} parameters, ${grads.length} gradients, ${buffers.length} buffers`);
  params.forEach((param, i) => {
    for (const [what, other] of [['gradient', grads[i]!], ['buffer', buffers[i]!]] as const) {
      if (!tf.util.arraysEqual(param.shape, other.shape)) {
        throw new Error(`sgdMomentum: parameter ${i} has shape [${param.shape.join(', ')}], its ${what} [${other.shape.join(', ')}]`);
      }
    }
  });
  if (n === 0) return { params: [], buffers: [] };
  if (backendHasKernel(SGD_MOMENTUM)) {
    const inputs: tf.NamedTensorMap = {};
    [...params, ...grads, ...buffers].forEach((t, i) => (inputs[String(i)] = t));
    const outputs = runKernelOutputs(SGD_MOMENTUM, inputs, { ...attrs });
    return { params: outputs.slice(0, n), buffers: outputs.slice(n) };
  }
  return tf.tidy(() => {
    const nextBuffers = params.map((param, i) => {
      const g = attrs.weightDecay !== 0 ? tf.add(grads[i]!, tf.mul(param, attrs.weightDecay)) : grads[i]!;
      return attrs.firstStep ? tf.clone(g) : tf.add(tf.mul(buffers[i]!, attrs.momentum), g);
    });
    const nextParams = params.map((param, i) => tf.sub(param, tf.mul(nextBuffers[i]!, attrs.lr)));
    return [...nextParams, ...nextBuffers];
  }).reduce<SgdMomentumResult>(
    (result, t, i) => {
      (i < n ? result.params : result.buffers).push(t);
      return result;
    },
    { params: [], buffers: [] },
  );
}
