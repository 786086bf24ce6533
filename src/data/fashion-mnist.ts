import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { archiveSource } from './cifar.js';
import { DatasetError, type DatasetLoadOptions, type DatasetLoader, type ImageDataset, type ImageSplit } from './dataset.js';
import { DownloadError, downloadVerified } from './download/download.js';
import { withFileLock } from './download/file-lock.js';
import { defaultProgressMode } from './download/progress.js';

/**
 * Fashion-MNIST from its idx files, plain or gzipped. 28×28 grayscale, 10 classes, 60k/10k images (Xiao,
 * Rasul, Vollgraf 2017; © Zalando SE, MIT licence).
 */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
/** Mean and std of the 60k training pixels (0..1 scale), computed once from the data. */
const MEAN = [0.2860];
const STD = [0.3530];

const IDX_UBYTE_IMAGES = 0x00000803;
const IDX_UBYTE_LABELS = 0x00000801;

const IDX_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] as const;

/** Where Fashion-MNIST comes from (Zalando Research's release) and the MD5 of each .gz file it publishes. */
export const OFFICIAL_FASHION_MNIST_BASE_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
export const FASHION_MNIST_MD5: Readonly<Record<(typeof IDX_FILES)[number], string>> = {
  'train-images-idx3-ubyte': '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
  'train-labels-idx1-ubyte': '25c81989df183df01b3e8a0aad5dffbe',
  't10k-images-idx3-ubyte': 'bef4ecab320f06d8554ea6380940ec79',
  't10k-labels-idx1-ubyte': 'bb300cfdad3c16e7a12a480ee83cd310',
};
/** Environment variable that replaces the official base URL (same meaning as `--mirror`). */
export const FASHION_MNIST_MIRROR_ENV = 'INFOBATCH_FASHION_MNIST_MIRROR';
/** Debian's `dataset-fashion-mnist` package installs the .gz files here. */
export const SYSTEM_FASHION_MNIST_DIRS = ['/usr/share/datasets/fashion-mnist'];

/** The idx file `stem` in `dir`, plain or gzipped; undefined if neither is there. */
function idxPath(dir: string, stem: string): string | undefined {
  return [join(dir, stem), join(dir, `${stem}.gz`)].find((path) => existsSync(path));
}

async function readIdx(path: string): Promise<Buffer> {
  const raw = await readFile(path);
  try {
    return path.endsWith('.gz') ? gunzipSync(raw) : raw;
  } catch (error) {
    throw new DatasetError(`${path} is not a valid gzip file (${(error as Error).message}); re-install or re-download it`);
  }
}

/** The first of `dirs` holding all four idx files; throws if one holds only some (a half-copied set). */
function locateIdxDir(dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    const present = IDX_FILES.filter((stem) => idxPath(dir, stem) !== undefined);
    if (present.length === IDX_FILES.length) return dir;
    if (present.length > 0) {
      const missing = IDX_FILES.filter((stem) => !present.includes(stem));
      throw new DatasetError(`fashion-mnist: ${dir} has ${present.join(', ')} but not ${missing.join(', ')}[.gz]; complete the set or use another --data_dir`);
    }
  }
  return undefined;
}

