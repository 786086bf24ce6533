/**
 * The OneCycle learning-rate and momentum schedule (PyTorch's OneCycleLR, cosine, two phases), stepped
 * every iteration.
 *
 * Why it is indexed by epoch progress and not by a step counter: with InfoBatch the number of steps of a
 * pruned epoch depends on the scores at that epoch's start, so a run's total step count cannot be known
 * ahead. The official code sizes its scheduler from a stale or unpruned count and either steps past the end
 * ("Tried to step N+1 times") or never finishes the cycle. Here step b of an epoch with B batches sits at
 * progress p = (e + b/B) / E of the cycle: the curve is exactly the full-data run's curve as a function of
 * epochs, the first step takes the initial lr, the peak falls at pctStart of the epochs, and the last step of
 * the last epoch is at p = 1 − 1/(E·B), within (π/(E·B))²/4 · maxLr of the final lr. A pruned epoch takes
 * fewer, evenly spaced steps over the same stretch of the cycle. Nothing can overrun: p < 1 always.
 */
export interface OneCycleOptions {
  readonly maxLr: number;
  /** initial lr = maxLr / divFactor */
  readonly divFactor: number;
  /** final lr = initial lr / finalDivFactor */
  readonly finalDivFactor: number;
  /** Share of the cycle spent rising to maxLr. */
  readonly pctStart: number;
  /** Momentum is cycled inversely to the lr: maxMomentum at the ends, baseMomentum at the peak. */
  readonly baseMomentum: number;
  readonly maxMomentum: number;
}

export interface ScheduleValue {
  readonly lr: number;
  readonly momentum: number;
}

/** Cosine interpolation from `start` (pct 0) to `end` (pct 1), as torch's _annealing_cos. */
function annealCos(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (1 + Math.cos(Math.PI * pct));
}

export class OneCycleSchedule {
  readonly initialLr: number;
  readonly minLr: number;

  constructor(readonly options: OneCycleOptions) {
    const { maxLr, divFactor, finalDivFactor, pctStart } = options;
    if (!(maxLr > 0) || !(divFactor > 0) || !(finalDivFactor > 0)) throw new RangeError('OneCycle: maxLr, divFactor and finalDivFactor must be positive');
    if (!(pctStart > 0 && pctStart < 1)) throw new RangeError(`OneCycle: pctStart must be in (0, 1), got ${pctStart}`);
    this.initialLr = maxLr / divFactor;
    this.minLr = this.initialLr / finalDivFactor;
  }

  /** lr and momentum at cycle progress p ∈ [0, 1]. */
  at(progress: number): ScheduleValue {
    if (!(progress >= 0 && progress <= 1)) throw new RangeError(`schedule progress must be in [0, 1], got ${progress}`);
    const { maxLr, pctStart, baseMomentum, maxMomentum } = this.options;
    if (progress <= pctStart) {
      const pct = progress / pctStart;
      return { lr: annealCos(this.initialLr, maxLr, pct), momentum: annealCos(maxMomentum, baseMomentum, pct) };
    }
    const pct = (progress - pctStart) / (1 - pctStart);
    return { lr: annealCos(maxLr, this.minLr, pct), momentum: annealCos(baseMomentum, maxMomentum, pct) };
  }

  /** Value for batch `batch` of `numBatches` in 0-based epoch `epoch` of `epochs`. */
  forStep(epoch: number, batch: number, numBatches: number, epochs: number): ScheduleValue {
    if (!(batch >= 0 && batch < numBatches)) throw new RangeError(`batch ${batch} outside [0, ${numBatches})`);
    if (!(epoch >= 0 && epoch < epochs)) throw new RangeError(`epoch ${epoch} outside [0, ${epochs})`);
    return this.at((epoch + batch / numBatches) / epochs);
  }
}
