/**
 * `infobatch sweep`: the whole reproduction in one command. Trains the baseline and InfoBatch at each
 * --ratios value (per --seeds seed) with the same model, data, epochs and batch size, skipping complete
 * runs and resuming interrupted ones, then writes the report and the figures of every ratio.
 */
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { ConfigError, type TrainConfig } from '../config.js';
import { formatReport } from '../report/format.js';
import { writeDerivedFile } from '../report/output.js';
import type { RunDirs } from '../report/runs.js';
import { loadUsableRuns } from '../report/usable-runs.js';
import { describePlan, parseRatios, parseSeeds, planSweep, type PlannedRun, type SweepRequest } from '../report/sweep-plan.js';
import { buildReport } from '../report/table.js';
import { DivergenceError } from '../train/divergence.js';
import type { TrainOptions } from '../train/trainer.js';
import { INTERRUPTED_EXIT_CODE, SilentExit } from './errors.js';
import { configFromArgs, DATA_OPTIONS, datasetExtra, TRAIN_OPTIONS, type DataArgs } from './train-options.js';

/** The trainer's signature; the CLI passes runTraining, tests a fake. */
export type Trainer = (config: TrainConfig, options: TrainOptions) => Promise<unknown>;

export interface SweepRunOptions extends RunDirs {
  figureDir: string;
  trainer: Trainer;
  datasetExtra?: TrainOptions['datasetExtra'];
  /** Ctrl-C: the current run stops after its batch and the sweep after it (see InterruptionRequest). */
  interruption?: TrainOptions['interruption'];
  log: (line: string) => void;
}

/** Trains what the plan says, in order, then writes the report and the figures; returns the report text. */
export async function executeSweep(plan: readonly PlannedRun[], options: SweepRunOptions): Promise<string> {
  const { log } = options;
  const toTrain = plan.filter((run) => run.action === 'resume' || run.action === 'start');
  for (const [index, run] of toTrain.entries()) {
    log(`sweep: ${run.action === 'resume' ? 'resuming' : 'training'} ${run.name} (${index + 1} of ${toTrain.length})`);
    let summary: unknown;
    try {
      summary = await options.trainer(run.config, {
        resume: run.action === 'resume',
        log,
        logDir: options.logDir,
        modelDir: options.modelDir,
        ...(options.datasetExtra ? { datasetExtra: options.datasetExtra } : {}),
        ...(options.interruption ? { interruption: options.interruption } : {}),
      });
    } catch (error) {
      // One diverged run does not stop the others; the report leaves it out with a warning.
      if (!(error instanceof DivergenceError)) throw error;
      log(`sweep: ${run.name}: ${error.message}; continuing with the other runs`);
      continue;
    }
    if ((summary as { status?: string } | undefined)?.status === 'interrupted') {
      log('sweep interrupted: run the same sweep command again to continue (complete runs are skipped, this one resumes)');
      throw new SilentExit(INTERRUPTED_EXIT_CODE);
    }
  }
  const runs = new Map(loadUsableRuns(plan.map((run) => run.name), options, log).map((run) => [run.name, run]));
  for (const run of runs.values()) run.warnings.forEach((warning) => log(`warning: ${warning}`));
  if (runs.size === 0) throw new ConfigError('no run of the sweep could be reported (see the warnings above)');
  const report = formatReport(buildReport([...runs.values()]), 'md');
  await writeDerivedFile(path.join(options.figureDir, 'report.md'), report, log);
  // Loaded on use: the canvas addon is only needed for figures (the GPU-check bundle leaves it out).
  const { renderFigures } = await import('../plot/figures.js');
  for (const run of plan) {
    if (run.ratio === null) continue;
    const baseline = plan.find((other) => other.ratio === null && other.seed === run.seed)!;
    const infobatchRun = runs.get(run.name);
    if (!infobatchRun) continue;
    for (const xAxis of ['epoch', 'time'] as const) {
      const figures = renderFigures(
        { baseline: runs.get(baseline.name) ?? null, infobatch: [infobatchRun] },
        { xAxis, prefix: run.name, width: 1200, height: 700 },
      );
      for (const figure of figures) await writeDerivedFile(path.join(options.figureDir, figure.fileName), figure.png, log);
    }
  }
  return report;
}

