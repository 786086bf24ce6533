import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createObjectCsvStringifier, createObjectCsvWriter } from 'csv-writer';
import type { TrainConfig } from '../config.js';
import { writeFileAtomic } from '../io/files.js';

/**
 * Where a run's files live and what they hold. One run = one experiment name:
 *   logs/<name>.csv                       one row per finished epoch (LOG_COLUMNS)
 *   saved_models/<name>/model.json        best model by test accuracy (+ weights.bin)
 *   saved_models/<name>/run.json          config, status and summary (RunRecord)
 *   saved_models/<name>/checkpoint/       last finished epoch: model, optimizer, scores, log rows
 */
export interface RunPaths {
  readonly log: string;
  readonly modelDir: string;
  readonly runRecord: string;
  readonly checkpoint: string;
}

export function runPaths(experimentName: string, logDir = 'logs', modelDir = 'saved_models'): RunPaths {
  const dir = join(modelDir, experimentName);
  return { log: join(logDir, `${experimentName}.csv`), modelDir: dir, runRecord: join(dir, 'run.json'), checkpoint: join(dir, 'checkpoint') };
}

/** The CSV columns, in order. Accuracies in percent; seconds exclude evaluation. */
export const LOG_COLUMNS = ['epoch', 'lr', 'train_loss', 'train_acc', 'test_loss', 'test_acc', 'samples', 'pruned', 'epoch_seconds', 'elapsed_seconds'] as const;
export type EpochRow = Record<(typeof LOG_COLUMNS)[number], number>;

export interface RunRecord {
  config: TrainConfig;
  status: 'running' | 'complete';
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
  await mkdir(dirname(path), { recursive: true });
  const writer = createObjectCsvWriter({ path, header: HEADER, append: existsSync(path) });
  await writer.writeRecords([formatRow(row)]);
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

export async function readRunRecord(path: string): Promise<RunRecord> {
  return JSON.parse(await readFile(path, 'utf8')) as RunRecord;
}
