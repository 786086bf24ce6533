import type { Options } from 'yargs';
import { DEFAULT_CONFIG, experimentNameFor, PRECISIONS, type Precision, type TrainConfig } from '../config.js';
import { BACKEND_NAMES, BACKENDS } from '../backend/select.js';
import { CIFAR100_LABEL_SETS, type Cifar100Labels } from '../data/dataset.js';
import { DATASET_NAMES } from '../data/registry.js';
import { MODEL_NAMES } from '../models/registry.js';
import { DEFAULT_FIGURE_DIR, DEFAULT_FIGURE_SIZE } from '../plot/figure-options.js';
import { DEFAULT_LOG_DIR, DEFAULT_MODEL_DIR, type RunDirs } from '../runs/index.js';

/**
 * Every flag of the commands, defined once and spelled as the Python reproduction spells them; the commands
 * pick the groups they take. Training flags map onto TrainConfig and take their defaults from DEFAULT_CONFIG;
 * the folder and figure defaults come from the modules that own them. Nothing here invents a default.
 */
const d = DEFAULT_CONFIG;

/** --log_dir / --model_dir: where runs are written and read (train, test, report, visualize, sweep). */
export const RUN_DIR_OPTIONS = {
  log_dir: { type: 'string', default: DEFAULT_LOG_DIR, describe: 'folder of the per-epoch CSV logs' },
  model_dir: { type: 'string', default: DEFAULT_MODEL_DIR, describe: 'folder of the saved runs: best model, checkpoint and run record per run' },
} as const satisfies Record<string, Options>;

export interface RunDirArgs {
  log_dir: string;
  model_dir: string;
}

export function runDirsFromArgs(args: RunDirArgs): RunDirs {
  return { logDir: args.log_dir, modelDir: args.model_dir };
}

/** --figure_dir (report, visualize, sweep) and the figure size (visualize, sweep). */
export const FIGURE_DIR_OPTIONS = {
  figure_dir: { type: 'string', default: DEFAULT_FIGURE_DIR, describe: 'where figures and the report are written (replacing files of the same name)' },
} as const satisfies Record<string, Options>;

export const FIGURE_SIZE_OPTIONS = {
  width: { type: 'number', default: DEFAULT_FIGURE_SIZE.width, describe: 'figure width in pixels' },
  height: { type: 'number', default: DEFAULT_FIGURE_SIZE.height, describe: 'figure height in pixels' },
} as const satisfies Record<string, Options>;

export interface FigureArgs {
  figure_dir: string;
  width: number;
  height: number;
}

export const DATA_OPTIONS = {
  dataset: { type: 'string', default: d.dataset, choices: DATASET_NAMES, describe: 'dataset to train on' },
  data_dir: {
    type: 'string',
    default: d.dataDir,
    describe: 'where the dataset lives or is downloaded to (fashion-mnist is also found in Debian\'s /usr/share/datasets/fashion-mnist; fashion-mnist-10k ships with infobatch)',
  },
  mirror: {
    type: 'string',
    describe: 'base URL (or folder) to download CIFAR or Fashion-MNIST from instead of the official site (also $INFOBATCH_CIFAR_MIRROR, $INFOBATCH_FASHION_MNIST_MIRROR)',
  },
  cifar100_labels: {
    type: 'string',
    choices: CIFAR100_LABEL_SETS,
    default: d.cifar100Labels,
    describe: 'CIFAR-100 label set: fine (100 classes) or coarse (20 superclasses)',
  },
  backend: {
    type: 'string',
    default: d.backend,
    choices: BACKEND_NAMES,
    describe: `tfjs backend; auto takes the first that loads of: ${BACKENDS.filter((b) => b.auto).map((b) => b.name).join(', ')}`,
  },
  precision: {
    type: 'string',
    default: d.precision,
    choices: PRECISIONS,
    describe: 'convolution/matmul arithmetic: fp32 (TF32 off), tf32 or bf16 (fp32 master weights); tf32 and bf16 need --backend cuda',
  },
  eval_batch_size: { type: 'number', default: d.evalBatchSize, describe: 'batch size for evaluation (memory only)' },
  test_limit: { type: 'number', default: d.testLimit, describe: 'evaluate on the first N test images only (0 = all)' },
  ...RUN_DIR_OPTIONS,
} as const satisfies Record<string, Options>;

