/**
 * CIFAR-10 and CIFAR-100 loaders: find the extracted binary release under `--data_dir`, or unpack the
 * verified archive there, or download it first (resumable, MD5-checked) — then parse the record files
 * into one NHWC uint8 array per split.
 *
 * Where the data may be, in the order looked at:
 *   1. `--data_dir` is the extracted folder itself (holds data_batch_1.bin … / train.bin, test.bin);
 *   2. `<data_dir>/cifar-10-batches-bin/` or `<data_dir>/cifar-100-binary/`;
 *   3. `<data_dir>/<archive>.tar.gz`, checked against its published MD5 and extracted;
 *   4. downloaded from the official site, or from `mirror` / INFOBATCH_CIFAR_MIRROR.
 * Cases 1 and 2 never touch the network. A verified archive and extracted folders are never deleted;
 * the only files this code deletes are its own `.part`, `.lock` and `.<folder>.extracting` files.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CIFAR100_LABEL_SETS, DatasetError, type Cifar100Labels, type DatasetLoadOptions, type DatasetLoader, type ImageDataset, type ImageSplit } from './dataset.js';
import {
  CIFAR10_CLASS_NAMES,
  CIFAR10_SPEC,
  CIFAR100_COARSE_CLASS_NAMES,
  CIFAR100_FINE_CLASS_NAMES,
  CIFAR100_SPEC,
  OFFICIAL_CIFAR_BASE_URL,
  type CifarSpec,
} from './cifar-specs.js';
import { CIFAR_CHANNELS, CIFAR_IMAGE_BYTES, CIFAR_SIDE, countRecords, decodeRecordsInto, type CifarRecordFormat } from './cifar-records.js';
import { extractCifarArchive } from './cifar-extract.js';
import { DownloadError, downloadVerified, md5OfFile } from './download/download.js';
import { withFileLock } from './download/file-lock.js';
import { defaultProgressMode, type ProgressMode } from './download/progress.js';

/** Environment variable that replaces the official base URL (same meaning as `mirror`). */
export const MIRROR_ENV = 'INFOBATCH_CIFAR_MIRROR';

const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const DEFAULT_RETRIES = 3;
const DEFAULT_RETRY_DELAY_MS = 2_000;

/** The DatasetLoadOptions this loader reads, validated and with their defaults filled in. */
export interface CifarSettings {
  /** Base URL (or folder) the archive is fetched from: `mirror`, else $INFOBATCH_CIFAR_MIRROR, else official. */
  readonly mirror: string;
  /** CIFAR-100 label granularity: 'fine' (100 classes, default) or 'coarse' (20). */
  readonly cifar100Labels: Cifar100Labels;
  /** An attempt fails after this long without data. */
  readonly downloadTimeoutMs: number;
  /** Further attempts after a failed one. */
  readonly downloadRetries: number;
}

