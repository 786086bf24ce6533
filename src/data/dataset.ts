/**
 * The one dataset shape every loader produces and the training loop consumes.
 *
 * Images stay in a single NHWC uint8 typed array per split (no per-image objects): augmentation and
 * normalization work on whole batches gathered from it (see augment.ts), which is what keeps data
 * work off the profile on a 2-core machine.
 */
import type { ProgressMode } from './download/progress.js';
export interface ImageSplit {
  /** NHWC pixels, 0..255, length = count * height * width * channels. */
  readonly images: Uint8Array;
  /** Class index per image, 0 <= label < numClasses. */
  readonly labels: Uint8Array;
  readonly count: number;
}

export interface ImageDataset {
  /** Registry name, e.g. "cifar10", "fashion-mnist", "synthetic". */
  readonly name: string;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** Per-channel mean and std of the training pixels on the 0..1 scale, used for normalization. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** How random-crop augmentation pads the image border. */
  readonly cropPadding: 'reflect' | 'zero';
  /** Whether a horizontal flip is a label-preserving augmentation for this data. */
  readonly horizontalFlip: boolean;
  readonly train: ImageSplit;
  readonly test: ImageSplit;
}

/** CIFAR-100's label sets: the 100 fine classes or the 20 coarse superclasses. */
export const CIFAR100_LABEL_SETS = ['fine', 'coarse'] as const;
export type Cifar100Labels = (typeof CIFAR100_LABEL_SETS)[number];

/** Sizes of the generated `synthetic` dataset. */
export interface SyntheticSizes {
  readonly trainSize: number;
  readonly testSize: number;
  readonly imageSize: number;
  readonly numClasses: number;
}

export interface DatasetLoadOptions {
  /** Where the data lives or is cached (`--data_dir`); loaders that need no files ignore it. */
  readonly dataDir: string;
  /** Seed for generated data (synthetic); real data ignores it. */
  readonly seed: number;
  /** Progress and status lines for the user (one line each, no trailing newline). */
  readonly log: (line: string) => void;
  /** CIFAR-100 label set (`--cifar100_labels`); 'fine' when unset. Other datasets ignore it. */
  readonly cifar100Labels?: Cifar100Labels;
  /**
   * CIFAR and Fashion-MNIST: base URL or folder to download from (`--mirror`); unset or null: the loader's own
   * variable ($INFOBATCH_CIFAR_MIRROR, $INFOBATCH_FASHION_MNIST_MIRROR), else the official site.
   */
  readonly mirror?: string | null;
  /** synthetic: its sizes; unset ones take the loader's defaults. */
  readonly syntheticSizes?: Partial<SyntheticSizes>;
  /** Downloads: give up an attempt after this long without data, and retry this often (tests shorten both). */
  readonly download?: { readonly idleTimeoutMs?: number; readonly retries?: number; readonly retryDelayMs?: number; readonly progress?: ProgressMode };
  /** fashion-mnist: the system folders searched before downloading (tests; default Debian's package folder). */
  readonly systemDirs?: readonly string[];
}

/** A loader reads (or makes, or downloads) one dataset. It throws DatasetError with a user-facing message. */
export type DatasetLoader = (options: DatasetLoadOptions) => Promise<ImageDataset>;

/** An error whose message is meant for the user as is (the CLI prints it on one line, exit code 2). */
export class DatasetError extends Error {
  override readonly name = 'DatasetError';
}

/** Checks the invariants every loader must hold; throws DatasetError naming the first broken one. */
export function validateDataset(dataset: ImageDataset): void {
  const pixels = dataset.height * dataset.width * dataset.channels;
  for (const [splitName, split] of [['train', dataset.train], ['test', dataset.test]] as const) {
    if (split.count === 0) throw new DatasetError(`${dataset.name} ${splitName}: the dataset has no ${splitName} images; check --data_dir and its files`);
    if (split.images.length !== split.count * pixels) {
      throw new DatasetError(`${dataset.name} ${splitName}: ${split.images.length} pixels for ${split.count} images of ${pixels}`);
    }
    if (split.labels.length !== split.count) {
      throw new DatasetError(`${dataset.name} ${splitName}: ${split.labels.length} labels for ${split.count} images`);
    }
    for (let i = 0; i < split.count; i++) {
      if (split.labels[i]! >= dataset.numClasses) {
        throw new DatasetError(`${dataset.name} ${splitName}: label ${split.labels[i]} at index ${i} is out of range (numClasses ${dataset.numClasses})`);
      }
    }
  }
  if (dataset.mean.length !== dataset.channels || dataset.std.length !== dataset.channels) {
    throw new DatasetError(`${dataset.name}: mean/std must have one entry per channel`);
  }
  if (dataset.classNames.length !== dataset.numClasses) {
    throw new DatasetError(`${dataset.name}: ${dataset.classNames.length} class names for ${dataset.numClasses} classes`);
  }
}

/** Per-channel mean and std (0..1 scale) of NHWC uint8 pixels, for datasets without published statistics. */
export function channelStats(images: Uint8Array, channels: number): { mean: number[]; std: number[] } {
  const sum = new Float64Array(channels);
  const sumSq = new Float64Array(channels);
  for (let i = 0; i < images.length; i++) {
    const c = i % channels;
    const v = images[i]! / 255;
    sum[c]! += v;
    sumSq[c]! += v * v;
  }
  const perChannel = images.length / channels;
  const mean = Array.from(sum, (s) => s / perChannel);
  const std = Array.from(sumSq, (s, c) => Math.sqrt(Math.max(s / perChannel - mean[c]! ** 2, 1e-12)));
  return { mean, std };
}

/** The first `limit` images of a split (0 = all), as views into the same arrays: `--train_limit`, `--test_limit`. */
export function limitSplit(split: ImageSplit, limit: number, pixels: number): ImageSplit {
  if (limit === 0 || limit >= split.count) return split;
  return { images: split.images.subarray(0, limit * pixels), labels: split.labels.subarray(0, limit), count: limit };
}