interface SweepArgs extends DataArgs {
  model: string;
  train_batch_size: number;
  num_epoch: number;
  ratios: string;
  delta: number;
  seed?: number;
  seeds?: string;
  max_lr: number;
  weight_decay: number;
  label_smoothing: number;
  train_limit: number;
  figure_dir: string;
  dry_run: boolean;
}

/** Turns the flags into a sweep request; every mistake is a ConfigError before any work. */
export function sweepRequestFromArgs(args: SweepArgs): SweepRequest {
  if (args.seed !== undefined && args.seeds !== undefined) throw new ConfigError('pass --seed or --seeds, not both');
  const ratios = parseRatios(String(args.ratios));
  if (!(args.delta > 0 && args.delta <= 1)) throw new ConfigError(`--delta must be in (0, 1] for the InfoBatch runs to prune, got ${args.delta}`);
  const seeds = args.seeds === undefined ? null : parseSeeds(String(args.seeds));
  const base = configFromArgs({
    ...args,
    seed: args.seed ?? TRAIN_OPTIONS.seed.default,
    use_info_batch: true,
    ratio: ratios[0]!,
    random_pruning: false,
    no_rescale: false,
    no_anneal: false,
  });
  return { base, ratios, seeds };
}

const { model, train_batch_size, num_epoch, delta, max_lr, weight_decay, label_smoothing, train_limit } = TRAIN_OPTIONS;

export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: 'sweep',
  describe: 'Train the baseline and InfoBatch at several pruning ratios (and seeds), then write the report and figures',
  builder: (yargs) =>
    yargs
      .option('ratios', { type: 'string', default: '0.3,0.5,0.7', describe: 'comma-separated InfoBatch pruning ratios; a baseline is always trained too' })
      .option('seed', { type: 'number', describe: `seed of every run (default ${TRAIN_OPTIONS.seed.default}); run names get no seed suffix` })
      .option('seeds', { type: 'string', describe: 'comma-separated seeds: repeats the sweep per seed, names end in _s<seed>; the report shows mean ± std' })
      .option('dry_run', { type: 'boolean', default: false, describe: 'only print which runs would be trained, resumed or skipped' })
      .options({ model, train_batch_size, num_epoch, delta, max_lr, weight_decay, label_smoothing, train_limit, ...DATA_OPTIONS })
      .option('figure_dir', { type: 'string', default: 'figures', describe: 'where report.md and the figures are written (replacing files of the same name)' })
      .example(
        '$0 sweep --dataset fashion-mnist --data_dir /usr/share/datasets/fashion-mnist --model ResNetTiny --train_batch_size 128 --num_epoch 10 --train_limit 8000 --test_limit 2000',
        'a small sweep on a CPU (minutes)',
      )
      .example('$0 sweep --model ResNet18 --train_batch_size 256 --num_epoch 100 --seeds 0,1,2', 'the reproduction on CIFAR-10, three seeds') as unknown as Argv<SweepArgs>,
  handler: async (argv) => {
    const log = (line: string): void => console.error(line);
    const dirs = { logDir: argv.log_dir, modelDir: argv.model_dir };
    const plan = planSweep(sweepRequestFromArgs(argv), dirs);
    log(`sweep plan (${plan.length} runs):`);
    describePlan(plan).forEach((line) => log(line));
    if (argv.dry_run) return;
    // Loaded only now: tfjs and the models are not needed to plan or to print the plan.
    const [{ runTraining }, { InterruptionRequest }] = await Promise.all([import('../train/trainer.js'), import('../train/interruption.js')]);
    const interruption = InterruptionRequest.listen(log);
    try {
      const report = await executeSweep(plan, {
        ...dirs,
        figureDir: argv.figure_dir,
        trainer: runTraining,
        datasetExtra: datasetExtra(argv),
        interruption,
        log,
      });
      process.stdout.write(report);
    } finally {
      interruption.dispose();
    }
  },
};
