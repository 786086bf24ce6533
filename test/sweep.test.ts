import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, DEFAULT_CONFIG, type TrainConfig } from '../src/config.js';
import { sweepRequestFromArgs } from '../src/cli/sweep.js';
import { executeSweep, type Trainer } from '../src/sweep/execute.js';
import { configDifferences, describePlan, parseRatios, parseSeeds, planSweep, sweepConfigs, type SweepRequest } from '../src/sweep/plan.js';
import { runPaths } from '../src/runs/index.js';
import type { TrainOptions } from '../src/train/trainer.js';
import { writeFakeRun, tempRunDirs } from './report-fixtures.js';

const freshDirs = tempRunDirs('infobatch-sweep-');

const base: TrainConfig = {
  ...DEFAULT_CONFIG,
  dataset: 'fashion-mnist',
  model: 'ResNetTiny',
  batchSize: 128,
  epochs: 10,
  delta: 0.875,
  useInfoBatch: true,
  experimentName: 'unused',
};
const request = (overrides: Partial<SweepRequest> = {}): SweepRequest => ({ base, ratios: [0.3, 0.5], seeds: null, ...overrides });
const BASE = 'fashion-mnist_resnettiny_baseline_b128';
const R3 = 'fashion-mnist_resnettiny_infobatch_r_0_3_b128';
const R5 = 'fashion-mnist_resnettiny_infobatch_r_0_5_b128';

type TrainerCall = { name: string; resume: boolean; overwrite?: true };

/** Stands in for runTraining: records the call and writes a finished run's files as the trainer would. */
function fakeTrainer(calls: TrainerCall[]): Trainer {
  return async (config: TrainConfig, options: TrainOptions) => {
    calls.push({ name: config.experimentName, resume: options.resume ?? false, ...(options.overwrite ? { overwrite: true as const } : {}) });
    writeFakeRun(
      { logDir: options.logDir!, modelDir: options.modelDir! },
      { name: config.experimentName, ratio: config.useInfoBatch ? config.ratio : 0, epochs: config.epochs, seed: config.seed, config },
    );
  };
}

describe('flags', () => {
  test('ratios and seeds lists', () => {
    assert.deepEqual(parseRatios('0.3,0.5, 0.7'), [0.3, 0.5, 0.7]);
    assert.deepEqual(parseSeeds('0,1,2'), [0, 1, 2]);
    assert.throws(() => parseRatios('0.3,,0.5'), /--ratios must be a comma-separated list/);
    assert.throws(() => parseRatios('0.3,abc'), /--ratios: "abc" is not a number/);
    assert.throws(() => parseRatios('0.5,1'), /every pruning ratio must be in \(0, 1\), got 1/);
    assert.throws(() => parseRatios('0,0.5'), /got 0 \(the baseline is always run\)/);
    assert.throws(() => parseRatios('0.5,0.5'), /lists a value twice/);
    assert.throws(() => parseSeeds('0,1.5'), /seeds must be non-negative integers, got 1.5/);
    assert.throws(() => parseSeeds('-1'), ConfigError);
  });

  test('command-line arguments to a sweep request', () => {
    const args = {
      dataset: 'fashion-mnist', data_dir: 'd', cifar100_labels: 'fine', backend: 'cpu', precision: 'fp32' as const, eval_batch_size: 500, test_limit: 0,
      log_dir: 'logs', model_dir: 'saved_models', model: 'ResNetTiny', train_batch_size: 64, num_epoch: 3, ratios: '0.5,0.7',
      delta: 0.875, max_lr: 0.05, weight_decay: 5e-4, label_smoothing: 0.1, train_limit: 100, figure_dir: 'figures', width: 1200, height: 700, dry_run: false,
    };
    const parsed = sweepRequestFromArgs({ ...args, seeds: '1,2' });
    assert.deepEqual(parsed.ratios, [0.5, 0.7]);
    assert.deepEqual(parsed.seeds, [1, 2]);
    assert.equal(parsed.base.batchSize, 64);
    assert.equal(parsed.base.trainLimit, 100);
    assert.equal(sweepRequestFromArgs({ ...args, seed: 4 }).base.seed, 4);
    assert.throws(() => sweepRequestFromArgs({ ...args, seed: 1, seeds: '1,2' }), /pass --seed or --seeds, not both/);
    assert.throws(() => sweepRequestFromArgs({ ...args, delta: 0 }), /--delta must be in \(0, 1\]/);
    // Settings of the runs are validated before any run starts.
    assert.throws(() => sweepConfigs(sweepRequestFromArgs({ ...args, train_batch_size: 0 })), /--train_batch_size must be a positive integer/);
  });
});

