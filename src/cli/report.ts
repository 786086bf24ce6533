/**
 * `infobatch report [names…]`: the reproduction's table (best accuracy, training time, sample-steps
 * saved, each against the baseline) printed to stdout and written to <figure_dir>/report.<format>.
 */
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { ConfigError } from '../config.js';
import { formatReport, REPORT_FORMATS, type ReportFormat } from '../report/format.js';
import { writeDerivedFile } from '../report/output.js';
import { loadUsableRuns } from '../report/usable-runs.js';
import { buildReport } from '../report/table.js';
import { listLoggedRuns, loadRun, type RunDirs } from '../runs/index.js';
import { FIGURE_DIR_OPTIONS, RUN_DIR_OPTIONS, runDirsFromArgs, type RunDirArgs } from './options.js';

export interface ReportOptions extends RunDirs {
  /** Runs to tabulate; empty = every run with a log in logDir. */
  names: string[];
  format: ReportFormat;
  figureDir: string;
  /** Also write <figureDir>/report.<format>. */
  write: boolean;
}

/** Builds the report text; logs warnings and the written file through `log` (stderr in the CLI). */
export async function runReport(options: ReportOptions, log: (line: string) => void): Promise<string> {
  const names = options.names.length > 0 ? options.names : listLoggedRuns(options.logDir);
  if (names.length === 0) {
    throw new ConfigError(`no runs to report: ${options.logDir}/ has no logs (train one with "infobatch train", or pass --log_dir)`);
  }
  // Runs the user named must all be there; of "every run in logs/" a bad one is skipped with a warning.
  const runs = options.names.length > 0 ? names.map((name) => loadRun(name, options)) : loadUsableRuns(names, options, log);
  if (runs.length === 0) throw new ConfigError(`no runs to report: none of ${names.join(', ')} could be read (see the warnings above)`);
  for (const run of runs) run.warnings.forEach((warning) => log(`warning: ${warning}`));
  const text = formatReport(buildReport(runs), options.format);
  if (options.write) await writeDerivedFile(path.join(options.figureDir, `report.${options.format}`), text, log);
  return text;
}

interface ReportArgs extends RunDirArgs {
  names?: string[];
  format: string;
  write: boolean;
  figure_dir: string;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report [names..]',
  describe: 'table of best accuracy, training time and samples saved (baseline first; mean ± std over seeds)',
  builder: (yargs) =>
    yargs
      .options({ ...RUN_DIR_OPTIONS, ...FIGURE_DIR_OPTIONS })
      .positional('names', { type: 'string', array: true, describe: 'run (experiment) names; default: every run in --log_dir' })
      .option('format', { type: 'string', choices: REPORT_FORMATS, default: 'md', describe: 'md (Markdown table), csv or json' })
      .option('write', { type: 'boolean', default: true, describe: 'Also write <figure_dir>/report.<format> (--no-write to only print)' })
      .example('$0 report', 'every run in logs/')
      .example('$0 report cifar10_resnet18_baseline_b256 cifar10_resnet18_infobatch_r_0_5_b256 --format csv', 'two runs, as CSV') as unknown as Argv<ReportArgs>,
  handler: async (argv) => {
    const text = await runReport(
      {
        names: (argv.names ?? []).map(String),
        format: argv.format as ReportFormat,
        ...runDirsFromArgs(argv),
        figureDir: argv.figure_dir,
        write: argv.write,
      },
      (line) => console.error(line),
    );
    process.stdout.write(text);
  },
};