/** Reads the four idx files of `dir` into a dataset named `name`. */
export async function readIdxDataset(dir: string, name: string): Promise<ImageDataset> {
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all(IDX_FILES.map((stem) => readIdx(idxPath(dir, stem)!)));
  const train = parseIdxSplit(trainImages!, trainLabels!, `${name} train (${dir})`);
  const test = parseIdxSplit(testImages!, testLabels!, `${name} test (${dir})`);
  if (train.height !== test.height || train.width !== test.width) throw new DatasetError(`${name}: train and test image sizes differ`);
  return {
    name,
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

/**
 * The full Fashion-MNIST: from --data_dir (or its fashion-mnist/ folder), else Debian's package, else
 * downloaded from the official release (or `--mirror`) into <data_dir>/fashion-mnist/, each file checked
 * against its published MD5. `systemDirs` (tests) replaces the system folders searched.
 */
export const loadFashionMnist: DatasetLoader = (options) => loadFashionMnistVerified(options, FASHION_MNIST_MD5);

/** loadFashionMnist with the MD5s to check downloads against (tests serve files of their own). */
export async function loadFashionMnistVerified(options: DatasetLoadOptions, md5s: Readonly<Record<(typeof IDX_FILES)[number], string>>): Promise<ImageDataset> {
  const { dataDir, log } = options;
  const systemDirs = options.systemDirs ?? SYSTEM_FASHION_MNIST_DIRS;
  const cache = join(dataDir, 'fashion-mnist');
  const found = locateIdxDir([dataDir, cache, ...systemDirs]);
  if (found !== undefined) return readIdxDataset(found, 'fashion-mnist');
  await downloadFashionMnist(cache, options, md5s);
  log(`fashion-mnist: downloaded and verified in ${cache}`);
  return readIdxDataset(cache, 'fashion-mnist');
}

async function downloadFashionMnist(cache: string, options: DatasetLoadOptions, md5s: Readonly<Record<(typeof IDX_FILES)[number], string>>): Promise<void> {
  const { log } = options;
  const mirrorValue = options.mirror ?? process.env[FASHION_MNIST_MIRROR_ENV];
  const mirror = mirrorValue === undefined || mirrorValue.trim() === '' ? OFFICIAL_FASHION_MNIST_BASE_URL : mirrorValue.trim();
  try {
    await mkdir(cache, { recursive: true });
  } catch (error) {
    throw new DatasetError(`cannot create ${cache} for the Fashion-MNIST download: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  for (const stem of IDX_FILES) {
    const file = `${stem}.gz`;
    const destination = join(cache, file);
    await withFileLock(`${destination}.lock`, `downloading ${destination}`, log, async () => {
      if (existsSync(destination)) return;
      const source = archiveSource(mirror, file);
      log(`downloading ${file} from ${source}`);
      try {
        await downloadVerified({
          source,
          destination,
          md5: md5s[stem],
          idleTimeoutMs: options.download?.idleTimeoutMs ?? 60_000,
          retries: options.download?.retries ?? 3,
          retryDelayMs: options.download?.retryDelayMs ?? 2_000,
          log,
          progress: options.download?.progress ?? defaultProgressMode(),
        });
      } catch (error) {
        if (!(error instanceof DownloadError)) throw error;
        throw new DatasetError(
          `fashion-mnist is not in ${options.dataDir} nor ${SYSTEM_FASHION_MNIST_DIRS.join(', ')} and could not be downloaded: ${error.message}. ` +
            `Put the four .gz files (from ${OFFICIAL_FASHION_MNIST_BASE_URL}) into ${cache}, install Debian's dataset-fashion-mnist, ` +
            `or use --dataset fashion-mnist-10k (a 10k-image subset shipped with infobatch, no download)`,
        );
      }
    });
  }
}

/**
 * A real 10,000-train / 2,000-test subset of Fashion-MNIST shipped inside the package (datasets/fashion-mnist-10k,
 * the first images of each official split, MIT licence notice and SHA-256 sums beside it), so the first run
 * needs no download and no system package. Each file is checked against SHA256SUMS.
 */
export const BUNDLED_FASHION_MNIST_DIR = fileURLToPath(new URL('../../datasets/fashion-mnist-10k/', import.meta.url));

export const loadBundledFashionMnist: DatasetLoader = async () => {
  const dir = BUNDLED_FASHION_MNIST_DIR;
  const sumsFile = join(dir, 'SHA256SUMS');
  const sums = await readFile(sumsFile, 'utf8').catch(() => {
    throw new DatasetError(`${sumsFile} is missing: the infobatch package is incomplete; reinstall it`);
  });
  for (const line of sums.trim().split('\n')) {
    const [hash, file] = line.trim().split(/\s+/);
    const path = join(dir, file!);
    const actual = createHash('sha256').update(await readFile(path).catch(() => Buffer.alloc(0))).digest('hex');
    if (actual !== hash) throw new DatasetError(`${path} does not match its SHA-256 in ${sumsFile}: the package is damaged; reinstall it`);
  }
  return readIdxDataset(dir, 'fashion-mnist-10k');
};
