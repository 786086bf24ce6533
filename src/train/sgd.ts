import * as tf from '@tensorflow/tfjs-core';
import { sgdMomentum } from '../ops/index.js';

/**
 * SGD with momentum and L2 weight decay, exactly as torch.optim.SGD (dampening 0, no Nesterov):
 *   g ← ∇ + λ·θ;  buf ← μ·buf + g (buf ← g on the first step);  θ ← θ − lr·buf.
 * Written out rather than tf.train.momentum because tfjs's optimizer has no weight decay, scales its
 * momentum differently and cannot change momentum per step (OneCycle cycles it), and because its buffers
 * must go into checkpoints. The update is our sgdMomentum op: one kernel for all variables where the
 * backend registers one.
 */
export class SgdMomentum {
  private buffers: tf.Variable[] | null = null;

  constructor(
    private readonly params: readonly tf.Variable[],
    private readonly weightDecay: number,
  ) {}

  /** One update. `grads[i]` is the gradient of `params[i]`. */
  step(grads: readonly tf.Tensor[], lr: number, momentum: number): void {
    if (grads.length !== this.params.length) throw new Error(`${grads.length} gradients for ${this.params.length} parameters`);
    tf.tidy(() => {
      const first = this.buffers === null;
      if (first) this.buffers = this.params.map((p) => tf.variable(tf.zerosLike(p), false));
      const buffers = this.buffers!;
      const next = sgdMomentum(this.params, grads, buffers, { lr, momentum, weightDecay: this.weightDecay, firstStep: first });
      // assign takes over the new tensors' data: no copy.
      this.params.forEach((param, i) => param.assign(next.params[i]!));
      buffers.forEach((buffer, i) => buffer.assign(next.buffers[i]!));
    });
  }

  /** Momentum buffers as one flat array (empty before the first step), for checkpoints. */
  async getState(): Promise<Float32Array> {
    if (!this.buffers) return new Float32Array(0);
    const parts = (await Promise.all(this.buffers.map((b) => b.data()))) as Float32Array[];
    const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  setState(state: Float32Array): void {
    this.dispose();
    if (state.length === 0) return;
    const total = this.params.reduce((s, p) => s + p.size, 0);
    if (state.length !== total) throw new Error(`optimizer state has ${state.length} values, the model ${total}`);
    let offset = 0;
    this.buffers = this.params.map((p) => {
      const values = state.subarray(offset, offset + p.size);
      offset += p.size;
      return tf.variable(tf.tensor(values, p.shape, 'float32'), false);
    });
  }

  dispose(): void {
    this.buffers?.forEach((b) => b.dispose());
    this.buffers = null;
  }
}
