/**
 * The run record (<modelDir>/<name>/run.json): the run's configuration, saved once and only here, its
 * status and its summary. The trainer writes it after every epoch; resume, sweep, test, report and plots
 * read it through readRunRecord, the one reader, which validates what it returns.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { TrainConfig } from '../config.js';
import { RunLookupError } from './errors.js';
import { writeFileAtomic } from './files.js';

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

export async function writeRunRecord(path: string, record: RunRecord): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * The record at `path`; null when it does not exist; RunLookupError when it is not a run record. Settings a
 * record written by an earlier version lacks are filled in with the value that version always used.
 */
export function readRunRecord(path: string): RunRecord | null {
  if (!existsSync(path)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new RunLookupError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  const record = parsed as Partial<RunRecord> | null;
  const config = record?.config as Partial<TrainConfig> | undefined;
  if (
    typeof record !== 'object' || record === null || typeof config !== 'object' || config === null ||
    (record.status !== 'running' && record.status !== 'complete') ||
    typeof config.dataset !== 'string' || typeof config.model !== 'string' ||
    typeof config.epochs !== 'number' || typeof config.batchSize !== 'number'
  ) {
    throw new RunLookupError(`${path}: not an infobatch run record (needs "status" and "config" with dataset, model, epochs, batchSize)`);
  }
  // Records from before the dataset settings were part of the configuration: those runs could only use the
  // fine CIFAR-100 labels (the test command assumed them too), and a mirror or synthetic sizes were not saved.
  const datasetSettings = { cifar100Labels: 'fine', syntheticSizes: {}, mirror: null } satisfies Partial<TrainConfig>;
  return { ...record, config: { ...datasetSettings, ...config } } as RunRecord;
}
