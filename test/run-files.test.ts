/**
 * The run folder's files (src/runs): the epoch log written and read by the same module, the validated
 * record reader, and checkpoints from the version before the log rows changed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import '@tensorflow/tfjs-backend-cpu';
import { DEFAULT_CONFIG } from '../src/config.js';
import { buildModel } from '../src/models/registry.js';
import {
  appendEpochRow, loadCheckpoint, parseEpochLog, readRunRecord, runPaths, RunLookupError, saveCheckpoint, writeRunRecord, CHECKPOINT_VERSION,
  type CheckpointState, type EpochRow, type RunRecord,
} from '../src/runs/index.js';

const root = mkdtempSync(join(tmpdir(), 'infobatch-runs-'));
after(() => rmSync(root, { recursive: true, force: true }));
const dirs = { logDir: join(root, 'logs'), modelDir: join(root, 'saved_models') };

const row = (epoch: number, testCe: number): EpochRow => ({
  epoch, lr: 0.01, trainSmoothedCe: 1.5, trainAcc: 50, testSmoothedCe: 1.4, testCe, testAcc: 55, samples: 700, pruned: 300, epochSeconds: 7.25, elapsedSeconds: 7.25 * epoch,
});

describe('run folder', () => {
  it('lays out a run as logs/<name>.csv and saved_models/<name>/{run.json,checkpoint}', () => {
    assert.deepEqual(runPaths('r', dirs), {
      log: join(dirs.logDir, 'r.csv'),
      modelDir: join(dirs.modelDir, 'r'),
      record: join(dirs.modelDir, 'r', 'run.json'),
      checkpoint: join(dirs.modelDir, 'r', 'checkpoint'),
      lock: join(dirs.modelDir, 'r.lock'),
    });
  });

  it('appends epoch rows (header first) that its reader reads back; a missing plain cross-entropy is an empty cell', async () => {
    const { log } = runPaths('append', dirs);
    await appendEpochRow(log, row(1, Number.NaN));
    await appendEpochRow(log, row(2, 1.3));
    const text = readFileSync(log, 'utf8');
    assert.equal(text.split('\n')[1], '1,0.01,1.5,50,1.4,,55,700,300,7.25,7.25');
    const { rows, warnings } = parseEpochLog(text, log);
    assert.deepEqual(warnings, []);
    assert.deepEqual(rows, [row(1, Number.NaN), row(2, 1.3)]);
  });

  it('reads run records with validation, filling in the dataset settings older records lack', async () => {
    const { record: path } = runPaths('old', dirs);
    const { cifar100Labels: _l, syntheticSizes: _s, mirror: _m, ...oldConfig } = DEFAULT_CONFIG;
    const record = { config: oldConfig, status: 'complete', backend: 'cpu' } as unknown as RunRecord;
    await writeRunRecord(path, record);
    const read = readRunRecord(path)!;
    assert.equal(read.config.cifar100Labels, 'fine');
    assert.deepEqual(read.config.syntheticSizes, {});
    assert.equal(read.config.mirror, null);
    assert.equal(readRunRecord(join(root, 'none.json')), null);
    writeFileSync(path, '{"status": "done"}');
    assert.throws(() => readRunRecord(path), (error: unknown) => error instanceof RunLookupError && /not an infobatch run record/.test(String(error)));
  });

  it('loads a version-1 checkpoint (rows under the CSV column names) as the current version', async () => {
    const { checkpoint } = runPaths('v1', dirs);
    const model = buildModel('ResNetTiny', { inputShape: [8, 8, 1], numClasses: 2, seed: 0 });
    const state: CheckpointState = { version: CHECKPOINT_VERSION, epochsDone: 1, elapsedSeconds: 2, bestTestAcc: 55, bestEpoch: 1, samplesTrained: 10, samplesFull: 10, rows: [row(1, 1.3)] };
    // No momentum yet (an empty optimizer state is valid; a partial one would be corrupt).
    await saveCheckpoint(checkpoint, model, new Float32Array(0), new Float32Array(10), state);
    const v1Row = { epoch: 1, lr: 0.01, train_loss: 1.5, train_acc: 50, test_loss: 1.4, test_acc: 55, samples: 700, pruned: 300, epoch_seconds: 7.25, elapsed_seconds: 7.25 };
    writeFileSync(join(checkpoint, 'state.json'), JSON.stringify({ ...state, version: 1, rows: [v1Row] }));
    const loaded = (await loadCheckpoint(checkpoint))!;
    assert.equal(loaded.state.version, CHECKPOINT_VERSION);
    assert.deepEqual(loaded.state.rows, [row(1, Number.NaN)]);
    assert.equal(loaded.scores.length, 10);
    model.dispose();
    loaded.model.dispose();
  });
});
