import { DEFAULT_CONFIG } from '../config.js';

/**
 * The OneCycle learning-rate and momentum schedule, stepped every iteration: PyTorch's OneCycleLR
 * (anneal_strategy 'cos', three_phase False) exactly, for full-data runs.
 *
 * torch's formula, over T = epochs × steps-per-epoch steps numbered i = 0 … T − 1: phase 1 runs while
 * i ≤ pctStart·T − 1 and interpolates from maxLr/divFactor to maxLr over i / (pctStart·T − 1); phase 2
 * interpolates from maxLr to the final lr over (i − (pctStart·T − 1)) / (T − 1 − (pctStart·T − 1)), reaching
 * it at step T − 1. Momentum runs the other way between maxMomentum and baseMomentum.
 *
 * Why steps are placed by epoch progress and not counted: with InfoBatch the number of steps of a pruned
 * epoch depends on the scores at that epoch's start, so a run's total step count cannot be known ahead. The
 * official code sizes its scheduler from a stale or unpruned count and either steps past the end ("Tried to
 * step N+1 times") or never finishes the cycle. Here step b of an epoch with B batches sits at position
 * x = (e + b/B)·S of the full-data run's S-steps-per-epoch cycle. A full epoch (B = S) is at x = e·S + b,
 * torch's step, exactly; a pruned epoch (B < S) takes fewer, evenly spaced steps over the same stretch, and
 * its last step is at x ≤ e·S + S − 1 because (B − 1)/B·S ≤ S − 1. So x ≤ T − 1 always: nothing overruns,
 * and a run whose last epoch trains on full data (InfoBatch anneals) ends on the final lr exactly.
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
  /** T: steps of the full-data run. */
  readonly totalSteps: number;
  /** torch's end of phase 1: pctStart·T − 1 (a step position, not necessarily whole). */
  private readonly warmupEnd: number;

  /** `stepsPerEpoch`: batches of a full-data epoch, ⌈N / batch size⌉. */
  constructor(readonly options: OneCycleOptions, readonly epochs: number, readonly stepsPerEpoch: number) {
    const { maxLr, divFactor, finalDivFactor, pctStart } = options;
    if (!(maxLr > 0) || !(divFactor > 0) || !(finalDivFactor > 0)) throw new RangeError('OneCycle: maxLr, divFactor and finalDivFactor must be positive');
    if (!(pctStart > 0 && pctStart < 1)) throw new RangeError(`OneCycle: pctStart must be in (0, 1), got ${pctStart}`);
    if (!(Number.isInteger(epochs) && epochs > 0 && Number.isInteger(stepsPerEpoch) && stepsPerEpoch > 0)) {
      throw new RangeError(`OneCycle: epochs and stepsPerEpoch must be positive integers, got ${epochs} and ${stepsPerEpoch}`);
    }
    this.initialLr = maxLr / divFactor;
    this.minLr = this.initialLr / finalDivFactor;
    this.totalSteps = epochs * stepsPerEpoch;
    this.warmupEnd = pctStart * this.totalSteps - 1;
  }

  /** lr and momentum at step position x ∈ [0, T − 1] (torch's step number; fractional within pruned epochs). */
  atStep(x: number): ScheduleValue {
    const last = this.totalSteps - 1;
    if (!(x >= 0 && x <= last)) throw new RangeError(`schedule step ${x} outside [0, ${last}]`);
    const { maxLr, baseMomentum, maxMomentum } = this.options;
    // torch divides by the phase's length; a phase 1 of length 0 (pctStart·T = 1) is taken as already at its peak.
    if (x <= this.warmupEnd) {
      const pct = this.warmupEnd > 0 ? x / this.warmupEnd : 1;
      return { lr: annealCos(this.initialLr, maxLr, pct), momentum: annealCos(maxMomentum, baseMomentum, pct) };
    }
    const pct = (x - this.warmupEnd) / (last - this.warmupEnd);
    return { lr: annealCos(maxLr, this.minLr, pct), momentum: annealCos(baseMomentum, maxMomentum, pct) };
  }

  /** Value for batch `batch` of the `numBatches` (≤ stepsPerEpoch) of 0-based epoch `epoch`. */
  forStep(epoch: number, batch: number, numBatches: number): ScheduleValue {
    if (!(Number.isInteger(epoch) && epoch >= 0 && epoch < this.epochs)) throw new RangeError(`epoch ${epoch} outside [0, ${this.epochs})`);
    if (!(numBatches >= 1 && numBatches <= this.stepsPerEpoch)) {
      throw new RangeError(`an epoch of ${numBatches} batches does not fit a cycle of ${this.stepsPerEpoch} steps per epoch`);
    }
    if (!(Number.isInteger(batch) && batch >= 0 && batch < numBatches)) throw new RangeError(`batch ${batch} outside [0, ${numBatches})`);
    // A full epoch: batch · S / S is batch exactly, so the position is torch's integer step.
    return this.atStep(epoch * this.stepsPerEpoch + (batch * this.stepsPerEpoch) / numBatches);
  }
}

/** Where a step sits: what `fit` passes to a learning-rate function. */
export interface StepPosition {
  readonly epoch: number;
  readonly batch: number;
  readonly numBatches: number;
  readonly epochs: number;
  /** Batches of a full-data epoch, ⌈N / batch size⌉. */
  readonly stepsPerEpoch: number;
}

/**
 * A OneCycle schedule peaking at `maxLr`, the other settings defaulting to PyTorch OneCycleLR's (the
 * values of the CLI's config), for `fit`'s `learningRate`: it is sized from the run when training starts.
 */
export function oneCycle(maxLr: number, options: Partial<Omit<OneCycleOptions, 'maxLr'>> = {}): (step: StepPosition) => ScheduleValue {
  const { divFactor, finalDivFactor, pctStart, baseMomentum, maxMomentum } = DEFAULT_CONFIG;
  const settings = { divFactor, finalDivFactor, pctStart, baseMomentum, maxMomentum, ...options, maxLr };
  let schedule: OneCycleSchedule | null = null;
  return (step) => {
    if (!schedule || schedule.epochs !== step.epochs || schedule.stepsPerEpoch !== step.stepsPerEpoch) schedule = new OneCycleSchedule(settings, step.epochs, step.stepsPerEpoch);
    return schedule.forStep(step.epoch, step.batch, step.numBatches);
  };
}