export const TRAIN_OPTIONS = {
  experiment_name: {
    type: 'string',
    describe: 'names logs/<name>.csv and saved_models/<name>/ (default: <dataset>_<model>_{baseline|infobatch_r_<r>}_b<bs>)',
  },
  model: { type: 'string', default: d.model, choices: MODEL_NAMES, describe: 'network (small ones for CPU: ResNet20, ResNet18Narrow)' },
  train_batch_size: { type: 'number', default: d.batchSize, describe: 'training batch size' },
  num_epoch: { type: 'number', default: d.epochs, describe: 'training epochs E' },
  use_info_batch: { type: 'boolean', default: d.useInfoBatch, describe: 'prune with InfoBatch (without it: full-data baseline)' },
  ratio: { type: 'number', default: d.ratio, describe: 'InfoBatch pruning ratio r in [0, 1) of the well-learned samples' },
  delta: { type: 'number', default: d.delta, describe: 'InfoBatch annealing δ in [0, 1]: prune only in the first ⌊δ·E⌋ epochs' },
  random_pruning: { type: 'boolean', default: false, describe: 'ablation: prune the same count uniformly at random instead of by score' },
  no_rescale: { type: 'boolean', default: false, describe: 'ablation: keep weight 1 for kept well-learned samples (no 1/(1−r))' },
  no_anneal: { type: 'boolean', default: false, describe: 'ablation: prune in every epoch (ignore δ)' },
  max_lr: { type: 'number', default: d.maxLr, describe: 'OneCycle peak learning rate' },
  weight_decay: { type: 'number', default: d.weightDecay, describe: 'SGD weight decay' },
  label_smoothing: { type: 'number', default: d.labelSmoothing, describe: 'cross-entropy label smoothing' },
  seed: { type: 'number', default: d.seed, describe: 'seeds weights, data order, augmentation and pruning' },
  train_limit: { type: 'number', default: d.trainLimit, describe: 'train on the first N training images only (0 = all)' },
  resume: { type: 'boolean', default: false, describe: 'continue the experiment from its last checkpoint' },
  overwrite: { type: 'boolean', default: false, describe: "delete the experiment's existing log, models and checkpoint first" },
} as const satisfies Record<string, Options>;

export interface DataArgs extends RunDirArgs {
  dataset: string;
  data_dir: string;
  mirror?: string;
  cifar100_labels: string;
  backend: string;
  precision: Precision;
  eval_batch_size: number;
  test_limit: number;
}

export interface TrainArgs extends DataArgs {
  experiment_name?: string;
  model: string;
  train_batch_size: number;
  num_epoch: number;
  use_info_batch: boolean;
  ratio: number;
  delta: number;
  random_pruning: boolean;
  no_rescale: boolean;
  no_anneal: boolean;
  max_lr: number;
  weight_decay: number;
  label_smoothing: number;
  seed: number;
  train_limit: number;
}

export function configFromArgs(args: TrainArgs): TrainConfig {
  const config: TrainConfig = {
    ...DEFAULT_CONFIG,
    dataset: args.dataset,
    dataDir: args.data_dir,
    // validateConfig rejects anything else with the flag's name.
    cifar100Labels: args.cifar100_labels as Cifar100Labels,
    mirror: args.mirror ?? null,
    model: args.model,
    batchSize: args.train_batch_size,
    evalBatchSize: args.eval_batch_size,
    epochs: args.num_epoch,
    trainLimit: args.train_limit,
    testLimit: args.test_limit,
    maxLr: args.max_lr,
    weightDecay: args.weight_decay,
    labelSmoothing: args.label_smoothing,
    useInfoBatch: args.use_info_batch,
    ratio: args.ratio,
    delta: args.delta,
    pruneStrategy: args.random_pruning ? 'random' : 'score',
    rescale: !args.no_rescale,
    anneal: !args.no_anneal,
    seed: args.seed,
    backend: args.backend,
    precision: args.precision,
    experimentName: '',
  };
  config.experimentName =
    args.experiment_name ??
    experimentNameFor({ dataset: config.dataset, model: config.model, batchSize: config.batchSize, ratio: config.useInfoBatch ? config.ratio : null });
  return config;
}

/** The TrainConfig field each train flag sets (for `--resume`: given flags override the saved settings). */
export const FLAG_FIELDS: Readonly<Record<string, keyof TrainConfig>> = {
  dataset: 'dataset',
  data_dir: 'dataDir',
  cifar100_labels: 'cifar100Labels',
  mirror: 'mirror',
  model: 'model',
  train_batch_size: 'batchSize',
  eval_batch_size: 'evalBatchSize',
  num_epoch: 'epochs',
  train_limit: 'trainLimit',
  test_limit: 'testLimit',
  max_lr: 'maxLr',
  weight_decay: 'weightDecay',
  label_smoothing: 'labelSmoothing',
  use_info_batch: 'useInfoBatch',
  ratio: 'ratio',
  delta: 'delta',
  random_pruning: 'pruneStrategy',
  no_rescale: 'rescale',
  no_anneal: 'anneal',
  seed: 'seed',
  backend: 'backend',
  precision: 'precision',
};

/**
 * The config of `train --resume`: the saved settings, with what the given flags set on top (the trainer then
 * refuses those that may not change), so `--experiment_name X --resume` alone continues the run as it was.
 */
export function resumedConfig(saved: TrainConfig, fromArgs: TrainConfig, given: ReadonlySet<string>): TrainConfig {
  const config: TrainConfig = { ...saved, experimentName: fromArgs.experimentName };
  for (const flag of given) {
    const field = FLAG_FIELDS[flag];
    if (field !== undefined) (config as unknown as Record<string, unknown>)[field] = fromArgs[field];
  }
  return config;
}
