import * as tf from '@tensorflow/tfjs-core';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { reportError, UsageError } from './errors.js';
import { checkFlags, recordGivenFlags, type DeclaredOptions } from './flag-checks.js';
import { examplesEpilogue } from './help.js';
import { trainCommand } from './train.js';
import { testCommand } from './test.js';
import { reportCommand } from './report.js';
import { sweepCommand } from './sweep.js';
import { visualizeCommand } from './visualize.js';

/** The `infobatch` command line: thin wiring of the command modules; each command lives in its own file. */
export async function main(argv: string[]): Promise<number> {
  // tfjs prints a banner recommending tfjs-node whenever the cpu backend is touched; we log the backend choice ourselves.
  tf.env().set('PROD', true);
  let exitCode = 0;
  try {
    await yargs(argv)
      .scriptName('infobatch')
      .usage('$0 <command> [options]\n\nInfoBatch (Qin et al., ICLR 2024): lossless training speed-up by unbiased dynamic data pruning.')
      .command(trainCommand)
      .command(testCommand)
      .command(visualizeCommand)
      .command(reportCommand)
      .command(sweepCommand)
      .demandCommand(1, 'name a command: train, test, visualize, report or sweep')
      // Runs once the command's flags are declared, before validation and the handler.
      .middleware(((parsed: object, instance: { getOptions(): DeclaredOptions }) => {
        recordGivenFlags(parsed, checkFlags(argv, instance.getOptions()));
      }) as never, true)
      .strict()
      .recommendCommands()
      .epilogue(
        examplesEpilogue([
          ['infobatch train --experiment_name cifar10_resnet18_infobatch_r_0_5_b256 --use_info_batch --model ResNet18 --train_batch_size 256 --num_epoch 100 --ratio 0.5 --delta 0.875', 'InfoBatch on CIFAR-10 (the reproduction)'],
          ['infobatch test --experiment_name cifar10_resnet18_infobatch_r_0_5_b256 --model ResNet18', 'test its best model'],
          ['infobatch train --dataset fashion-mnist --data_dir /usr/share/datasets/fashion-mnist --model ResNet20 --num_epoch 5 --train_batch_size 128 --use_info_batch', 'offline on a laptop CPU'],
        ]),
      )
      // Wrap for a terminal; piped help keeps whole lines so example commands can be copied as they are.
      .wrap(process.stdout.isTTY ? Math.min(120, process.stdout.columns) : null)
      .fail((message, error) => {
        // yargs messages can span lines (choices); the user gets one line.
        throw error ?? new UsageError(`${message.replace(/\s*\n\s*/g, ' ')} (see --help)`);
      })
      .parseAsync();
  } catch (error) {
    exitCode = reportError(error);
  }
  return exitCode;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/cli/index.ts')) {
  process.exitCode = await main(hideBin(process.argv));
}