describe('planning', () => {
  test('names as the reproduction: baseline then each ratio, per seed', () => {
    assert.deepEqual(sweepConfigs(request()).map(({ config }) => config.experimentName), [BASE, R3, R5]);
    const seeded = sweepConfigs(request({ ratios: [0.5], seeds: [0, 1] }));
    assert.deepEqual(seeded.map(({ config }) => config.experimentName), [`${BASE}_s0`, `${R5}_s0`, `${BASE}_s1`, `${R5}_s1`]);
    assert.deepEqual(seeded.map(({ config }) => config.seed), [0, 0, 1, 1]);
    const [baseline, pruned] = seeded.map(({ config }) => config);
    assert.equal(baseline!.useInfoBatch, false);
    assert.equal(pruned!.useInfoBatch, true);
    assert.equal(pruned!.ratio, 0.5);
    assert.equal(pruned!.delta, 0.875);
    // Everything else is shared.
    assert.deepEqual({ ...baseline, experimentName: '', useInfoBatch: true, ratio: 0.5 }, { ...pruned, experimentName: '' });
  });

  test('complete runs are skipped, interrupted ones resumed, new ones started', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE, config: { ...base, useInfoBatch: false, ratio: 0.5, experimentName: BASE } });
    writeFakeRun(dirs, { name: R3, ratio: 0.3, logged: 4, config: { ...base, ratio: 0.3, experimentName: R3 } });
    mkdirSync(path.join(dirs.modelDir, R3, 'checkpoint'));
    const plan = planSweep(request(), dirs);
    assert.deepEqual(plan.map((run) => [run.name, run.action]), [[BASE, 'skip'], [R3, 'resume'], [R5, 'start']]);
    // The saved baseline was trained by `infobatch train` without --use_info_batch (ratio left at 0.5):
    // pruning settings do not matter to a run that does not prune, and the saved ones are kept.
    assert.equal(plan[0]!.config.ratio, 0.5);
  });

  test('what would stop the sweep later stops it before it starts', () => {
    const different = freshDirs();
    writeFakeRun(different, { name: R5, ratio: 0.5, config: { ...base, ratio: 0.5, epochs: 20, experimentName: R5 } });
    assert.throws(() => planSweep(request(), different), new RegExp(`run "${R5}" in .* was trained with other settings: epochs 20 \\(sweep: 10\\)`));

    const noCheckpoint = freshDirs();
    writeFakeRun(noCheckpoint, { name: R3, ratio: 0.3, logged: 1, status: 'running', config: { ...base, ratio: 0.3, experimentName: R3 } });
    assert.throws(() => planSweep(request(), noCheckpoint), /stopped before its first checkpoint, so it cannot be resumed/);

    const stray = freshDirs();
    writeFakeRun(stray, { name: BASE, noRecord: true });
    assert.throws(() => planSweep(request(), stray), /has files but no run record/);

    assert.throws(() => planSweep(request({ ratios: [] }), freshDirs()), /--ratios needs at least one/);
  });

  test('configuration differences ignore where and how a run is executed', () => {
    const saved = { ...base, backend: 'wasm', dataDir: '/a', evalBatchSize: 100, experimentName: 'x' };
    assert.deepEqual(configDifferences(saved, base), []);
    assert.deepEqual(configDifferences(saved, { ...base, maxLr: 0.1 }), ['maxLr 0.05 (sweep: 0.1)']);
    const baseline = { ...base, useInfoBatch: false };
    assert.deepEqual(configDifferences({ ...baseline, ratio: 0.3, delta: 0.5 }, { ...baseline, ratio: 0 }), []);
    assert.deepEqual(configDifferences({ ...base, ratio: 0.3 }, base), ['ratio 0.3 (sweep: 0.5)']);
  });
});