/** Test seams that are not user options (the published MD5 is swapped through the spec instead). */
export interface CifarInternals {
  readonly retryDelayMs?: number;
  readonly progress?: ProgressMode;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export const loadCifar10: DatasetLoader = (options) => loadCifar(CIFAR10_SPEC, options);
export const loadCifar100: DatasetLoader = (options) => loadCifar(CIFAR100_SPEC, options);

/** Reads and validates the options this loader uses; throws DatasetError naming the bad one. */
export function readCifarSettings(
  options: Pick<DatasetLoadOptions, 'mirror' | 'cifar100Labels' | 'download'>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): CifarSettings {
  const mirrorValue = options.mirror ?? env[MIRROR_ENV];
  const mirror = mirrorValue === undefined || mirrorValue.trim() === '' ? OFFICIAL_CIFAR_BASE_URL : mirrorValue.trim();
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(mirror)?.[1]?.toLowerCase();
  if (scheme !== undefined && !['http', 'https', 'file'].includes(scheme)) {
    throw new DatasetError(`--mirror / ${MIRROR_ENV} must be an http(s) URL, a file: URL or a folder, got "${mirror}"`);
  }
  const labels = options.cifar100Labels ?? 'fine';
  if (!CIFAR100_LABEL_SETS.includes(labels)) {
    throw new DatasetError(`--cifar100_labels must be "fine" or "coarse", got "${String(labels)}"`);
  }
  const timeout = options.download?.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const retries = options.download?.retries ?? DEFAULT_RETRIES;
  if (!(Number.isFinite(timeout) && timeout > 0)) throw new DatasetError(`download.idleTimeoutMs must be a positive number of milliseconds, got ${timeout}`);
  if (!(Number.isInteger(retries) && retries >= 0)) throw new DatasetError(`download.retries must be a non-negative integer, got ${retries}`);
  return { mirror, cifar100Labels: labels, downloadTimeoutMs: timeout, downloadRetries: retries };
}

/** Loads one CIFAR release described by `spec` (tests pass a spec with their own archive's MD5). */
export async function loadCifar(spec: CifarSpec, options: DatasetLoadOptions, internals: CifarInternals = {}): Promise<ImageDataset> {
  const settings = readCifarSettings(options, internals.env);
  const folder = await ensureCifarFolder(spec, options.dataDir, settings, options.log, internals);

  const coarse = spec.name === 'cifar100' && settings.cifar100Labels === 'coarse';
  const format: CifarRecordFormat = { labelClassCounts: spec.labelClassCounts, labelByte: coarse ? 0 : spec.labelClassCounts.length - 1 };
  const started = performance.now();
  const train = await readSplit(folder, spec.trainFiles, format);
  const test = await readSplit(folder, spec.testFiles, format);
  const seconds = (performance.now() - started) / 1000;
  options.log(`${spec.displayName}: ${train.count} training and ${test.count} test images read from ${folder} in ${seconds.toFixed(2)} s`);

  const classNames: readonly string[] =
    spec.name === 'cifar10' ? CIFAR10_CLASS_NAMES : coarse ? CIFAR100_COARSE_CLASS_NAMES : CIFAR100_FINE_CLASS_NAMES;
  return {
    name: spec.name,
    height: CIFAR_SIDE,
    width: CIFAR_SIDE,
    channels: CIFAR_CHANNELS,
    numClasses: classNames.length,
    classNames,
    mean: spec.mean,
    std: spec.std,
    // The official InfoBatch CIFAR example pads by reflection before the random 32×32 crop.
    cropPadding: 'reflect',
    horizontalFlip: true,
    train,
    test,
  };
}

/** Reads the record files of one split into a single allocation (one file in memory at a time). */
async function readSplit(folder: string, files: readonly string[], format: CifarRecordFormat): Promise<ImageSplit> {
  const paths = files.map((file) => join(folder, file));
  const sizes = await Promise.all(paths.map(async (path) => (await stat(path)).size));
  const counts = sizes.map((size, i) => countRecords(size, format, paths[i]!));
  const count = counts.reduce((sum, n) => sum + n, 0);
  const target = { images: new Uint8Array(count * CIFAR_IMAGE_BYTES), labels: new Uint8Array(count) };
  let next = 0;
  for (const [i, path] of paths.entries()) {
    const bytes = await readFile(path);
    if (bytes.length !== sizes[i]) throw new DatasetError(`${path} changed size while it was being read`);
    next += decodeRecordsInto(target, next, { name: path, bytes }, format);
  }
  return { ...target, count };
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

async function splitPresent(dir: string, files: readonly string[]): Promise<{ present: string[]; missing: string[] }> {
  const flags = await Promise.all(files.map((file) => isFile(join(dir, file))));
  return { present: files.filter((_, i) => flags[i]), missing: files.filter((_, i) => !flags[i]) };
}

/** The folder holding the extracted record files, if there is one; throws if one is half there. */
async function locateExtracted(spec: CifarSpec, dataDir: string): Promise<string | undefined> {
  const required = [...spec.trainFiles, ...spec.testFiles];
  const direct = await splitPresent(dataDir, required);
  if (direct.missing.length === 0) return dataDir;
  if (direct.present.length > 0) {
    throw new DatasetError(
      `${dataDir} holds ${direct.present.join(', ')} but not ${direct.missing.join(', ')}: put the complete ${spec.displayName} binary files there, or use another --data_dir`,
    );
  }
  const nested = join(dataDir, spec.folderName);
  if (!(await isDirectory(nested))) return undefined;
  const inside = await splitPresent(nested, required);
  if (inside.missing.length === 0) return nested;
  throw new DatasetError(
    `${nested} exists but lacks ${inside.missing.join(', ')}: restore those files, or move the folder away so that ${spec.archiveName} can be extracted again`,
  );
}

/** Where the archive comes from: an http(s) or file: URL, or a path inside a mirror folder. */
export function archiveSource(mirror: string, archiveName: string): string {
  if (/^(https?|file):/i.test(mirror)) return new URL(archiveName, mirror.endsWith('/') ? mirror : `${mirror}/`).href;
  return join(mirror, archiveName);
}

async function ensureCifarFolder(
  spec: CifarSpec,
  dataDir: string,
  settings: CifarSettings,
  log: (line: string) => void,
  internals: CifarInternals,
): Promise<string> {
  const found = await locateExtracted(spec, dataDir);
  if (found !== undefined) return found;
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (error) {
    throw new DatasetError(`cannot create --data_dir ${dataDir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const archivePath = join(dataDir, spec.archiveName);
  try {
    return await prepareLocked(spec, dataDir, archivePath, settings, log, internals);
  } catch (error) {
    const fsError = error as NodeJS.ErrnoException;
    if (!(error instanceof DatasetError) && typeof fsError?.syscall === 'string') {
      throw new DatasetError(`cannot prepare ${spec.displayName} in ${dataDir}: ${fsError.code ?? fsError.message} on ${fsError.path ?? fsError.syscall}`);
    }
    throw error;
  }
}

/** Under the lock: extract the archive found in --data_dir, or download it first. */
async function prepareLocked(
  spec: CifarSpec,
  dataDir: string,
  archivePath: string,
  settings: CifarSettings,
  log: (line: string) => void,
  internals: CifarInternals,
): Promise<string> {
  return withFileLock(`${archivePath}.lock`, `preparing ${archivePath}`, log, async () => {
    // Another process may have finished while this one waited for the lock.
    const ready = await locateExtracted(spec, dataDir);
    if (ready !== undefined) return ready;
    if (await isFile(archivePath)) {
      log(`checking ${archivePath}`);
      const md5 = await md5OfFile(archivePath);
      if (md5 !== spec.archiveMd5) {
        // Only verified downloads ever get this name, so this file was put here by someone: leave it alone.
        throw new DatasetError(
          `${archivePath} has MD5 ${md5}, expected ${spec.archiveMd5}: it is damaged or not the official ${spec.displayName} binary archive; replace or remove it (it was left as it is)`,
        );
      }
    } else {
      const source = archiveSource(settings.mirror, spec.archiveName);
      log(`downloading ${spec.displayName} from ${source} to ${archivePath}`);
      try {
        await downloadVerified({
          source,
          destination: archivePath,
          md5: spec.archiveMd5,
          ...(spec.archiveBytes !== undefined ? { expectedBytes: spec.archiveBytes } : {}),
          idleTimeoutMs: settings.downloadTimeoutMs,
          retries: settings.downloadRetries,
          retryDelayMs: internals.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
          log,
          progress: internals.progress ?? defaultProgressMode(),
        });
      } catch (error) {
        if (error instanceof DownloadError) throw new DatasetError(manualSetupMessage(spec, dataDir, error.message));
        throw error;
      }
      log(`${archivePath}: MD5 ${spec.archiveMd5} verified`);
    }
    return extractCifarArchive(archivePath, dataDir, spec.folderName, [...spec.trainFiles, ...spec.testFiles], log);
  });
}

/** One line: why the download failed, where to put the files by hand, and the offline alternative. */
export function manualSetupMessage(spec: CifarSpec, dataDir: string, reason: string): string {
  return (
    `${spec.displayName} is not in ${dataDir} and could not be downloaded: ${reason}. ` +
    `To set it up by hand, put ${spec.archiveName} (MD5 ${spec.archiveMd5}, from ${OFFICIAL_CIFAR_BASE_URL}${spec.archiveName}) ` +
    `or its extracted ${spec.folderName}/ folder into ${dataDir}, or point --mirror (or ${MIRROR_ENV}) at a copy; ` +
    `--dataset fashion-mnist --data_dir /usr/share/datasets/fashion-mnist trains offline`
  );
}
