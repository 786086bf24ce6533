import { CIFAR100_LABEL_SETS, type Cifar100Labels, type SyntheticSizes } from './data/dataset.js';

/**
 * Every hyperparameter of a training run, in one typed object with its default and the reason for it.
 *
 * Defaults reproduce the run this project mirrors (ResNet-18, CIFAR-10, batch 256, 100 epochs,
 * InfoBatch r = 0.5, δ = 0.875) and the official InfoBatch CIFAR example it is built on (SGD momentum
 * with weight decay 5e-4, OneCycle to max_lr 0.05, label smoothing 0.1, reflect-padded crop and flip; see
 * docs/ and the README). The CLI maps its flags onto this object and nothing else in the code base
 * invents a default. The run record saves it whole (src/runs/record.ts).
 */
export interface TrainConfig {
  /** Names the files of the run: logs/<name>.csv and saved_models/<name>/. */
  experimentName: string;
  /** Registry name of the dataset (src/data/registry.ts). */
  dataset: string;
  /** Where the dataset lives or is cached. */
  dataDir: string;
  /** CIFAR-100's label set: 'fine' (100 classes) or 'coarse' (20 superclasses); other datasets ignore it. */
  cifar100Labels: Cifar100Labels;
  /** Sizes of the generated `synthetic` dataset (tests, quick checks); unset ones take its defaults. */
  syntheticSizes: Partial<SyntheticSizes>;
  /** Where CIFAR is downloaded from instead of the official site; null: $INFOBATCH_CIFAR_MIRROR, else official. */
  mirror: string | null;
  /** Model name (src/models/registry.ts). */
  model: string;

  /** Samples per optimizer step. 256 as in the mirrored reproduction. */
  batchSize: number;
  /** Batch size for evaluation; only memory-bound, does not change results. */
  evalBatchSize: number;
  /** Training epochs E. 100 as in the mirrored reproduction (the official example uses 200). */
  epochs: number;
  /** Use only the first N training / test images (0 = all): for quick laptop runs and tests. */
  trainLimit: number;
  testLimit: number;

  /** OneCycle peak learning rate; 0.05 is the official CIFAR example's value. */
  maxLr: number;
  /** OneCycle: initial lr = maxLr / divFactor (25, PyTorch's default, used by the official code). */
  divFactor: number;
  /** OneCycle: final lr = initial lr / finalDivFactor (1e4, PyTorch's default). */
  finalDivFactor: number;
  /** OneCycle: share of steps spent warming up (0.3, PyTorch's default). */
  pctStart: number;
  /** SGD momentum is cycled inversely to the lr between these (PyTorch OneCycleLR's 0.85 → 0.95). */
  baseMomentum: number;
  maxMomentum: number;
  /** L2 weight decay added to every gradient, as torch.optim.SGD(weight_decay=5e-4). */
  weightDecay: number;
  /** Cross-entropy label smoothing (0.1, official example). */
  labelSmoothing: number;
  /** Random-crop augmentation pads this many pixels on each side, then crops back (4, official example). */
  cropPadding: number;

  /** Turn InfoBatch on. Off (or ratio 0, or delta 0) trains on the full data every epoch. */
  useInfoBatch: boolean;
  /** Pruning ratio r in [0, 1): share of well-learned samples skipped each epoch. */
  ratio: number;
  /** Annealing δ in [0, 1]: pruning stops after ⌊δ·E⌋ epochs. 0.875 as in the paper. */
  delta: number;
  /** Ablations of the paper's Table 4: which samples to prune, whether to rescale, whether to anneal. */
  pruneStrategy: 'score' | 'random';
  rescale: boolean;
  anneal: boolean;

  /** Seeds weights, data order, augmentation and pruning; the same seed gives the same run. */
  seed: number;
  /** tfjs backend: auto or a name from src/backend/select.ts. */
  backend: string;
  /**
   * Arithmetic of convolutions and matmuls: fp32 (TF32 off, comparable with PyTorch fp32), tf32, or bf16
   * (bf16 operands, fp32 master weights; BatchNorm statistics, loss and SGD stay fp32, as PyTorch's
   * autocast). Only the cuda backend offers tf32 and bf16; it changes results, so resuming must keep it.
   */
  precision: Precision;
}

