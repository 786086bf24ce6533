/**
 * `infobatch sweep`: the whole reproduction in one command. Trains the baseline and InfoBatch at each
 * --ratios value (per --seeds seed) with the same model, data, epochs and batch size, skipping complete
 * runs and resuming interrupted ones, then writes the report and the figures of every ratio.
 */
import type { Argv, CommandModule } from 'yargs';
import { ConfigError, prunes } from '../config.js';
import { executeSweep, type SweepResult } from '../sweep/execute.js';
import { DIVERGED_EXIT_CODE, INTERRUPTED_EXIT_CODE, SilentExit } from './errors.js';
import { describePlan, parseRatios, parseSeeds, planSweep, type SweepRequest } from '../sweep/plan.js';
import { validateFigureSize } from '../plot/figure-options.js';
import {
  configFromArgs, DATA_OPTIONS, FIGURE_DIR_OPTIONS, FIGURE_SIZE_OPTIONS, runDirsFromArgs, TRAIN_OPTIONS, type DataArgs, type FigureArgs,
} from './options.js';

/**
 * Prints the report of a finished sweep and ends it: exit 130 when interrupted; exit 3 (DIVERGED_EXIT_CODE)
 * after the report when a run diverged, saying so in the last line, so that scripts see the sweep is not whole.
 */
export function endSweep(result: SweepResult, write: (text: string) => void, log: (line: string) => void): void {
  if (result.interrupted) throw new SilentExit(INTERRUPTED_EXIT_CODE);
  if (result.report !== null) write(result.report);
  if (result.diverged.length === 0) return;
  log(
    `sweep: ${result.diverged.length} run(s) diverged and are not in the report: ${result.diverged.join(', ')}; ` +
      `train them again with --overwrite and a lower --max_lr (exit ${DIVERGED_EXIT_CODE})`,
  );
  throw new SilentExit(DIVERGED_EXIT_CODE);
}

interface SweepArgs extends DataArgs, FigureArgs {
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
  dry_run: boolean;
}

/** Turns the flags into a sweep request; every mistake is a ConfigError before any work. */
export function sweepRequestFromArgs(args: SweepArgs): SweepRequest {
  if (args.seed !== undefined && args.seeds !== undefined) throw new ConfigError('pass --seed or --seeds, not both');
  const ratios = parseRatios(String(args.ratios));
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
  if (!prunes(base)) throw new ConfigError(`--delta must be in (0, 1] for the InfoBatch runs to prune, got ${args.delta}`);
  return { base, ratios, seeds };
}

const { model, train_batch_size, num_epoch, delta, max_lr, weight_decay, label_smoothing, train_limit } = TRAIN_OPTIONS;

export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: 'sweep',
  describe: 'train the baseline and InfoBatch at several pruning ratios (and seeds), then write the report and figures',
  builder: (yargs) =>
    yargs
      .option('ratios', { type: 'string', default: '0.3,0.5,0.7', describe: 'comma-separated InfoBatch pruning ratios; a baseline is always trained too' })
      .option('seed', { type: 'number', describe: `seed of every run (default ${TRAIN_OPTIONS.seed.default}); run names get no seed suffix` })
      .option('seeds', { type: 'string', describe: 'comma-separated seeds: repeats the sweep per seed, names end in _s<seed>; the report shows mean ± std' })
      .option('dry_run', { type: 'boolean', default: false, describe: 'only print which runs would be trained, resumed or skipped' })
      .options({ model, train_batch_size, num_epoch, delta, max_lr, weight_decay, label_smoothing, train_limit, ...DATA_OPTIONS })
      .options({ ...FIGURE_DIR_OPTIONS, ...FIGURE_SIZE_OPTIONS })
      .example(
        '$0 sweep --dataset fashion-mnist --data_dir /usr/share/datasets/fashion-mnist --model ResNetTiny --train_batch_size 128 --num_epoch 10 --train_limit 8000 --test_limit 2000',
        'a small sweep on a CPU (minutes)',
      )
      .example('$0 sweep --model ResNet18 --train_batch_size 256 --num_epoch 100 --seeds 0,1,2', 'the reproduction on CIFAR-10, three seeds') as unknown as Argv<SweepArgs>,
  handler: async (argv) => {
    const log = (line: string): void => console.error(line);
    const dirs = runDirsFromArgs(argv);
    const figureSize = { width: argv.width, height: argv.height };
    validateFigureSize(figureSize);
    const plan = planSweep(sweepRequestFromArgs(argv), dirs);
    log(`sweep plan (${plan.length} runs):`);
    describePlan(plan).forEach((line) => log(line));
    if (argv.dry_run) return;
    // Loaded only now: tfjs and the models are not needed to plan or to print the plan.
    const [{ runTraining }, { InterruptionRequest }] = await Promise.all([import('../train/trainer.js'), import('../train/interruption.js')]);
    const interruption = InterruptionRequest.listen(log);
    let result;
    try {
      result = await executeSweep(plan, { ...dirs, figureDir: argv.figure_dir, figureSize, trainer: runTraining, interruption, log });
    } finally {
      interruption.dispose();
    }
    endSweep(result, (text) => process.stdout.write(text), log);
  },
};
