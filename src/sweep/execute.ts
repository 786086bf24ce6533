/**
 * Runs a planned sweep: trains what the plan says, in order, then writes the report and the figures of
 * every InfoBatch run against its baseline.
 */
import path from 'node:path';
import type { TrainConfig } from '../config.js';
import { DEFAULT_FIGURE_SIZE } from '../plot/figure-options.js';
import { formatReport } from '../report/format.js';
import { writeDerivedFile } from '../report/output.js';
import { buildReport } from '../report/table.js';
import { loadRun, type RunDirs } from '../runs/index.js';
import type { TrainOptions } from '../train/trainer.js';
import type { PlannedRun } from './plan.js';

/** The trainer's signature; the CLI passes runTraining, tests a fake. */
export type Trainer = (config: TrainConfig, options: TrainOptions) => Promise<unknown>;

export interface SweepRunOptions extends RunDirs {
  figureDir: string;
  /** Pixel size of the figures; default DEFAULT_FIGURE_SIZE. */
  figureSize?: { width: number; height: number };
  trainer: Trainer;
  log: (line: string) => void;
}

/** Trains what the plan says, in order, then writes the report and the figures; returns the report text. */
export async function executeSweep(plan: readonly PlannedRun[], options: SweepRunOptions): Promise<string> {
  const { log } = options;
  const toTrain = plan.filter((run) => run.action !== 'skip');
  for (const [index, run] of toTrain.entries()) {
    log(`sweep: ${run.action === 'resume' ? 'resuming' : 'training'} ${run.name} (${index + 1} of ${toTrain.length})`);
    await options.trainer(run.config, { resume: run.action === 'resume', log, logDir: options.logDir, modelDir: options.modelDir });
  }
  const runs = new Map(plan.map((run) => [run.name, loadRun(run.name, options)]));
  for (const run of runs.values()) run.warnings.forEach((warning) => log(`warning: ${warning}`));
  const report = formatReport(buildReport([...runs.values()]), 'md');
  await writeDerivedFile(path.join(options.figureDir, 'report.md'), report, log);
  // Loaded on use: the canvas addon is only needed for figures (the GPU-check bundle leaves it out).
  const { renderFigures } = await import('../plot/figures.js');
  const size = options.figureSize ?? DEFAULT_FIGURE_SIZE;
  for (const run of plan) {
    if (run.ratio === null) continue;
    const baseline = plan.find((other) => other.ratio === null && other.seed === run.seed)!;
    for (const xAxis of ['epoch', 'time'] as const) {
      const figures = renderFigures(
        { baseline: runs.get(baseline.name)!, infobatch: [runs.get(run.name)!] },
        { xAxis, prefix: run.name, ...size },
      );
      for (const figure of figures) await writeDerivedFile(path.join(options.figureDir, figure.fileName), figure.png, log);
    }
  }
  return report;
}
