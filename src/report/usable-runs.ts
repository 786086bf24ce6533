/**
 * Loading many runs at once (the default report, the end of a sweep, a guessed baseline): one bad run (an
 * unreadable log or run.json, a NaN row, a run that diverged) must not block the others, so it is skipped
 * with one warning line naming the file and the reason.
 */
import { ConfigError } from '../config.js';
import { loadRun, runPaths, type LoadedRun, type RunDirs } from '../runs/index.js';

/** The run, or null after logging why it is left out. */
export function loadUsableRun(name: string, dirs: RunDirs, log: (line: string) => void): LoadedRun | null {
  let run: LoadedRun;
  try {
    run = loadRun(name, dirs);
  } catch (error) {
    // A corrupt file is a RunLookupError, a ConfigError too.
    if (!(error instanceof ConfigError)) throw error;
    log(`warning: skipping run "${name}": ${error.message}`);
    return null;
  }
  if (run.record?.status === 'diverged') {
    const at = run.record.divergedAt;
    const where = at ? ` at epoch ${at.epoch}${at.batch > 0 ? `, batch ${at.batch}` : ''}` : '';
    log(`warning: skipping run "${name}": ${runPaths(name, dirs).record} says its loss diverged${where}`);
    return null;
  }
  return run;
}

/** Every usable run of `names`, in order; bad ones are skipped with a warning each. */
export function loadUsableRuns(names: readonly string[], dirs: RunDirs, log: (line: string) => void): LoadedRun[] {
  return names.map((name) => loadUsableRun(name, dirs, log)).filter((run): run is LoadedRun => run !== null);
}
