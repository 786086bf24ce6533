import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createObjectCsvStringifier, createObjectCsvWriter } from 'csv-writer';
import type { TrainConfig } from '../config.js';
import { CorruptFileError, storageErrorOf } from '../io/file-errors.js';
import { writeFileAtomic } from '../io/files.js';

/**
 * Where a run's files live and what they hold. One run = one experiment name:
 *   logs/<name>.csv                       one row per finished epoch (LOG_COLUMNS)
 *   saved_models/<name>/model.json        best model by test accuracy (+ weights.bin)
 *   saved_models/<name>/run.json          config, status and summary (RunRecord)
 *   saved_models/<name>/checkpoint/       last finished epoch: model, optimizer, scores, log rows
 *   saved_models/<name>.lock              pid of the process training it now (beside the folder, so that
 *                                         --overwrite deleting the folder keeps the lock)
 */
export interface RunPaths {
  readonly log: string;
  readonly modelDir: string;
  readonly runRecord: string;
  readonly checkpoint: string;
  readonly lock: string;
}

export function runPaths(experimentName: string, logDir = 'logs', modelDir = 'saved_models'): RunPaths {
  const dir = join(modelDir, experimentName);
  return {
    log: join(logDir, `${experimentName}.csv`),
    modelDir: dir,
    runRecord: join(dir, 'run.json'),
    checkpoint: join(dir, 'checkpoint'),
    lock: join(modelDir, `${experimentName}.lock`),
  };
}

/** The CSV columns, in order. Accuracies in percent; seconds exclude evaluation. */
export const LOG_COLUMNS = ['epoch', 'lr', 'train_loss', 'train_acc', 'test_loss', 'test_acc', 'samples', 'pruned', 'epoch_seconds', 'elapsed_seconds'] as const;
export type EpochRow = Record<(typeof LOG_COLUMNS)[number], number>;

export const RUN_STATUSES = ['running', 'interrupted', 'diverged', 'complete'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface RunRecord {
  config: TrainConfig;
  /**
   * running: training or stopped (kill -9) without a word; interrupted: stopped by Ctrl-C/SIGTERM after a
   * batch; diverged: a loss became non-finite (see divergedAt); complete: all epochs done.
   */
  status: RunStatus;
  /** 1-based epoch and batch where the loss became non-finite (batch 0: the test loss); only when diverged. */
  divergedAt?: { epoch: number; batch: number };
  backend: string;
  trainSize: number;
  testSize: number;
  bestTestAcc: number;
  bestEpoch: number;
  elapsedSeconds: number;
  samplesTrained: number;
  samplesFull: number;
  /** 1-based first epoch without pruning; null when the run never prunes. */
  annealStartEpoch: number | null;
  startedAt: string;
  updatedAt: string;
}

/** Rounds for the CSV: enough digits to be exact where it matters, few enough to stay readable. */
function formatRow(row: EpochRow): Record<string, string | number> {
  return {
    epoch: row.epoch,
    lr: Number(row.lr.toPrecision(6)),
    train_loss: Number(row.train_loss.toFixed(6)),
    train_acc: Number(row.train_acc.toFixed(4)),
    test_loss: Number(row.test_loss.toFixed(6)),
    test_acc: Number(row.test_acc.toFixed(4)),
    samples: row.samples,
    pruned: row.pruned,
    epoch_seconds: Number(row.epoch_seconds.toFixed(3)),
    elapsed_seconds: Number(row.elapsed_seconds.toFixed(3)),
  };
}

const HEADER = LOG_COLUMNS.map((id) => ({ id, title: id }));

/** Appends one epoch's row (writing the header first when the file is new). */
export async function appendLogRow(path: string, row: EpochRow): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    const writer = createObjectCsvWriter({ path, header: HEADER, append: existsSync(path) });
    await writer.writeRecords([formatRow(row)]);
  } catch (error) {
    throw storageErrorOf(error, path);
  }
}

/**
 * Rewrites the log to exactly `rows` (used on resume: the checkpoint is the source of truth, so a row
 * appended for an epoch whose checkpoint was never written is dropped and that epoch is trained again).
 */
export async function rewriteLog(path: string, rows: readonly EpochRow[]): Promise<void> {
  const stringifier = createObjectCsvStringifier({ header: HEADER });
  await writeFileAtomic(path, stringifier.getHeaderString()! + stringifier.stringifyRecords(rows.map(formatRow)));
}

export async function writeRunRecord(path: string, record: RunRecord): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`);
}

/** Reads run.json; one that is not JSON or not a run record is a CorruptFileError naming the file. */
export async function readRunRecord(path: string): Promise<RunRecord> {
  const remedy = 'pass --overwrite to start the experiment over, or restore that file';
  let record: Partial<RunRecord> | null;
  try {
    record = JSON.parse(await readFile(path, 'utf8')) as Partial<RunRecord> | null;
  } catch (error) {
    throw new CorruptFileError(path, (error as Error).message, remedy);
  }
  const config = record?.config as Partial<TrainConfig> | undefined;
  if (
    typeof record !== 'object' || record === null || typeof config !== 'object' || config === null ||
    !(RUN_STATUSES as readonly unknown[]).includes(record.status) ||
    typeof config.dataset !== 'string' || typeof config.model !== 'string' || typeof config.epochs !== 'number' || typeof config.batchSize !== 'number'
  ) {
    throw new CorruptFileError(path, 'not an infobatch run record (needs "status" and "config" with dataset, model, epochs, batchSize)', remedy);
  }
  return record as RunRecord;
}
