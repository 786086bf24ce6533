import { DatasetError, validateDataset, type Cifar100Labels, type DatasetLoadOptions, type DatasetLoader, type ImageDataset, type SyntheticSizes } from './dataset.js';
import { loadSynthetic } from './synthetic.js';
import { loadBundledFashionMnist, loadFashionMnist } from './fashion-mnist.js';
import { loadCifar10, loadCifar100 } from './cifar.js';

/** Every dataset `--dataset` accepts. Adding one means adding a loader here; the loop does not change. */
export const DATASETS = {
  cifar10: loadCifar10,
  cifar100: loadCifar100,
  'fashion-mnist': loadFashionMnist,
  'fashion-mnist-10k': loadBundledFashionMnist,
  synthetic: loadSynthetic,
} as const satisfies Record<string, DatasetLoader>;

export type DatasetName = keyof typeof DATASETS;
export const DATASET_NAMES = Object.keys(DATASETS) as DatasetName[];

export function isDatasetName(name: string): name is DatasetName {
  return Object.hasOwn(DATASETS, name);
}

export async function loadDataset(name: string, options: DatasetLoadOptions): Promise<ImageDataset> {
  if (!isDatasetName(name)) {
    throw new DatasetError(`unknown dataset "${name}"; choose one of: ${DATASET_NAMES.join(', ')}`);
  }
  const dataset = await DATASETS[name](options);
  validateDataset(dataset);
  return dataset;
}

/** The dataset settings of a run's configuration (src/config.ts TrainConfig). */
export interface DatasetConfig {
  readonly dataset: string;
  readonly dataDir: string;
  readonly seed: number;
  readonly cifar100Labels: Cifar100Labels;
  readonly syntheticSizes: Partial<SyntheticSizes>;
  readonly mirror: string | null;
}

/** Loads the dataset a run trains (or was trained) on, with every dataset setting of its configuration. */
export function loadDatasetFor(config: DatasetConfig, log: (line: string) => void): Promise<ImageDataset> {
  const { dataset, dataDir, seed, cifar100Labels, syntheticSizes, mirror } = config;
  return loadDataset(dataset, { dataDir, seed, log, cifar100Labels, syntheticSizes, mirror });
}
