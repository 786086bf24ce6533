/**
 * Small CIFAR archives in the exact official binary record format and tar.gz layout, for tests that
 * must not touch the internet. Pixel values follow a formula so tests can check any decoded byte.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { CIFAR10_SPEC, CIFAR100_SPEC, type CifarSpec } from '../../src/data/cifar-specs.js';

/** Value of channel `channel` (0 R, 1 G, 2 B) at pixel `pixel` (row · 32 + column) of image `image`. */
export function pixelValue(image: number, channel: number, pixel: number): number {
  return (image * 31 + channel * 85 + pixel * 7) & 255;
}

/** CIFAR-10 label of generated image `image`. */
export const cifar10Label = (image: number): number => (image * 3) % 10;
/** CIFAR-100 (coarse, fine) labels of generated image `image`. */
export const cifar100Labels = (image: number): [number, number] => [(image * 7) % 20, (image * 13) % 100];

/** Official-format records for images `first` … `first + count - 1`: label byte(s), then R, G, B planes. */
export function makeRecords(kind: 'cifar10' | 'cifar100', first: number, count: number): Buffer {
  const labelBytes = kind === 'cifar10' ? 1 : 2;
  const size = labelBytes + 3072;
  const out = Buffer.alloc(count * size);
  for (let r = 0; r < count; r++) {
    const image = first + r;
    const start = r * size;
    const labels = kind === 'cifar10' ? [cifar10Label(image)] : cifar100Labels(image);
    labels.forEach((label, k) => (out[start + k] = label));
    for (let channel = 0; channel < 3; channel++) {
      for (let pixel = 0; pixel < 1024; pixel++) {
        out[start + labelBytes + channel * 1024 + pixel] = pixelValue(image, channel, pixel);
      }
    }
  }
  return out;
}

export interface GeneratedArchive {
  readonly archivePath: string;
  readonly bytes: Buffer;
  readonly md5: string;
  /** The published spec with this archive's MD5 and without the published size. */
  readonly spec: CifarSpec;
  /** Images per split; training images are numbered first, test images follow. */
  readonly trainCount: number;
  readonly testCount: number;
}

export function md5Of(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

/**
 * Writes `<root>/<folder>/` with the release's record files (each training file gets `perTrainFile`
 * images, the test file `testCount`) plus the text files of the release.
 */
export async function writeExtractedFolder(
  kind: 'cifar10' | 'cifar100',
  root: string,
  perTrainFile: number,
  testCount: number,
): Promise<{ folder: string; trainCount: number; testCount: number }> {
  const spec = kind === 'cifar10' ? CIFAR10_SPEC : CIFAR100_SPEC;
  const folder = join(root, spec.folderName);
  await mkdir(folder, { recursive: true });
  let image = 0;
  for (const file of spec.trainFiles) {
    await writeFile(join(folder, file), makeRecords(kind, image, perTrainFile));
    image += perTrainFile;
  }
  await writeFile(join(folder, spec.testFiles[0]!), makeRecords(kind, image, testCount));
  const extra = kind === 'cifar10' ? ['batches.meta.txt', 'readme.html'] : ['fine_label_names.txt', 'coarse_label_names.txt'];
  for (const name of extra) await writeFile(join(folder, name), 'generated for tests\n');
  return { folder, trainCount: image, testCount };
}

/** A .tar.gz laid out like the official archive (one top-level folder), in a fresh temp folder. */
export async function makeCifarArchive(kind: 'cifar10' | 'cifar100', perTrainFile = 3, testCount = 2): Promise<GeneratedArchive> {
  const published = kind === 'cifar10' ? CIFAR10_SPEC : CIFAR100_SPEC;
  const work = await mkdtemp(join(tmpdir(), `infobatch-${kind}-archive-`));
  const source = join(work, 'source');
  const { trainCount } = await writeExtractedFolder(kind, source, perTrainFile, testCount);
  const archivePath = join(work, published.archiveName);
  await tar.c({ gzip: true, file: archivePath, cwd: source, portable: true }, [published.folderName]);
  const bytes = await readFile(archivePath);
  const md5 = md5Of(bytes);
  const { archiveBytes: _published, ...rest } = published;
  return { archivePath, bytes, md5, spec: { ...rest, archiveMd5: md5 }, trainCount, testCount };
}
