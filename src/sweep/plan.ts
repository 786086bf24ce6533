/**
 * Plans `infobatch sweep`: a baseline and one InfoBatch run per pruning ratio (per seed), named as the
 * reproduction names them, and for each whether it is already complete (skip), was interrupted
 * (resume from its checkpoint, or restart if no epoch of it finished) or is new (start). Everything is checked before any training starts,
 * so a sweep never fails an hour in on something it could have seen at the start.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError, experimentNameFor, prunes, validateConfig, type TrainConfig } from '../config.js';
import { checkpointExists, parseEpochLog, readRunRecord, runPaths, type RunDirs, type RunRecord } from '../runs/index.js';

/**
 * diverged: its loss became non-finite; left as it is (resuming would diverge again). restart: it was
 * stopped before its first epoch finished, so nothing of it but its record exists; it starts again.
 */
export type SweepAction = 'skip' | 'diverged' | 'resume' | 'restart' | 'start';

export interface PlannedRun {
  name: string;
  /** What the run trains with (for skip/resume: the saved configuration, as the trainer requires). */
  config: TrainConfig;
  action: SweepAction;
  /** null for the baseline. */
  ratio: number | null;
  /** null without --seeds (one seed, names without a suffix). */
  seed: number | null;
}

export interface SweepRequest {
  /** Everything the runs share: model, data, batch size, epochs, schedule, δ, seed, backend. */
  base: TrainConfig;
  ratios: number[];
  /** null: one run per method with base.seed and no _s<seed> suffix. */
  seeds: number[] | null;
}

function parseList(text: string, flag: string): number[] {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.length === 0 || parts.some((part) => part === '')) throw new ConfigError(`--${flag} must be a comma-separated list of numbers, got "${text}"`);
  const values = parts.map(Number);
  const bad = parts.find((part, index) => !Number.isFinite(values[index]!));
  if (bad !== undefined) throw new ConfigError(`--${flag}: "${bad}" is not a number`);
  if (new Set(values).size !== values.length) throw new ConfigError(`--${flag} lists a value twice: "${text}"`);
  return values;
}

/** "0.3,0.5,0.7" → [0.3, 0.5, 0.7]; each in (0, 1), none twice. */
export function parseRatios(text: string): number[] {
  const ratios = parseList(text, 'ratios');
  const bad = ratios.find((ratio) => !(ratio > 0 && ratio < 1));
  if (bad !== undefined) throw new ConfigError(`--ratios: every pruning ratio must be in (0, 1), got ${bad} (the baseline is always run)`);
  return ratios;
}

/** "0,1,2" → [0, 1, 2]; non-negative integers, none twice. */
export function parseSeeds(text: string): number[] {
  const seeds = parseList(text, 'seeds');
  const bad = seeds.find((seed) => !Number.isInteger(seed) || seed < 0);
  if (bad !== undefined) throw new ConfigError(`--seeds: seeds must be non-negative integers, got ${bad}`);
  return seeds;
}

/** Settings that do not change what a run computes: a resumed or skipped run may differ in these. */
const INCIDENTAL: readonly (keyof TrainConfig)[] = ['experimentName', 'backend', 'dataDir', 'mirror', 'evalBatchSize'];
/** Settings a run that does not prune never reads. */
const PRUNING_ONLY: readonly (keyof TrainConfig)[] = ['useInfoBatch', 'ratio', 'delta', 'pruneStrategy', 'rescale', 'anneal'];

/** Names the settings in which a saved run differs from what the sweep would train. */
export function configDifferences(saved: TrainConfig, wanted: TrainConfig): string[] {
  const ignored = new Set<keyof TrainConfig>(INCIDENTAL);
  if (!prunes(saved) && !prunes(wanted)) PRUNING_ONLY.forEach((key) => ignored.add(key));
  const keys = new Set([...Object.keys(saved), ...Object.keys(wanted)] as (keyof TrainConfig)[]);
  return [...keys]
    .filter((key) => !ignored.has(key) && JSON.stringify(saved[key]) !== JSON.stringify(wanted[key]))
    .map((key) => `${key} ${JSON.stringify(saved[key])} (sweep: ${JSON.stringify(wanted[key])})`);
}

