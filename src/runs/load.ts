/**
 * Reads a finished or running run by name: its epoch log and, when present, its record.
 *
 * A run with only a log (copied from another machine, say) is still usable for tables and figures;
 * what needs the record (the configuration checks, the annealing marker) falls back to the run's
 * name and log.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEpochLog, type EpochRow } from './epoch-log.js';
import { RunLookupError } from './errors.js';
import { listLoggedRuns, runPaths, type RunDirs } from './layout.js';
import { readRunRecord, type RunRecord } from './record.js';

export interface LoadedRun {
  name: string;
  logPath: string;
  rows: EpochRow[];
  /** null when the run has a log but no run.json. */
  record: RunRecord | null;
  warnings: string[];
}

/** Loads one run; a clear error naming the expected file and the runs that do exist if it is missing. */
export function loadRun(name: string, dirs: RunDirs): LoadedRun {
  const paths = runPaths(name, dirs);
  if (!existsSync(paths.log)) {
    const known = listLoggedRuns(dirs.logDir);
    const hint = known.length === 0 ? `no runs in ${dirs.logDir}/` : `runs in ${dirs.logDir}/: ${known.join(', ')}`;
    throw new RunLookupError(`no log for run "${name}": ${paths.log} does not exist (${hint})`);
  }
  const { rows, warnings } = parseEpochLog(readFileSync(paths.log, 'utf8'), paths.log);
  const record = readRunRecord(paths.record);
  if (record && record.config.epochs < rows.length) {
    warnings.push(`${paths.log}: ${rows.length} epochs logged but the run was configured for ${record.config.epochs}`);
  }
  return { name, logPath: paths.log, rows, record, warnings };
}
