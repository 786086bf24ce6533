import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rm } from 'node:fs/promises';
import { ConfigError, DEFAULT_CONFIG, type TrainConfig } from '../src/config.js';
import { runTraining, type TrainOptions } from '../src/train/trainer.js';
import { loadRun, readRunRecord, runPaths, type EpochRow } from '../src/runs/index.js';

/**
 * End-to-end training on the synthetic dataset with the tiny ResNet on the wasm backend: a few seconds
 * per run. Checks learning, the log and run files, resume equivalence and the protection of existing runs.
 */
const root = mkdtempSync(join(tmpdir(), 'infobatch-train-'));
const dirs = { logDir: join(root, 'logs'), modelDir: join(root, 'saved_models') };

function config(name: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    experimentName: name,
    dataset: 'synthetic',
    model: 'ResNetTiny',
    batchSize: 64,
    evalBatchSize: 160,
    epochs: 4,
    maxLr: 0.1,
    backend: 'wasm',
    useInfoBatch: true,
    ratio: 0.5,
    delta: 0.75,
    syntheticSizes: { trainSize: 480, testSize: 160, imageSize: 12, numClasses: 4 },
    ...overrides,
  };
}

const quiet: TrainOptions = { ...dirs, log: () => {}, interactive: false };

/** The run's log as the report reads it (src/runs/epoch-log.ts). */
function readLog(name: string): EpochRow[] {
  return loadRun(name, dirs).rows;
}

const recordOf = (name: string) => readRunRecord(runPaths(name, dirs).record)!;

/** The columns a rerun must reproduce exactly (everything but wall-clock time). */
function deterministicPart(rows: EpochRow[]): Omit<EpochRow, 'epochSeconds' | 'elapsedSeconds'>[] {
  return rows.map(({ epochSeconds: _e, elapsedSeconds: _t, ...rest }) => rest);
}

after(async () => rm(root, { recursive: true, force: true }));