describe('running a sweep', () => {
  test('trains what is missing, then writes the report and figures; a second sweep trains nothing', async () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE, config: { ...base, useInfoBatch: false, experimentName: BASE } });
    writeFakeRun(dirs, { name: R3, ratio: 0.3, logged: 4, config: { ...base, ratio: 0.3, experimentName: R3 } });
    mkdirSync(path.join(dirs.modelDir, R3, 'checkpoint'));
    const calls: TrainerCall[] = [];
    const lines: string[] = [];
    const { report } = await executeSweep(planSweep(request(), dirs), { ...dirs, trainer: fakeTrainer(calls), log: (line) => lines.push(line) });
    assert.ok(report !== null);
    assert.deepEqual(calls, [{ name: R3, resume: true }, { name: R5, resume: false }]);
    assert.equal(readFileSync(path.join(dirs.figureDir, 'report.md'), 'utf8'), report);
    assert.match(report, /\| Baseline \(full data\) \|.*\n\| InfoBatch r = 0\.3, δ = 0\.875 \|.*\n\| InfoBatch r = 0\.5, δ = 0\.875 \|/);
    for (const name of [R3, R5]) {
      for (const file of ['loss', 'accuracy', 'samples', 'loss_time', 'accuracy_time', 'samples_time']) {
        assert.ok(existsSync(path.join(dirs.figureDir, `${name}_${file}.png`)), `${name}_${file}.png`);
      }
    }
    assert.ok(!existsSync(path.join(dirs.figureDir, `${BASE}_loss.png`)));

    const again = planSweep(request(), dirs);
    assert.deepEqual(again.map((run) => run.action), ['skip', 'skip', 'skip']);
    await executeSweep(again, { ...dirs, trainer: fakeTrainer(calls), log: () => {} });
    assert.equal(calls.length, 2);
  });

  test('seeds: the report averages them', async () => {
    const dirs = freshDirs();
    const calls: TrainerCall[] = [];
    const { report } = await executeSweep(planSweep(request({ ratios: [0.5], seeds: [0, 1] }), dirs), {
      ...dirs, trainer: fakeTrainer(calls), log: () => {},
    });
    assert.ok(report !== null);
    assert.equal(calls.length, 4);
    assert.match(report, /\| Baseline \(full data\) \(2 seeds\) \|/);
    assert.ok(existsSync(path.join(dirs.figureDir, `${R5}_s1_accuracy_time.png`)));
  });

  test('a figure that cannot be written is a warning: the runs and the report stay', async () => {
    const dirs = freshDirs();
    const calls: TrainerCall[] = [];
    const lines: string[] = [];
    // A folder where a figure's file should go: writing it fails.
    mkdirSync(path.join(dirs.figureDir, `${R5}_loss.png`), { recursive: true });
    const { report } = await executeSweep(planSweep(request({ ratios: [0.5] }), dirs), { ...dirs, trainer: fakeTrainer(calls), log: (line) => lines.push(line) });
    assert.ok(report !== null);
    assert.equal(readFileSync(path.join(dirs.figureDir, 'report.md'), 'utf8'), report);
    assert.equal(lines.filter((line) => /^warning: figures not written \(.+\); the report is in .*report\.md, and `infobatch visualize` draws them later$/.test(line)).length, 1, lines.join('\n'));
  });

  test('a run stopped in its first epoch is trained again; one with a logged epoch but no checkpoint is not guessed at', async () => {
    const dirs = freshDirs();
    // What the trainer leaves when Ctrl-C or a time limit stops it in epoch 1: its record (no epoch counted), no log, no checkpoint.
    writeFakeRun(dirs, { name: BASE, logged: 1, config: { ...base, useInfoBatch: false, experimentName: BASE } });
    const paths = runPaths(BASE, dirs);
    const record = JSON.parse(readFileSync(paths.record, 'utf8')) as Record<string, unknown>;
    writeFileSync(paths.record, JSON.stringify({ ...record, status: 'interrupted', samplesTrained: 0, samplesFull: 0 }));
    rmSync(paths.log);
    const plan = planSweep(request({ ratios: [0.5] }), dirs);
    assert.deepEqual(plan.map((run) => [run.name, run.action]), [[BASE, 'restart'], [R5, 'start']]);
    assert.deepEqual(describePlan(plan), [`  ${BASE}: stopped before its first epoch finished, start again`, `  ${R5}: train`]);
    const calls: TrainerCall[] = [];
    const lines: string[] = [];
    await executeSweep(plan, { ...dirs, trainer: fakeTrainer(calls), log: (line) => lines.push(line) });
    assert.deepEqual(calls, [{ name: BASE, resume: false, overwrite: true }, { name: R5, resume: false }]);
    assert.ok(lines.includes(`sweep: training again ${BASE} (1 of 2)`), lines.join('\n'));

    // A log with an epoch in it (a record not yet updated, say) keeps the files and stops the sweep instead.
    const logged = freshDirs();
    writeFakeRun(logged, { name: BASE, logged: 1, config: { ...base, useInfoBatch: false, experimentName: BASE } });
    const loggedRecord = runPaths(BASE, logged).record;
    writeFileSync(loggedRecord, JSON.stringify({ ...(JSON.parse(readFileSync(loggedRecord, 'utf8')) as object), status: 'interrupted', samplesFull: 0 }));
    assert.throws(() => planSweep(request({ ratios: [0.5] }), logged), /stopped before its first checkpoint, so it cannot be resumed/);
  });

  test('a failing run stops the sweep; the finished ones are kept for the next try', async () => {
    const dirs = freshDirs();
    const calls: TrainerCall[] = [];
    const working = fakeTrainer(calls);
    const failing: Trainer = async (config, options) => {
      if (config.experimentName === R3) throw new Error('out of memory');
      return working(config, options);
    };
    await assert.rejects(executeSweep(planSweep(request(), dirs), { ...dirs, trainer: failing, log: () => {} }), /out of memory/);
    assert.deepEqual(planSweep(request(), dirs).map((run) => run.action), ['skip', 'start', 'start']);
    assert.ok(!existsSync(path.join(dirs.figureDir, 'report.md')));
  });
});
