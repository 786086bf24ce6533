/**
 * The run record (<modelDir>/<name>/run.json): the run's configuration, saved once and only here, its
 * status and its summary. The trainer writes it after every epoch; resume, sweep, test, report and plots
 * read it through readRunRecord, the one reader, which validates what it returns.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { TrainConfig } from '../config.js';
import { CorruptFileError } from './errors.js';
import { writeFileAtomic } from './files.js';

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

const RECORD_REMEDY = 'pass --overwrite to start the experiment over, or restore that file';

export async function writeRunRecord(path: string, record: RunRecord): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * The record at `path`; null when it does not exist; CorruptFileError (a RunLookupError) naming the file when
 * it is not a run record. Settings a
 * record written by an earlier version lacks are filled in with the value that version always used.
 */
export function readRunRecord(path: string): RunRecord | null {
  if (!existsSync(path)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CorruptFileError(path, `not valid JSON: ${(error as Error).message}`, RECORD_REMEDY);
  }
  const record = parsed as Partial<RunRecord> | null;
  const config = record?.config as Partial<TrainConfig> | undefined;
  if (
    typeof record !== 'object' || record === null || typeof config !== 'object' || config === null ||
    !(RUN_STATUSES as readonly unknown[]).includes(record.status) ||
    typeof config.dataset !== 'string' || typeof config.model !== 'string' ||
    typeof config.epochs !== 'number' || typeof config.batchSize !== 'number'
  ) {
    throw new CorruptFileError(path, 'not an infobatch run record (needs "status" and "config" with dataset, model, epochs, batchSize)', RECORD_REMEDY);
  }
  // Records from before the dataset settings were part of the configuration: those runs could only use the
  // fine CIFAR-100 labels (the test command assumed them too), and a mirror or synthetic sizes were not saved.
  const datasetSettings = { cifar100Labels: 'fine', syntheticSizes: {}, mirror: null } satisfies Partial<TrainConfig>;
  return { ...record, config: { ...datasetSettings, ...config } } as RunRecord;
}
