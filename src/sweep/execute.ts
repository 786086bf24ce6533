/**
 * Runs a planned sweep: trains what the plan says, in order, then writes the report and the figures of
 * every InfoBatch run against its baseline. A run that diverges does not stop the others; it is left out
 * of the report and named in the result, so the CLI can end non-zero after reporting the rest.
 */
import path from 'node:path';
import { ConfigError, type TrainConfig } from '../config.js';
import { DEFAULT_FIGURE_SIZE } from '../plot/figure-options.js';
import { formatReport } from '../report/format.js';
import { writeDerivedFile } from '../report/output.js';
import { buildReport } from '../report/table.js';
import { loadUsableRuns } from '../report/usable-runs.js';
import type { LoadedRun, RunDirs } from '../runs/index.js';
import { DivergenceError } from '../train/divergence.js';
import type { TrainOptions } from '../train/trainer.js';
import type { PlannedRun } from './plan.js';

/** The trainer's signature; the CLI passes runTraining, tests a fake. */
export type Trainer = (config: TrainConfig, options: TrainOptions) => Promise<unknown>;

export interface SweepRunOptions extends RunDirs {
  figureDir: string;
  /** Pixel size of the figures; default DEFAULT_FIGURE_SIZE. */
  figureSize?: { width: number; height: number };
  trainer: Trainer;
  /** Ctrl-C: the current run stops after its batch and the sweep after it (see InterruptionRequest). */
  interruption?: TrainOptions['interruption'];
  log: (line: string) => void;
}

export interface SweepResult {
  /** The report (markdown), as written to <figureDir>/report.md; null when the sweep was interrupted. */
  readonly report: string | null;
  /** Runs whose loss became non-finite, in this sweep or an earlier one (left out of the report). */
  readonly diverged: readonly string[];
  /** True when Ctrl-C/SIGTERM stopped a run: nothing was reported, the same command continues. */
  readonly interrupted: boolean;
}

/** Trains what the plan says, in order, then writes the report and the figures. */
export async function executeSweep(plan: readonly PlannedRun[], options: SweepRunOptions): Promise<SweepResult> {
  const { log } = options;
  const diverged = plan.filter((run) => run.action === 'diverged').map((run) => run.name);
  const verbs: Partial<Record<PlannedRun['action'], string>> = { resume: 'resuming', restart: 'training again', start: 'training' };
  const toTrain = plan.filter((run) => verbs[run.action] !== undefined);
  for (const [index, run] of toTrain.entries()) {
    log(`sweep: ${verbs[run.action]} ${run.name} (${index + 1} of ${toTrain.length})`);
    let summary: unknown;
    try {
      summary = await options.trainer(run.config, {
        resume: run.action === 'resume',
        overwrite: run.action === 'restart',
        log,
        logDir: options.logDir,
        modelDir: options.modelDir,
        ...(options.interruption ? { interruption: options.interruption } : {}),
      });
    } catch (error) {
      if (!(error instanceof DivergenceError)) throw error;
      log(`sweep: ${run.name}: ${error.message}; continuing with the other runs`);
      diverged.push(run.name);
      continue;
    }
    if ((summary as { status?: string } | undefined)?.status === 'interrupted') {
      log('sweep interrupted: run the same sweep command again to continue (complete runs are skipped; this one resumes, or starts again if no epoch of it had finished)');
      return { report: null, diverged, interrupted: true };
    }
  }
  const runs = new Map(loadUsableRuns(plan.map((run) => run.name), options, log).map((run) => [run.name, run]));
  for (const run of runs.values()) run.warnings.forEach((warning) => log(`warning: ${warning}`));
  if (runs.size === 0) throw new ConfigError('no run of the sweep could be reported (see the warnings above)');
  const report = formatReport(buildReport([...runs.values()]), 'md');
  await writeDerivedFile(path.join(options.figureDir, 'report.md'), report, log);
  try {
    await writeFigures(plan, runs, options);
  } catch (error) {
    // Hours of training are not lost to a figure: the runs and the report are written; `visualize` redraws.
    log(`warning: figures not written (${(error as Error).message.split('\n')[0]}); the report is in ${path.join(options.figureDir, 'report.md')}, and \`infobatch visualize\` draws them later`);
  }
  return { report, diverged, interrupted: false };
}

/** The accuracy/loss figures of each InfoBatch run against its baseline, per epoch and per time. */
async function writeFigures(plan: readonly PlannedRun[], runs: ReadonlyMap<string, LoadedRun>, options: SweepRunOptions): Promise<void> {
  // Loaded on use: the canvas addon is only needed for figures (the GPU-check bundle leaves it out).
  const { renderFigures } = await import('../plot/figures.js');
  const size = options.figureSize ?? DEFAULT_FIGURE_SIZE;
  for (const run of plan) {
    if (run.ratio === null) continue;
    const baseline = plan.find((other) => other.ratio === null && other.seed === run.seed)!;
    const infobatchRun = runs.get(run.name);
    if (!infobatchRun) continue;
    for (const xAxis of ['epoch', 'time'] as const) {
      const figures = renderFigures({ baseline: runs.get(baseline.name) ?? null, infobatch: [infobatchRun] }, { xAxis, prefix: run.name, ...size });
      for (const figure of figures) await writeDerivedFile(path.join(options.figureDir, figure.fileName), figure.png, options.log);
    }
  }
}
