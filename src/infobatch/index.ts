/**
 * InfoBatch: unbiased dynamic data pruning (Qin et al., ICLR 2024), the whole method in one module.
 *
 * Plain TypeScript over typed arrays, no tensors and no I/O, so every decision is unit-tested on arrays
 * (test/infobatch.test.ts). Semantics follow the official `infobatch.py` of the InfoBatch repository:
 *
 * - Every sample has a score, its latest per-sample training loss. Scores start equal, so epoch 0 has
 *   nothing below the mean and trains on everything.
 * - At the start of epoch e (0-based), while e < ⌊δ·E⌋: the samples with score < mean(score) over all N
 *   are "well learned"; a uniformly random ⌊(1−r)·n_wl⌋ of them are kept with loss weight 1/(1−r) and the
 *   others are skipped this epoch. Every other sample is kept with weight 1. The epoch's list is shuffled
 *   once and cut into consecutive batches, the last partial batch kept.
 * - From epoch ⌊δ·E⌋ on (annealing) every sample is used with weight exactly 1.
 * - The training loss of a batch is mean(wᵢ·ℓᵢ) over the batch; the scores of the batch become the
 *   unweighted per-sample losses ℓᵢ.
 *
 * Where we differ from the official code, on purpose (defects of its implementation):
 * - The epoch plan, and with it the batch count, is built before the epoch starts: never a stale length.
 * - Annealing is decided by integer epoch comparison, so the 1/(1−r) weights can never stay on.
 * - Every random choice comes from a generator seeded by (user seed, epoch): runs are reproducible from
 *   `--seed`, a resumed run makes exactly the decisions the uninterrupted run would have, and no global
 *   random state is touched.
 * - ⌊(1−r)·n⌋ is taken with a tolerance for float rounding ((1−0.9)·10 is 0.9999999999999998 in floats).
 * - The official code silently caps r at 0.9; we accept any r in [0, 1) and leave the choice to the user.
 *
 * Ablations of the paper's Table 4: `pruneStrategy: 'random'` skips the same number of samples, drawn
 * uniformly from all N instead of from the well-learned ones (rescaled by N/(N − skipped) when rescaling is
 * on, which keeps the expected gradient unbiased); `rescale: false` keeps weight 1; `anneal: false` prunes
 * in every epoch.
 */
import seedrandom from 'seedrandom';

export interface InfoBatchOptions {
  /** Training-set size N. */
  readonly numSamples: number;
  /** Total training epochs E. */
  readonly epochs: number;
  /** Samples per batch; the last batch of an epoch may be smaller. */
  readonly batchSize: number;
  /** Pruning ratio r in [0, 1). 0 disables pruning. */
  readonly ratio: number;
  /** Annealing δ in [0, 1]: pruning happens in epochs e < ⌊δ·E⌋. 0 disables pruning. */
  readonly delta: number;
  /** Seeds the pruning choices and shuffles. */
  readonly seed: number;
  /** 'score' (InfoBatch) or 'random' (ablation: same count, uniformly chosen). Default 'score'. */
  readonly pruneStrategy?: 'score' | 'random';
  /** Rescale kept well-learned samples by 1/(1−r). Default true. */
  readonly rescale?: boolean;
  /** Stop pruning after ⌊δ·E⌋ epochs. Default true; false prunes every epoch. */
  readonly anneal?: boolean;
}

/** The sample order and loss weights of one epoch, fixed before the epoch starts. */
export interface EpochPlan {
  /** 0-based epoch. */
  readonly epoch: number;
  /** Sample indices in training order. */
  readonly indices: Int32Array;
  /** Loss weight of each entry of `indices`. */
  readonly weights: Float32Array;
  /** ⌈indices.length / batchSize⌉, known before the first batch. */
  readonly numBatches: number;
  /** Samples skipped this epoch (numSamples − indices.length). */
  readonly skipped: number;
  /** Samples whose score was below the mean (the pruning candidates); 0 when not pruning. */
  readonly wellLearned: number;
  /**
   * Whether this epoch is in the pruning phase (e < ⌊δ·E⌋ with pruning on): true in epoch 0 too, although
   * with all scores equal nothing is below the mean there and `skipped` is 0. False during annealing and for
   * the baseline.
   */
  readonly pruning: boolean;
}

