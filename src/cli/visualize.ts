/**
 * `infobatch visualize`: the reproduction's figures (loss, test accuracy, samples per epoch) of one
 * or more InfoBatch runs against their baseline, as PNGs in --figure_dir.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { ConfigError } from '../config.js';
import { validateFigureSize, X_AXES, type XAxis } from '../plot/figure-options.js';
import type { Figure } from '../plot/figures.js';
import { assertComparable, baselineNameFor, methodOf } from '../report/compare.js';
import { writeDerivedFile } from '../report/output.js';
import { loadRun, runPaths, type LoadedRun, type RunDirs } from '../runs/index.js';
import { loadUsableRun } from '../report/usable-runs.js';
import { FIGURE_DIR_OPTIONS, FIGURE_SIZE_OPTIONS, RUN_DIR_OPTIONS, runDirsFromArgs, type FigureArgs, type RunDirArgs } from './options.js';

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface VisualizeOptions extends RunDirs {
  infobatch: string[];
  /** null: the baseline the first InfoBatch run's name points to, if it has a log. */
  baseline: string | null;
  xAxis: XAxis;
  figureDir: string;
  /** File-name prefix; null: the InfoBatch run's name, or <baseline>_overlay for several. */
  outputName: string | null;
  width: number;
  height: number;
}

/** Loads and checks the runs before drawing anything; every problem is a one-line ConfigError. */
export function selectRuns(options: VisualizeOptions, log: (line: string) => void): { baseline: LoadedRun | null; infobatch: LoadedRun[] } {
  if (options.infobatch.length === 0) throw new ConfigError('--infobatch_experiment_name is required (the run to plot)');
  const infobatch = options.infobatch.map((name) => loadRun(name, options));
  for (const run of infobatch) {
    if (methodOf(run).kind !== 'infobatch') {
      throw new ConfigError(`run "${run.name}" did not prune (a baseline?); pass it as --baseline_experiment_name`);
    }
  }
  let baseline: LoadedRun | null = null;
  if (options.baseline !== null) {
    baseline = loadRun(options.baseline, options);
  } else {
    const guess = baselineNameFor(infobatch[0]!.name);
    const guessedLog = guess === null ? null : runPaths(guess, options).log;
    if (guess !== null && existsSync(guessedLog!)) {
      // A guessed baseline that cannot be read is skipped (with a warning), not a reason to draw nothing.
      baseline = loadUsableRun(guess, options, log);
      if (baseline) log(`baseline: ${guess}`);
    } else {
      const looked = guessedLog === null ? '' : ` (looked for ${guessedLog})`;
      log(`no baseline run found${looked}; plotting the InfoBatch run${infobatch.length > 1 ? 's' : ''} alone (use --baseline_experiment_name)`);
    }
  }
  const reference = baseline ?? infobatch[0]!;
  for (const run of infobatch) if (run !== reference) assertComparable(reference, run);
  for (const run of [...(baseline ? [baseline] : []), ...infobatch]) run.warnings.forEach((warning) => log(`warning: ${warning}`));
  return { baseline, infobatch };
}

export async function runVisualize(options: VisualizeOptions, log: (line: string) => void): Promise<Figure[]> {
  if (options.outputName !== null && !NAME_PATTERN.test(options.outputName)) {
    throw new ConfigError(`--output_name "${options.outputName}" must be letters, digits, '.', '_' or '-' (it names files)`);
  }
  validateFigureSize(options);
  const runs = selectRuns(options, log);
  const prefix =
    options.outputName ?? (runs.infobatch.length === 1 ? runs.infobatch[0]!.name : `${(runs.baseline ?? runs.infobatch[0]!).name}_overlay`);
  // Loaded on use: the canvas addon is only needed for figures (the GPU-check bundle leaves it out).
  const { renderFigures } = await import('../plot/figures.js');
  const figures = renderFigures(runs, { xAxis: options.xAxis, prefix, width: options.width, height: options.height });
  for (const figure of figures) await writeDerivedFile(path.join(options.figureDir, figure.fileName), figure.png, log);
  return figures;
}

interface VisualizeArgs extends RunDirArgs, FigureArgs {
  infobatch_experiment_name: string[];
  baseline_experiment_name?: string;
  x: string;
  output_name?: string;
}

export const visualizeCommand: CommandModule<object, VisualizeArgs> = {
  command: 'visualize',
  describe: 'plot loss, test accuracy and samples per epoch of InfoBatch run(s) against the baseline (PNGs in --figure_dir)',
  builder: (yargs) =>
    yargs
      .options({ ...RUN_DIR_OPTIONS, ...FIGURE_DIR_OPTIONS, ...FIGURE_SIZE_OPTIONS })
      .option('infobatch_experiment_name', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'InfoBatch run(s) to plot; repeat the flag to overlay several (e.g. r = 0.3, 0.5, 0.7)',
      })
      .option('baseline_experiment_name', {
        type: 'string',
        describe: 'Baseline run; default: the matching <dataset>_<model>_baseline_b<bs> run when it exists',
      })
      .option('x', { type: 'string', choices: X_AXES, default: 'epoch', describe: 'x axis: epoch, or wall-clock training time' })
      .option('output_name', { type: 'string', describe: 'File-name prefix (default: the InfoBatch run name)' })
      .example('$0 visualize --infobatch_experiment_name cifar10_resnet18_infobatch_r_0_5_b256', 'against cifar10_resnet18_baseline_b256')
      .example(
        '$0 visualize --infobatch_experiment_name cifar10_resnet18_infobatch_r_0_3_b256 --infobatch_experiment_name cifar10_resnet18_infobatch_r_0_7_b256 --x time',
        'two ratios overlaid, against training time',
      ) as unknown as Argv<VisualizeArgs>,
  handler: async (argv) => {
    await runVisualize(
      {
        infobatch: argv.infobatch_experiment_name.map(String),
        baseline: argv.baseline_experiment_name ?? null,
        xAxis: argv.x as XAxis,
        outputName: argv.output_name ?? null,
        width: argv.width,
        height: argv.height,
        ...runDirsFromArgs(argv),
        figureDir: argv.figure_dir,
      },
      (line) => console.error(line),
    );
  },
};
