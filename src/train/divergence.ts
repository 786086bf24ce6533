/**
 * Divergence: a non-finite loss (NaN, ±Infinity) means the weights are already ruined, so the run stops at
 * once instead of training, evaluating and saving garbage. The loop calls checkFiniteLosses with the
 * per-sample losses it has read back for batch b; on a GPU backend that read-back may arrive a few batches
 * late, so the check names the batch that produced the value (not the one being trained now). Nothing of the
 * unfinished epoch is saved: the last checkpoint (end of the previous epoch) stays the run's resumable state.
 */
export class DivergenceError extends Error {
  override readonly name = 'DivergenceError';
  constructor(
    /** 1-based epoch and batch in which the non-finite loss was produced. */
    readonly epoch: number,
    readonly batch: number,
    readonly what: 'loss' | 'test loss' = 'loss',
  ) {
    super(
      what === 'loss'
        ? `loss diverged at epoch ${epoch}, batch ${batch}; try a lower --max_lr`
        : `test loss diverged at epoch ${epoch}; try a lower --max_lr`,
    );
  }
}

/** Throws DivergenceError if any loss is not finite. `epoch` and `batch` are 0-based, as in the loop. */
export function checkFiniteLosses(losses: ArrayLike<number>, epoch: number, batch: number): void {
  for (let i = 0; i < losses.length; i++) {
    if (!Number.isFinite(losses[i]!)) throw new DivergenceError(epoch + 1, batch + 1);
  }
}

/** Throws DivergenceError if the test loss after epoch `epoch` (0-based) is not finite. */
export function checkFiniteTestLoss(loss: number, epoch: number): void {
  if (!Number.isFinite(loss)) throw new DivergenceError(epoch + 1, 0, 'test loss');
}
