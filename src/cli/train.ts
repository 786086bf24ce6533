import type { CommandModule } from 'yargs';
import { validateExperimentName } from '../config.js';
import { InterruptionRequest } from '../train/interruption.js';
import { readRunRecord, runPaths } from '../runs/index.js';
import { runTraining } from '../train/trainer.js';
import { INTERRUPTED_EXIT_CODE, SilentExit } from './errors.js';
import { givenFlags } from './flag-checks.js';
import { examplesEpilogue } from './help.js';
import { configFromArgs, DATA_OPTIONS, resumedConfig, runDirsFromArgs, TRAIN_OPTIONS, type TrainArgs } from './options.js';

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'train a model, as a full-data baseline or with InfoBatch',
  builder: (yargs) =>
    yargs
      .options({ ...TRAIN_OPTIONS, ...DATA_OPTIONS })
      .epilogue(
        examplesEpilogue([
          [
            'infobatch train --experiment_name cifar10_resnet18_infobatch_r_0_5_b256 --use_info_batch --model ResNet18 --train_batch_size 256 --num_epoch 100 --ratio 0.5 --delta 0.875',
            'the reproduction: ResNet-18 on CIFAR-10 with InfoBatch r = 0.5',
          ],
          [
            'infobatch train --experiment_name cifar10_resnet18_baseline_b256 --model ResNet18 --train_batch_size 256 --num_epoch 100 --ratio 0.0 --delta 0.0',
            'its full-data baseline',
          ],
          [
            'infobatch train --dataset fashion-mnist --data_dir /usr/share/datasets/fashion-mnist --model ResNet20 --num_epoch 5 --train_batch_size 128 --use_info_batch',
            'offline, on a laptop CPU',
          ],
        ]),
      ) as never,
  handler: async (args) => {
    let config = configFromArgs(args);
    const dirs = runDirsFromArgs(args);
    if (args.resume) {
      validateExperimentName(config.experimentName);
      // Without a record the trainer says there is nothing to resume.
      const record = readRunRecord(runPaths(config.experimentName, dirs).record);
      if (record !== null) config = resumedConfig(record.config, config, givenFlags(args));
    }
    const interruption = InterruptionRequest.listen((line) => console.log(line));
    try {
      const summary = await runTraining(config, { resume: args.resume as boolean, overwrite: args.overwrite as boolean, ...dirs, interruption });
      if (summary.status === 'interrupted') throw new SilentExit(INTERRUPTED_EXIT_CODE);
    } finally {
      interruption.dispose();
    }
  },
};
