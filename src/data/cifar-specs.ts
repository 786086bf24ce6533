/**
 * What identifies the two CIFAR binary releases (https://www.cs.toronto.edu/~kriz/cifar.html):
 * archive names and published MD5s, the folder each archive unpacks to, its record files, and the
 * published normalization statistics. Everything the loader checks a download or a folder against
 * lives here, so a test can substitute its own small archive by changing `archiveMd5` only.
 */

/** The dataset authors' site; `--mirror` / INFOBATCH_CIFAR_MIRROR replace it. */
export const OFFICIAL_CIFAR_BASE_URL = 'https://www.cs.toronto.edu/~kriz/';

export interface CifarSpec {
  readonly name: 'cifar10' | 'cifar100';
  readonly displayName: string;
  readonly archiveName: string;
  /** Published MD5 of the archive (the page above; the same values as tensorflow-datasets and others). */
  readonly archiveMd5: string;
  /** Published size of the archive in bytes, when known: a longer partial file is discarded, not resumed. */
  readonly archiveBytes?: number;
  /** The one top-level folder the archive unpacks to. */
  readonly folderName: string;
  readonly trainFiles: readonly string[];
  readonly testFiles: readonly string[];
  /**
   * Label bytes before the 3072 pixel bytes of each record, as the class count each byte may take:
   * CIFAR-10 has one label byte; CIFAR-100 has the coarse label (20 classes) then the fine one (100).
   */
  readonly labelClassCounts: readonly number[];
  /** Per-channel mean and std of the training pixels on the 0..1 scale (population std over all pixels). */
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export const CIFAR10_CLASS_NAMES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
] as const;

/** Fine labels 0..99 in the order of fine_label_names.txt (alphabetical). */
export const CIFAR100_FINE_CLASS_NAMES = [
  'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle',
  'bowl', 'boy', 'bridge', 'bus', 'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle',
  'chair', 'chimpanzee', 'clock', 'cloud', 'cockroach', 'couch', 'crab', 'crocodile', 'cup', 'dinosaur',
  'dolphin', 'elephant', 'flatfish', 'forest', 'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard',
  'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard', 'lobster', 'man', 'maple_tree', 'motorcycle', 'mountain',
  'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid', 'otter', 'palm_tree', 'pear', 'pickup_truck', 'pine_tree',
  'plain', 'plate', 'poppy', 'porcupine', 'possum', 'rabbit', 'raccoon', 'ray', 'road', 'rocket',
  'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper', 'snail', 'snake', 'spider',
  'squirrel', 'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone', 'television', 'tiger', 'tractor',
  'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale', 'willow_tree', 'wolf', 'woman', 'worm',
] as const;

/** Coarse labels (superclasses) 0..19 in the order of coarse_label_names.txt. */
export const CIFAR100_COARSE_CLASS_NAMES = [
  'aquatic_mammals', 'fish', 'flowers', 'food_containers', 'fruit_and_vegetables',
  'household_electrical_devices', 'household_furniture', 'insects', 'large_carnivores',
  'large_man-made_outdoor_things', 'large_natural_outdoor_scenes', 'large_omnivores_and_herbivores',
  'medium_mammals', 'non-insect_invertebrates', 'people', 'reptiles', 'small_mammals', 'trees',
  'vehicles_1', 'vehicles_2',
] as const;

export const CIFAR10_SPEC: CifarSpec = {
  name: 'cifar10',
  displayName: 'CIFAR-10',
  archiveName: 'cifar-10-binary.tar.gz',
  archiveMd5: 'c32a1d4ab5d03f1284b67883e8d87530',
  archiveBytes: 170_052_171,
  folderName: 'cifar-10-batches-bin',
  trainFiles: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  testFiles: ['test_batch.bin'],
  labelClassCounts: [10],
  // The exact values of the official InfoBatch CIFAR-10 example (numpy mean/std over all training pixels).
  mean: [0.4913997551666284, 0.48215855929893703, 0.4465309133731618],
  std: [0.24703225141799082, 0.24348516474564, 0.26158783926049628],
};

export const CIFAR100_SPEC: CifarSpec = {
  name: 'cifar100',
  displayName: 'CIFAR-100',
  archiveName: 'cifar-100-binary.tar.gz',
  archiveMd5: '03b5dce01913d631647c71ecec9e9cb8',
  archiveBytes: 168_513_733,
  folderName: 'cifar-100-binary',
  trainFiles: ['train.bin'],
  testFiles: ['test.bin'],
  labelClassCounts: [20, 100],
  // Same convention as CIFAR-10 (mean/std over all training pixels), widely published to these digits.
  mean: [0.5070751592371323, 0.48654887331495095, 0.4409178433670343],
  std: [0.2673342858792401, 0.2564384629170883, 0.27615047132568404],
};
