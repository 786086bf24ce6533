import type { Options } from 'yargs';
import { DEFAULT_CONFIG, experimentNameFor, type TrainConfig } from '../config.js';
import { BACKEND_NAMES, BACKENDS } from '../backend/select.js';
import { DATASET_NAMES } from '../data/registry.js';
import { MODEL_NAMES } from '../models/registry.js';

/**
 * The flags of `infobatch train` (and `sweep`), spelled as the Python reproduction spells them, mapped onto
 * TrainConfig. Defaults come from DEFAULT_CONFIG; nothing here invents one.
 */
const d = DEFAULT_CONFIG;

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
  cifar100_labels: { type: 'string', choices: ['fine', 'coarse'], default: 'fine', describe: 'CIFAR-100 label set' },
  backend: {
    type: 'string',
    default: d.backend,
    choices: BACKEND_NAMES,
    describe: `tfjs backend; auto takes the first that loads of: ${BACKENDS.filter((b) => b.auto).map((b) => b.name).join(', ')}`,
  },
  eval_batch_size: { type: 'number', default: d.evalBatchSize, describe: 'batch size for evaluation (memory only)' },
  test_limit: { type: 'number', default: d.testLimit, describe: 'evaluate on the first N test images only (0 = all)' },
  log_dir: { type: 'string', default: 'logs', describe: 'directory of the per-epoch CSV logs' },
  model_dir: { type: 'string', default: 'saved_models', describe: 'directory of saved models, checkpoints and run records' },
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

export interface DataArgs {
  dataset: string;
  data_dir: string;
  mirror?: string;
  cifar100_labels: string;
  backend: string;
  eval_batch_size: number;
  test_limit: number;
  log_dir: string;
  model_dir: string;
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
    experimentName: '',
  };
  config.experimentName =
    args.experiment_name ??
    experimentNameFor({ dataset: config.dataset, model: config.model, batchSize: config.batchSize, ratio: config.useInfoBatch ? config.ratio : null });
  return config;
}

/** Dataset options that only some loaders read (CIFAR's mirror and label set). */
export function datasetExtra(args: DataArgs): Record<string, string | undefined> {
  // Each loader falls back to its own environment variable for the mirror.
  return { mirror: args.mirror, cifar100Labels: args.cifar100_labels };
}

/** The TrainConfig field each train flag sets (for `--resume`: given flags override the saved settings). */
export const FLAG_FIELDS: Readonly<Record<string, keyof TrainConfig>> = {
  dataset: 'dataset',
  data_dir: 'dataDir',
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
