import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DatasetError, type DatasetLoader, type ImageSplit } from './dataset.js';

/**
 * Fashion-MNIST from its idx files, plain or gzipped (Debian's `dataset-fashion-mnist` installs the .gz
 * files under /usr/share/datasets/fashion-mnist). 28×28 grayscale, 10 classes, 60k/10k images.
 */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
/** Mean and std of the 60k training pixels (0..1 scale), computed once from the data. */
const MEAN = [0.2860];
const STD = [0.3530];

const IDX_UBYTE_IMAGES = 0x00000803;
const IDX_UBYTE_LABELS = 0x00000801;

async function readIdx(dir: string, stem: string): Promise<Buffer> {
  for (const name of [stem, `${stem}.gz`]) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    const raw = await readFile(path);
    try {
      return name.endsWith('.gz') ? gunzipSync(raw) : raw;
    } catch (error) {
      throw new DatasetError(`${path} is not a valid gzip file (${(error as Error).message}); re-install or re-download it`);
    }
  }
  throw new DatasetError(
    `fashion-mnist: ${stem}[.gz] not found in "${dir}"; pass --data_dir with the idx files ` +
      '(on Debian: apt-get install dataset-fashion-mnist, then --data_dir /usr/share/datasets/fashion-mnist)',
  );
}

/** Parses an idx images file and its labels file into one split; validates magic numbers and sizes. */
export function parseIdxSplit(imagesFile: Buffer, labelsFile: Buffer, what: string): { split: ImageSplit; height: number; width: number } {
  if (imagesFile.length < 16 || imagesFile.readUInt32BE(0) !== IDX_UBYTE_IMAGES) throw new DatasetError(`${what}: not an idx3-ubyte images file`);
  if (labelsFile.length < 8 || labelsFile.readUInt32BE(0) !== IDX_UBYTE_LABELS) throw new DatasetError(`${what}: not an idx1-ubyte labels file`);
  const count = imagesFile.readUInt32BE(4);
  const height = imagesFile.readUInt32BE(8);
  const width = imagesFile.readUInt32BE(12);
  if (imagesFile.length !== 16 + count * height * width) throw new DatasetError(`${what}: images file is truncated or too long`);
  if (labelsFile.readUInt32BE(4) !== count || labelsFile.length !== 8 + count) throw new DatasetError(`${what}: labels do not match the ${count} images`);
  // Copy out of the file buffers: one NHWC (C = 1) array per split, detached from the decompression buffer.
  const images = new Uint8Array(imagesFile.subarray(16));
  const labels = new Uint8Array(labelsFile.subarray(8));
  return { split: { images, labels, count }, height, width };
}

export const loadFashionMnist: DatasetLoader = async (options) => {
  const dir = options.dataDir;
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    readIdx(dir, 'train-images-idx3-ubyte'),
    readIdx(dir, 'train-labels-idx1-ubyte'),
    readIdx(dir, 't10k-images-idx3-ubyte'),
    readIdx(dir, 't10k-labels-idx1-ubyte'),
  ]);
  const train = parseIdxSplit(trainImages, trainLabels, 'fashion-mnist train');
  const test = parseIdxSplit(testImages, testLabels, 'fashion-mnist test');
  if (train.height !== test.height || train.width !== test.width) throw new DatasetError('fashion-mnist: train and test image sizes differ');
  return {
    name: 'fashion-mnist',
    height: train.height,
    width: train.width,
    channels: 1,
    numClasses: 10,
    classNames: FASHION_MNIST_CLASSES,
    mean: MEAN,
    std: STD,
    cropPadding: 'zero',
    // Clothes are left-right symmetric in class: flipping keeps the label.
    horizontalFlip: true,
    train: train.split,
    test: test.split,
  };
};