export interface Batch {
  readonly indices: Int32Array;
  readonly weights: Float32Array;
}

/** Tolerance for ⌊k·n⌋: products like 0.1·10 land a hair below the integer in floating point. */
const FLOOR_TOLERANCE = 1e-9;

/** A seeded uniform [0, 1) generator; one is derived per (seed, epoch, purpose). */
export type Random = () => number;

export function seededRandom(...keys: ReadonlyArray<string | number>): Random {
  return seedrandom.alea(keys.join(':'));
}

/** In-place Fisher–Yates shuffle of the whole array. */
export function shuffleInPlace(array: Int32Array, random: Random): void {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = array[i]!;
    array[i] = array[j]!;
    array[j] = tmp;
  }
}

/** Moves a uniform random sample of `count` elements (without replacement) to the front of `array`. */
function sampleToFront(array: Int32Array, count: number, random: Random): void {
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (array.length - i));
    const tmp = array[i]!;
    array[i] = array[j]!;
    array[j] = tmp;
  }
}

export function validateInfoBatchOptions(options: InfoBatchOptions): void {
  const { numSamples, epochs, batchSize, ratio, delta } = options;
  if (!Number.isInteger(numSamples) || numSamples <= 0) throw new RangeError(`numSamples must be a positive integer, got ${numSamples}`);
  if (!Number.isInteger(epochs) || epochs <= 0) throw new RangeError(`epochs must be a positive integer, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!(ratio >= 0 && ratio < 1)) throw new RangeError(`ratio r must be in [0, 1), got ${ratio}`);
  if (!(delta >= 0 && delta <= 1)) throw new RangeError(`delta must be in [0, 1], got ${delta}`);
}

export class InfoBatch {
  readonly options: Required<InfoBatchOptions>;
  /** Latest per-sample training loss; equal at the start so that epoch 0 trains on everything. */
  readonly scores: Float32Array;

  constructor(options: InfoBatchOptions) {
    validateInfoBatchOptions(options);
    // Defaults by `??`, not by spreading: an option passed as undefined (`anneal: undefined`) means the default.
    this.options = { ...options, pruneStrategy: options.pruneStrategy ?? 'score', rescale: options.rescale ?? true, anneal: options.anneal ?? true };
    // The value is irrelevant as long as all are equal (nothing is strictly below the mean); the official code uses 3.
    this.scores = new Float32Array(options.numSamples).fill(3);
  }

  /** Keep fraction k = 1 − r of the pruning candidates. */
  get keepFraction(): number {
    return 1 - this.options.ratio;
  }

  /**
   * First epoch (0-based) without pruning: ⌊δ·E⌋, or E when annealing is off, or 0 when pruning is off.
   * Integer arithmetic from here on, so the annealing boundary is exact.
   */
  get pruneUntilEpoch(): number {
    const { ratio, delta, epochs, anneal } = this.options;
    if (ratio === 0 || delta === 0) return 0;
    if (!anneal) return epochs;
    return Math.floor(delta * epochs + FLOOR_TOLERANCE);
  }

  /** Builds epoch `epoch`'s order and weights from the current scores. Does not change any state. */
  planEpoch(epoch: number): EpochPlan {
    const { numSamples, batchSize, seed, rescale, pruneStrategy } = this.options;
    if (!Number.isInteger(epoch) || epoch < 0 || epoch >= this.options.epochs) {
      throw new RangeError(`epoch must be an integer in [0, ${this.options.epochs}), got ${epoch}`);
    }
    const random = seededRandom('infobatch', seed, epoch);
    const pruning = epoch < this.pruneUntilEpoch;

    let indices: Int32Array;
    let weights: Float32Array;
    let wellLearned = 0;
    if (!pruning) {
      indices = Int32Array.from({ length: numSamples }, (_, i) => i);
      weights = new Float32Array(numSamples).fill(1);
    } else {
      const { belowMean, rest } = this.splitByMeanScore();
      wellLearned = belowMean.length;
      const keptCandidates = Math.floor(this.keepFraction * wellLearned + FLOOR_TOLERANCE);
      const skipCount = wellLearned - keptCandidates;
      // Candidates for skipping: the well-learned samples (InfoBatch) or all samples (random ablation).
      const candidates = pruneStrategy === 'score' ? belowMean : Int32Array.from({ length: numSamples }, (_, i) => i);
      const others = pruneStrategy === 'score' ? rest : new Int32Array(0);
      const keepCount = candidates.length - skipCount;
      sampleToFront(candidates, keepCount, random);
      // InfoBatch rescales by exactly 1/k as the paper does; the random ablation by N / (N − skipped),
      // which is what keeps its expected gradient unbiased.
      const keptWeight = !rescale ? 1 : pruneStrategy === 'score' ? 1 / this.keepFraction : candidates.length / keepCount;

      indices = new Int32Array(keepCount + others.length);
      weights = new Float32Array(indices.length);
      indices.set(candidates.subarray(0, keepCount), 0);
      weights.fill(keptWeight, 0, keepCount);
      indices.set(others, keepCount);
      weights.fill(1, keepCount);
    }

    // One shuffle of (index, weight) pairs: shuffle positions, then gather.
    const order = Int32Array.from({ length: indices.length }, (_, i) => i);
    shuffleInPlace(order, random);
    const shuffledIndices = new Int32Array(order.length);
    const shuffledWeights = new Float32Array(order.length);
    for (let i = 0; i < order.length; i++) {
      shuffledIndices[i] = indices[order[i]!]!;
      shuffledWeights[i] = weights[order[i]!]!;
    }

    return {
      epoch,
      indices: shuffledIndices,
      weights: shuffledWeights,
      numBatches: Math.ceil(shuffledIndices.length / batchSize),
      skipped: numSamples - shuffledIndices.length,
      wellLearned,
      pruning,
    };
  }

  /** Batch `b` of a plan: consecutive slices, the last one possibly partial. Views, not copies. */
  batch(plan: EpochPlan, b: number): Batch {
    if (!Number.isInteger(b) || b < 0 || b >= plan.numBatches) throw new RangeError(`batch must be in [0, ${plan.numBatches}), got ${b}`);
    const start = b * this.options.batchSize;
    const end = Math.min(start + this.options.batchSize, plan.indices.length);
    return { indices: plan.indices.subarray(start, end), weights: plan.weights.subarray(start, end) };
  }

  /** Records the batch's unweighted per-sample losses as the samples' new scores. */
  updateScores(indices: ArrayLike<number>, losses: ArrayLike<number>): void {
    if (indices.length !== losses.length) throw new RangeError(`${indices.length} indices but ${losses.length} losses`);
    for (let i = 0; i < indices.length; i++) {
      const loss = losses[i]!;
      // A NaN score would poison the mean and with it every later pruning decision: fail loudly instead.
      if (!Number.isFinite(loss)) throw new RangeError(`non-finite loss ${loss} for sample ${indices[i]}`);
      this.scores[indices[i]!] = loss;
    }
  }

  /** Replaces all scores (restoring a checkpoint). */
  restoreScores(scores: ArrayLike<number>): void {
    if (scores.length !== this.scores.length) throw new RangeError(`checkpoint has ${scores.length} scores, dataset has ${this.scores.length} samples`);
    this.scores.set(scores);
  }

  /** The well-learned samples (score strictly below the mean of all N) and the rest, each in index order. */
  private splitByMeanScore(): { belowMean: Int32Array; rest: Int32Array } {
    const n = this.scores.length;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.scores[i]!;
    const mean = sum / n;
    let below = 0;
    for (let i = 0; i < n; i++) if (this.scores[i]! < mean) below++;
    const belowMean = new Int32Array(below);
    const rest = new Int32Array(n - below);
    for (let i = 0, b = 0, r = 0; i < n; i++) {
      if (this.scores[i]! < mean) belowMean[b++] = i;
      else rest[r++] = i;
    }
    return { belowMean, rest };
  }
}