describe('training runs (synthetic data, ResNetTiny, wasm)', () => {
  let infobatchRows: EpochRow[] = [];

  before(async () => {
    await runTraining(config('ib'), quiet);
    infobatchRows = readLog('ib');
  });

  it('learns with InfoBatch and writes one log row per epoch with the documented columns', async () => {
    const header = readFileSync(join(dirs.logDir, 'ib.csv'), 'utf8').split('\n')[0];
    assert.equal(header, 'epoch,lr,train_smoothed_ce,train_acc,test_smoothed_ce,test_ce,test_acc,samples,pruned,epoch_seconds,elapsed_seconds');
    assert.deepEqual(infobatchRows.map((r) => r.epoch), [1, 2, 3, 4]);
    assert.ok(infobatchRows.at(-1)!.testAcc > 60, `test accuracy ${infobatchRows.at(-1)!.testAcc} % (chance is 25 %)`);
    assert.ok(infobatchRows.at(-1)!.trainSmoothedCe < infobatchRows[0]!.trainSmoothedCe);
    // Label smoothing (0.1) puts a floor under the smoothed loss that plain cross-entropy does not have.
    for (const row of infobatchRows) assert.ok(row.testCe > 0 && row.testCe < row.testSmoothedCe, `test ce ${row.testCe} vs smoothed ${row.testSmoothedCe}`);
    for (const row of infobatchRows) assert.equal(row.samples + row.pruned, 480);
    // Epoch 1 is full (equal scores), epochs 2–3 prune, epoch 4 (≥ ⌊0.75·4⌋ = 3, 0-based) anneals.
    assert.equal(infobatchRows[0]!.pruned, 0);
    assert.ok(infobatchRows[1]!.pruned > 0 && infobatchRows[2]!.pruned > 0);
    assert.equal(infobatchRows[3]!.pruned, 0);
    const record = recordOf('ib');
    assert.equal(record.status, 'complete');
    assert.equal(record.annealStartEpoch, 4);
    assert.equal(record.samplesTrained, infobatchRows.reduce((s, r) => s + r.samples, 0));
    assert.equal(Number(record.bestTestAcc.toFixed(4)), Math.max(...infobatchRows.map((r) => r.testAcc)));
    assert.deepEqual(record.config, config('ib'), 'the configuration is saved whole, once, in run.json');
    for (const file of ['model.json', 'weights.bin', 'run.json', 'checkpoint/state.json']) {
      assert.ok(existsSync(join(dirs.modelDir, 'ib', file)), file);
    }
    assert.ok(!existsSync(join(dirs.modelDir, 'ib', 'config.json')), 'no second copy of the configuration');
  });

  it('learns as a full-data baseline, with no sample pruned', async () => {
    const summary = await runTraining(config('base', { useInfoBatch: false }), quiet);
    const rows = readLog('base');
    assert.ok(rows.every((r) => r.pruned === 0 && r.samples === 480));
    assert.ok(summary.bestTestAcc > 60);
    assert.equal(summary.savedPercent, 0);
  });

  it('resumes an interrupted run to exactly the log of the uninterrupted one, without duplicated or lost rows', async () => {
    await runTraining(config('resumed'), { ...quiet, stopAfterEpochs: 2 });
    assert.equal(readLog('resumed').length, 2);
    assert.equal(recordOf('resumed').status, 'running');
    // A crash after the log append but before the checkpoint leaves a row the checkpoint does not know.
    appendFileSync(join(dirs.logDir, 'resumed.csv'), '3,0.1,9,9,9,9,9,480,0,1,1\n');
    await runTraining(config('resumed'), { ...quiet, resume: true });
    const rows = readLog('resumed');
    assert.deepEqual(deterministicPart(rows), deterministicPart(infobatchRows));
    for (let i = 1; i < rows.length; i++) {
      assert.ok(Math.abs(rows[i]!.elapsedSeconds - rows[i - 1]!.elapsedSeconds - rows[i]!.epochSeconds) < 0.01, 'elapsed time carries over');
    }
  });

  it('makes the same run from the same seed and another from another seed', async () => {
    await runTraining(config('seed1', { seed: 1 }), quiet);
    assert.notDeepEqual(deterministicPart(readLog('seed1')), deterministicPart(infobatchRows));
  });

  it('refuses to touch an existing experiment without --resume or --overwrite, before any work', async () => {
    // Data that cannot load: the existing-run error must come first, before any data or model work.
    const unloadable = { dataset: 'fashion-mnist', dataDir: join(root, 'no-such-dir') };
    await assert.rejects(runTraining(config('ib', unloadable), quiet), (error: unknown) => error instanceof ConfigError && /already has files/.test(error.message));
    await assert.rejects(runTraining(config('ib', { ratio: 0.3 }), { ...quiet, resume: true }), /different settings \(ratio was 0.5, now 0.3\)/);
    // The dataset settings are part of the configuration: a changed label set is another run.
    await assert.rejects(
      runTraining(config('ib', { cifar100Labels: 'coarse' }), { ...quiet, resume: true }),
      /different settings \(cifar100Labels was "fine", now "coarse"\)/,
    );
    await assert.rejects(runTraining(config('never-ran'), { ...quiet, resume: true }), /nothing to resume/);
    await assert.rejects(runTraining(config('ib'), { ...quiet, resume: true, overwrite: true }), /contradict/);
    const before = readFileSync(join(dirs.logDir, 'ib.csv'), 'utf8');
    const summary = await runTraining(config('ib'), { ...quiet, resume: true });
    assert.equal(summary.status, 'complete', 'resuming a finished run is a no-op');
    assert.equal(readFileSync(join(dirs.logDir, 'ib.csv'), 'utf8'), before);
  });

  it('starts over with --overwrite', async () => {
    await runTraining(config('base', { useInfoBatch: false, epochs: 1 }), { ...quiet, overwrite: true });
    assert.equal(readLog('base').length, 1);
  });
});
