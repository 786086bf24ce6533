/**
 * What the report and the figures need to know about a loaded run beyond its files: which baseline it
 * is compared with, whether and how it pruned, where annealing started, and whether two runs compare.
 */
import { prunes, type TrainConfig } from '../config.js';
import { RunLookupError, type LoadedRun } from '../runs/index.js';

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
    return prunes(config) ? { kind: 'infobatch', ratio: config.ratio, delta: config.delta } : { kind: 'baseline', ratio: null, delta: null };
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