export const PRECISIONS = ['fp32', 'tf32', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze({
  experimentName: 'cifar10_resnet18_infobatch_r_0_5_b256',
  dataset: 'cifar10',
  dataDir: 'data',
  cifar100Labels: 'fine',
  syntheticSizes: Object.freeze({}),
  mirror: null,
  model: 'ResNet18',
  batchSize: 256,
  evalBatchSize: 500,
  epochs: 100,
  trainLimit: 0,
  testLimit: 0,
  maxLr: 0.05,
  divFactor: 25,
  finalDivFactor: 1e4,
  pctStart: 0.3,
  baseMomentum: 0.85,
  maxMomentum: 0.95,
  weightDecay: 5e-4,
  labelSmoothing: 0.1,
  cropPadding: 4,
  useInfoBatch: false,
  ratio: 0.5,
  delta: 0.875,
  pruneStrategy: 'score',
  rescale: true,
  anneal: true,
  seed: 0,
  backend: 'auto',
  precision: 'fp32',
});

/** An error in what the user asked for: the CLI prints its message on one line and exits 2, before any work. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Whether this configuration prunes at all: the one rule trainer, sweep and report use. The baseline passes
 * --ratio 0 --delta 0, or leaves out --use_info_batch; with δ = 0 no epoch prunes (⌊δ·E⌋ = 0).
 */
export function prunes(config: Pick<TrainConfig, 'useInfoBatch' | 'ratio' | 'delta'>): boolean {
  return config.useInfoBatch && config.ratio > 0 && config.delta > 0;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/**
 * Longest experiment name: file names are limited to 255 bytes, and the longest one a run writes is
 * `<name>.csv.tmp-<pid>` (pid up to 7 digits) in --log_dir, so 200 leaves room.
 */
export const MAX_EXPERIMENT_NAME_LENGTH = 200;

/** Rejects a name that cannot name the run's files (or would point outside the run folders, like ../x). */
export function validateExperimentName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new ConfigError(`--experiment_name "${name}" must be letters, digits, '.', '_' or '-' and start with a letter or digit (it names files)`);
  }
  if (name.length > MAX_EXPERIMENT_NAME_LENGTH) {
    throw new ConfigError(`--experiment_name is ${name.length} characters long; at most ${MAX_EXPERIMENT_NAME_LENGTH} fit in file names`);
  }
}

/** Rejects values no run can use; names the flag the user typed. */
export function validateConfig(config: TrainConfig): void {
  const positiveInteger = (value: number, flag: string): void => {
    if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`--${flag} must be a positive integer, got ${value}`);
  };
  const nonNegativeInteger = (value: number, flag: string): void => {
    if (!Number.isInteger(value) || value < 0) throw new ConfigError(`--${flag} must be a non-negative integer, got ${value}`);
  };
  validateExperimentName(config.experimentName);
  positiveInteger(config.batchSize, 'train_batch_size');
  positiveInteger(config.evalBatchSize, 'eval_batch_size');
  positiveInteger(config.epochs, 'num_epoch');
  nonNegativeInteger(config.trainLimit, 'train_limit');
  nonNegativeInteger(config.testLimit, 'test_limit');
  nonNegativeInteger(config.seed, 'seed');
  nonNegativeInteger(config.cropPadding, 'crop_padding');
  if (!(config.ratio >= 0 && config.ratio < 1)) throw new ConfigError(`--ratio must be in [0, 1), got ${config.ratio}`);
  if (!(config.delta >= 0 && config.delta <= 1)) throw new ConfigError(`--delta must be in [0, 1], got ${config.delta}`);
  if (!(config.maxLr > 0 && Number.isFinite(config.maxLr))) throw new ConfigError(`--max_lr must be a positive number, got ${config.maxLr}`);
  if (!(config.weightDecay >= 0)) throw new ConfigError(`--weight_decay must be >= 0, got ${config.weightDecay}`);
  if (!(config.labelSmoothing >= 0 && config.labelSmoothing < 1)) {
    throw new ConfigError(`--label_smoothing must be in [0, 1), got ${config.labelSmoothing}`);
  }
  if (!(config.pctStart > 0 && config.pctStart < 1)) throw new ConfigError(`pctStart must be in (0, 1), got ${config.pctStart}`);
  if (!CIFAR100_LABEL_SETS.includes(config.cifar100Labels)) {
    throw new ConfigError(`--cifar100_labels must be "fine" or "coarse", got "${String(config.cifar100Labels)}"`);
  }
  if (!(PRECISIONS as readonly string[]).includes(config.precision)) {
    throw new ConfigError(`--precision must be one of ${PRECISIONS.join(', ')}, got "${String(config.precision)}"`);
  }
  if (config.pruneStrategy !== 'score' && config.pruneStrategy !== 'random') {
    throw new ConfigError(`--prune_strategy must be "score" or "random", got "${String(config.pruneStrategy)}"`);
  }
}

/**
 * The reproduction's run names: `<dataset>_<model>_baseline_b<bs>` and `<dataset>_<model>_infobatch_r_0_5_b<bs>`
 * (model lower-case, the ratio's dot as an underscore), with `_s<seed>` appended when a seed is given.
 */
export function experimentNameFor(run: { dataset: string; model: string; batchSize: number; ratio: number | null; seed?: number }): string {
  const method = run.ratio === null || run.ratio === 0 ? 'baseline' : `infobatch_r_${String(run.ratio).replace('.', '_')}`;
  const seed = run.seed === undefined ? '' : `_s${run.seed}`;
  return `${run.dataset}_${run.model.toLowerCase()}_${method}_b${run.batchSize}${seed}`;
}
