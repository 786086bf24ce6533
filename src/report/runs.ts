/**
 * Finds training runs on disk and reads them: the epoch log (logs/<name>.csv) and, when present, the
 * run record the trainer saves beside the model (saved_models/<name>/run.json).
 *
 * A run with only a log (copied from another machine, say) is still usable for tables and figures;
 * what needs the record (the configuration checks, the annealing marker) falls back to the run's
 * name and log.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type TrainConfig } from '../config.js';
import { parseEpochLog, type LoggedEpoch } from './epoch-log.js';
import { RUN_STATUSES, type RunRecord } from '../train/run-files.js';

export interface RunDirs {
  /** Folder of the epoch logs (the CLI's --log_dir, default "logs"). */
  logDir: string;
  /** Folder of the saved runs (the CLI's --model_dir, default "saved_models"). */
  modelDir: string;
}

export const DEFAULT_RUN_DIRS: Readonly<RunDirs> = Object.freeze({ logDir: 'logs', modelDir: 'saved_models' });

export type { RunRecord };

export interface LoadedRun {
  name: string;
  logPath: string;
  rows: LoggedEpoch[];
  /** null when the run has a log but no run.json. */
  record: RunRecord | null;
  warnings: string[];
}

/**
 * A run that is missing, unreadable or does not fit the comparison asked for. It is a ConfigError
 * (the user named it), so the CLI prints the message on one line and exits non-zero.
 */
export class RunLookupError extends ConfigError {
}

export function logPathOf(name: string, dirs: RunDirs): string {
  return path.join(dirs.logDir, `${name}.csv`);
}

export function recordPathOf(name: string, dirs: RunDirs): string {
  return path.join(dirs.modelDir, name, 'run.json');
}

/** Names of the runs that have a log in `logDir`, sorted; empty when the folder does not exist. */
export function listLoggedRuns(logDir: string): string[] {
  if (!existsSync(logDir)) return [];
  return readdirSync(logDir)
    .filter((file) => file.endsWith('.csv'))
    .map((file) => file.slice(0, -'.csv'.length))
    .sort();
}

export function hasLog(name: string, dirs: RunDirs): boolean {
  return existsSync(logPathOf(name, dirs));
}

/** Reads run.json; null when it does not exist, an error when it exists but is not a run record. */
export function readRunRecord(name: string, dirs: RunDirs): RunRecord | null {
  const file = recordPathOf(name, dirs);
  if (!existsSync(file)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new RunLookupError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  const record = parsed as Partial<RunRecord> | null;
  const config = record?.config as Partial<TrainConfig> | undefined;
  if (
    typeof record !== 'object' || record === null || typeof config !== 'object' || config === null ||
    !(RUN_STATUSES as readonly unknown[]).includes(record.status) ||
    typeof config.dataset !== 'string' || typeof config.model !== 'string' ||
    typeof config.epochs !== 'number' || typeof config.batchSize !== 'number'
  ) {
    throw new RunLookupError(`${file}: not an infobatch run record (needs "status" and "config" with dataset, model, epochs, batchSize)`);
  }
  return record as RunRecord;
}

/** Loads one run by name; a clear error naming the expected file and the runs that do exist if it is missing. */
export function loadRun(name: string, dirs: RunDirs): LoadedRun {
  const logPath = logPathOf(name, dirs);
  if (!existsSync(logPath)) {
    const known = listLoggedRuns(dirs.logDir);
    const hint = known.length === 0 ? `no runs in ${dirs.logDir}/` : `runs in ${dirs.logDir}/: ${known.join(', ')}`;
    throw new RunLookupError(`no log for run "${name}": ${logPath} does not exist (${hint})`);
  }
  const { rows, warnings } = parseEpochLog(readFileSync(logPath, 'utf8'), logPath);
  const record = readRunRecord(name, dirs);
  if (record && record.config.epochs < rows.length) {
    warnings.push(`${logPath}: ${rows.length} epochs logged but the run was configured for ${record.config.epochs}`);
  }
  return { name, logPath, rows, record, warnings };
}

const INFOBATCH_PART = /_infobatch_r_\d+(?:_\d+)?(?=_b\d+(?:_|$))/;

/**
 * The baseline a run is compared with, by the reproduction's naming:
 * cifar10_resnet18_infobatch_r_0_5_b256[_s1] → cifar10_resnet18_baseline_b256[_s1]. null if the name has no such part.
 */
export function baselineNameFor(name: string): string | null {
  return INFOBATCH_PART.test(name) ? name.replace(INFOBATCH_PART, '_baseline') : null;
}

export interface RunMethod {
  kind: 'baseline' | 'infobatch';
  ratio: number | null;
  delta: number | null;
}

/** Whether a run pruned, and with which r and δ: from its record, else from its name (r only). */
export function methodOf(run: LoadedRun): RunMethod {
  const config = run.record?.config;
  if (config) {
    const pruned = config.useInfoBatch && config.ratio > 0 && config.delta > 0;
    return pruned ? { kind: 'infobatch', ratio: config.ratio, delta: config.delta } : { kind: 'baseline', ratio: null, delta: null };
  }
  const match = /_infobatch_r_(\d+)(?:_(\d+))?/.exec(run.name);
  if (match) return { kind: 'infobatch', ratio: Number(`${match[1]}.${match[2] ?? '0'}`), delta: null };
  if (run.rows.some((row) => row.pruned > 0)) return { kind: 'infobatch', ratio: null, delta: null };
  return { kind: 'baseline', ratio: null, delta: null };
}

/**
 * 1-based first epoch of the annealing phase (full data again), or null when the run does not prune
 * or never reaches it. The record says it; without one it is read off the log: the epoch after the
 * last pruned one, if the log goes that far.
 */
export function annealStartOf(run: LoadedRun): number | null {
  if (run.record && run.record.annealStartEpoch !== undefined) return run.record.annealStartEpoch;
  let lastPruned = -1;
  run.rows.forEach((row, index) => {
    if (row.pruned > 0) lastPruned = index;
  });
  if (lastPruned < 0 || lastPruned === run.rows.length - 1) return null;
  return run.rows[lastPruned + 1]!.epoch;
}

/** Fields that must agree for two runs to be compared fairly; seed is allowed to differ. */
const COMPARED_FIELDS = ['dataset', 'model', 'batchSize', 'epochs', 'trainLimit', 'testLimit'] as const satisfies readonly (keyof TrainConfig)[];

/** Throws naming the fields in which `run` differs from `baseline`; runs without a record are not checked. */
export function assertComparable(baseline: LoadedRun, run: LoadedRun): void {
  const a = baseline.record?.config;
  const b = run.record?.config;
  if (!a || !b) return;
  const differences = COMPARED_FIELDS.filter((field) => a[field] !== undefined && b[field] !== undefined && a[field] !== b[field]).map(
    (field) => `${field} ${String(a[field])} vs ${String(b[field])}`,
  );
  if (differences.length > 0) {
    throw new RunLookupError(
      `runs "${baseline.name}" and "${run.name}" are not comparable: ${differences.join(', ')} (pick a baseline trained the same way)`,
    );
  }
}