/** The runs of the sweep in training order: per seed, the baseline, then the ratios as given. */
export function sweepConfigs(request: SweepRequest): { config: TrainConfig; ratio: number | null; seed: number | null }[] {
  const { base } = request;
  const seeds: (number | null)[] = request.seeds ?? [null];
  return seeds.flatMap((seed) =>
    [null, ...request.ratios].map((ratio) => {
      const config: TrainConfig = {
        ...base,
        seed: seed ?? base.seed,
        useInfoBatch: ratio !== null,
        ratio: ratio ?? 0,
        experimentName: experimentNameFor({
          dataset: base.dataset,
          model: base.model,
          batchSize: base.batchSize,
          ratio,
          ...(seed === null ? {} : { seed }),
        }),
      };
      validateConfig(config);
      return { config, ratio, seed };
    }),
  );
}

/** Decides skip / resume / start for every run; throws ConfigError for anything that would stop the sweep later. */
export function planSweep(request: SweepRequest, dirs: RunDirs): PlannedRun[] {
  if (request.ratios.length === 0) throw new ConfigError('--ratios needs at least one pruning ratio');
  return sweepConfigs(request).map(({ config, ratio, seed }) => {
    const name = config.experimentName;
    const paths = runPaths(name, dirs);
    const runDir = paths.modelDir;
    const record = readRunRecord(paths.record);
    if (!record) {
      const leftovers = [paths.log, runDir].filter((file) => existsSync(file));
      if (leftovers.length > 0) {
        throw new ConfigError(
          `run "${name}" has files but no run record (${leftovers.join(', ')}): it cannot be resumed; ` +
            'move them away (or delete them) and run the sweep again',
        );
      }
      return { name, config, action: 'start', ratio, seed };
    }
    const differences = configDifferences(record.config, config);
    if (differences.length > 0) {
      throw new ConfigError(
        `run "${name}" in ${runDir} was trained with other settings: ${differences.join(', ')}; ` +
          'use the same flags, another --model_dir/--log_dir, or move that run away',
      );
    }
    // Keep the saved settings that the comparison ignored (the trainer resumes only an identical configuration).
    const saved: TrainConfig = { ...record.config, backend: config.backend, dataDir: config.dataDir, mirror: config.mirror, evalBatchSize: config.evalBatchSize };
    if (record.status === 'complete') return { name, config: saved, action: 'skip', ratio, seed };
    if (record.status === 'diverged') return { name, config: saved, action: 'diverged', ratio, seed };
    if (!checkpointExists(paths.checkpoint)) {
      // A sweep stopped (Ctrl-C, a time limit) in a run's first epoch is continued by running it again: that
      // run has no results to lose, so it starts over. One with a logged epoch but no checkpoint is not guessed at.
      if (finishedNoEpoch(record, paths.log)) return { name, config, action: 'restart', ratio, seed };
      throw new ConfigError(
        `run "${name}" stopped before its first checkpoint, so it cannot be resumed; ` +
          `delete ${paths.log} and ${runDir} and run the sweep again`,
      );
    }
    return { name, config: saved, action: 'resume', ratio, seed };
  });
}

/** True when the run's record and log show no finished epoch (the trainer writes both at each epoch's end). */
function finishedNoEpoch(record: RunRecord, log: string): boolean {
  if (record.samplesFull !== 0) return false;
  if (!existsSync(log)) return true;
  try {
    return parseEpochLog(readFileSync(log, 'utf8'), log).rows.length === 0;
  } catch {
    return false;
  }
}

export function describePlan(plan: readonly PlannedRun[]): string[] {
  const verb: Record<SweepAction, string> = {
    skip: 'complete, skip',
    diverged: 'diverged, skip (train it again with --overwrite and a lower --max_lr)',
    resume: 'interrupted, resume',
    restart: 'stopped before its first epoch finished, start again',
    start: 'train',
  };
  return plan.map((run) => `  ${run.name}: ${verb[run.action]}`);
}
