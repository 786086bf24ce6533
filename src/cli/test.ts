import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { validateExperimentName } from '../config.js';
import { selectBackend } from '../backend/select.js';
import { BatchMaker } from '../data/augment.js';
import { limitSplit } from '../data/dataset.js';
import { loadDatasetFor } from '../data/registry.js';
import { MODEL_NAMES } from '../models/registry.js';
import { loadModel, MODEL_JSON, readRunRecord, runPaths } from '../runs/index.js';
import { evaluate } from '../train/evaluate.js';
import { UsageError } from './errors.js';
import { examplesEpilogue } from './help.js';
import { DATA_OPTIONS, runDirsFromArgs, type DataArgs } from './options.js';

interface TestArgs extends Omit<DataArgs, 'dataset' | 'data_dir' | 'test_limit' | 'cifar100_labels'> {
  experiment_name: string;
  model?: string;
  dataset?: string;
  data_dir?: string;
  test_limit?: number;
}

const { cifar100_labels: _trainedLabelSet, ...TEST_DATA_OPTIONS } = DATA_OPTIONS;

/**
 * `infobatch test`: loads the best saved model of an experiment and reports test loss, top-1 and per-class
 * accuracy, on the data the run was trained with (its record's dataset settings: a coarse-label CIFAR-100
 * model is scored against the coarse labels).
 */
export const testCommand: CommandModule<object, TestArgs> = {
  command: 'test',
  describe: "evaluate an experiment's best saved model on its test set",
  builder: (yargs) =>
    yargs
      .options({
        ...TEST_DATA_OPTIONS,
        experiment_name: { type: 'string', demandOption: true, describe: 'the experiment whose saved_models/<name>/ to test' },
        model: { type: 'string', choices: MODEL_NAMES, describe: 'expected architecture (checked against the saved run)' },
        dataset: { ...DATA_OPTIONS.dataset, default: undefined, describe: 'dataset (default: the one the run trained on)' },
        data_dir: { ...DATA_OPTIONS.data_dir, default: undefined, describe: 'data directory (default: the one the run used)' },
        mirror: { ...DATA_OPTIONS.mirror, describe: 'download CIFAR from here (default: the one the run used, else $INFOBATCH_CIFAR_MIRROR)' },
        test_limit: { ...DATA_OPTIONS.test_limit, default: undefined, describe: 'first N test images only (default: as trained)' },
      })
      .epilogue(examplesEpilogue([['infobatch test --experiment_name cifar10_resnet18_baseline_b256 --model ResNet18', 'test the baseline of the reproduction']])) as never,
  handler: async (args) => {
    validateExperimentName(args.experiment_name);
    const paths = runPaths(args.experiment_name, runDirsFromArgs(args));
    const record = readRunRecord(paths.record);
    if (!existsSync(join(paths.modelDir, MODEL_JSON)) || record === null) {
      throw new UsageError(`no saved model for experiment "${args.experiment_name}" in ${paths.modelDir}/ (train it first, or check --model_dir)`);
    }
    const { config } = record;
    if (args.model !== undefined && args.model !== config.model) {
      throw new UsageError(`experiment "${args.experiment_name}" trained a ${config.model}, not a ${args.model}`);
    }
    const log = (line: string): void => console.log(line);
    // Data before the backend: a missing dataset is said at once, without probing GPUs.
    const dataset = await loadDatasetFor(
      { ...config, dataset: args.dataset ?? config.dataset, dataDir: args.data_dir ?? config.dataDir, mirror: args.mirror ?? config.mirror },
      log,
    );
    await selectBackend(args.backend, log, { precision: args.precision });
    const model = await loadModel(paths.modelDir, 'retrain the experiment (train --overwrite), or restore that file');
    const inputShape = model.inputs[0]!.shape.slice(1);
    if (inputShape.join() !== [dataset.height, dataset.width, dataset.channels].join()) {
      throw new UsageError(`the model takes ${inputShape.join('×')} images but ${dataset.name} has ${dataset.height}×${dataset.width}×${dataset.channels}`);
    }
    const pixels = dataset.height * dataset.width * dataset.channels;
    const split = limitSplit(dataset.test, args.test_limit ?? config.testLimit, pixels);
    const result = await evaluate(model, split, new BatchMaker(dataset), { batchSize: args.eval_batch_size, numClasses: dataset.numClasses, labelSmoothing: config.labelSmoothing });
    console.log(`experiment: ${args.experiment_name} (${config.model} on ${dataset.name}, ${result.count} test images)`);
    console.log(`test cross-entropy: ${result.crossEntropy.toFixed(4)} (label-smoothed ${config.labelSmoothing}: ${result.smoothedCrossEntropy.toFixed(4)})`);
    console.log(`top-1 accuracy: ${result.accuracy.toFixed(2)} %`);
    console.log('per-class accuracy:');
    const width = Math.max(...dataset.classNames.map((n) => n.length));
    result.perClass.forEach((acc, c) => console.log(`  ${dataset.classNames[c]!.padEnd(width)}  ${Number.isNaN(acc) ? '   n/a' : `${acc.toFixed(2).padStart(6)} %`}`));
    model.dispose();
    if (!Number.isFinite(result.crossEntropy)) {
      throw new UsageError(`the saved model of "${args.experiment_name}" gives a non-finite test loss (${result.crossEntropy}): its weights diverged; retrain it with a lower --max_lr`);
    }
  },
};
