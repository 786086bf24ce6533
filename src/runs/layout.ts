/**
 * Where a run's files live. One run = one experiment name:
 *   <logDir>/<name>.csv                     one row per finished epoch (epoch-log.ts)
 *   <modelDir>/<name>/model.json            best model by test accuracy, + weights.bin (model-files.ts)
 *   <modelDir>/<name>/run.json              the configuration (saved only here), status and summary (record.ts)
 *   <modelDir>/<name>/checkpoint/           last finished epoch: model, optimizer, scores, log rows (checkpoint.ts)
 *   <modelDir>/<name>.lock                  pid of the process training it now (pid-lock.ts); beside the folder,
 *                                           so that --overwrite deleting the folder keeps the lock
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface RunDirs {
  /** Folder of the epoch logs (the CLI's --log_dir). */
  readonly logDir: string;
  /** Folder of the saved runs (the CLI's --model_dir). */
  readonly modelDir: string;
}

/** The defaults of --log_dir and --model_dir, as the Python reproduction names its folders. */
export const DEFAULT_LOG_DIR = 'logs';
export const DEFAULT_MODEL_DIR = 'saved_models';

export interface RunPaths {
  readonly log: string;
  /** The run's folder; the best model lies directly in it. */
  readonly modelDir: string;
  readonly record: string;
  readonly checkpoint: string;
  readonly lock: string;
}

const LOG_SUFFIX = '.csv';

export function runPaths(name: string, dirs: RunDirs): RunPaths {
  const modelDir = join(dirs.modelDir, name);
  return {
    log: join(dirs.logDir, `${name}${LOG_SUFFIX}`),
    modelDir,
    record: join(modelDir, 'run.json'),
    checkpoint: join(modelDir, 'checkpoint'),
    lock: join(dirs.modelDir, `${name}.lock`),
  };
}

/** Names of the runs that have a log in `logDir`, sorted; empty when the folder does not exist. */
export function listLoggedRuns(logDir: string): string[] {
  if (!existsSync(logDir)) return [];
  return readdirSync(logDir)
    .filter((file) => file.endsWith(LOG_SUFFIX))
    .map((file) => file.slice(0, -LOG_SUFFIX.length))
    .sort();
}
