import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rm } from 'node:fs/promises';
import { ConfigError, DEFAULT_CONFIG, type TrainConfig } from '../src/config.js';
import { runTraining, type TrainOptions } from '../src/train/trainer.js';
import { readRunRecord } from '../src/train/run-files.js';

/**
 * End-to-end training on the synthetic dataset with the tiny ResNet on the wasm backend: a few seconds
 * per run. Checks learning, the log and run files, resume equivalence and the protection of existing runs.
 */
const root = mkdtempSync(join(tmpdir(), 'infobatch-train-'));
const dirs = { logDir: join(root, 'logs'), modelDir: join(root, 'saved_models') };
const datasetExtra = { trainSize: 480, testSize: 160, imageSize: 12, numClasses: 4 };

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
    ...overrides,
  };
}

const quiet: TrainOptions = { ...dirs, datasetExtra, log: () => {}, interactive: false };

function readLog(name: string): Record<string, number>[] {
  const [header, ...lines] = readFileSync(join(dirs.logDir, `${name}.csv`), 'utf8').trim().split('\n');
  const columns = header!.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [columns[i]!, Number(v)])));
}

/** The columns a rerun must reproduce exactly (everything but wall-clock time). */
function deterministicPart(rows: Record<string, number>[]): Record<string, number>[] {
  return rows.map(({ epoch_seconds: _e, elapsed_seconds: _t, ...rest }) => rest);
}

after(async () => rm(root, { recursive: true, force: true }));

describe('training runs (synthetic data, ResNetTiny, wasm)', () => {
  let infobatchRows: Record<string, number>[] = [];

  before(async () => {
    await runTraining(config('ib'), quiet);
    infobatchRows = readLog('ib');
  });

  it('learns with InfoBatch and writes one log row per epoch with the documented columns', async () => {
    const header = readFileSync(join(dirs.logDir, 'ib.csv'), 'utf8').split('\n')[0];
    assert.equal(header, 'epoch,lr,train_loss,train_acc,test_loss,test_acc,samples,pruned,epoch_seconds,elapsed_seconds');
    assert.deepEqual(infobatchRows.map((r) => r.epoch), [1, 2, 3, 4]);
    assert.ok(infobatchRows.at(-1)!.test_acc > 60, `test accuracy ${infobatchRows.at(-1)!.test_acc} % (chance is 25 %)`);
    assert.ok(infobatchRows.at(-1)!.train_loss < infobatchRows[0]!.train_loss);
    for (const row of infobatchRows) assert.equal(row.samples + row.pruned, 480);
    // Epoch 1 is full (equal scores), epochs 2–3 prune, epoch 4 (≥ ⌊0.75·4⌋ = 3, 0-based) anneals.
    assert.equal(infobatchRows[0]!.pruned, 0);
    assert.ok(infobatchRows[1]!.pruned > 0 && infobatchRows[2]!.pruned > 0);
    assert.equal(infobatchRows[3]!.pruned, 0);
    const record = await readRunRecord(join(dirs.modelDir, 'ib', 'run.json'));
    assert.equal(record.status, 'complete');
    assert.equal(record.annealStartEpoch, 4);
    assert.equal(record.samplesTrained, infobatchRows.reduce((s, r) => s + r.samples, 0));
    assert.equal(record.bestTestAcc, Math.max(...infobatchRows.map((r) => r.test_acc)));
    for (const file of ['model.json', 'weights.bin', 'config.json', 'checkpoint/state.json']) {
      assert.ok(existsSync(join(dirs.modelDir, 'ib', file)), file);
    }
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
    assert.equal((await readRunRecord(join(dirs.modelDir, 'resumed', 'run.json'))).status, 'running');
    // A crash after the log append but before the checkpoint leaves a row the checkpoint does not know.
    appendFileSync(join(dirs.logDir, 'resumed.csv'), '3,0.1,9,9,9,9,480,0,1,1\n');
    await runTraining(config('resumed'), { ...quiet, resume: true });
    const rows = readLog('resumed');
    assert.deepEqual(deterministicPart(rows), deterministicPart(infobatchRows));
    for (let i = 1; i < rows.length; i++) {
      assert.ok(Math.abs(rows[i]!.elapsed_seconds - rows[i - 1]!.elapsed_seconds - rows[i]!.epoch_seconds) < 0.01, 'elapsed time carries over');
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
