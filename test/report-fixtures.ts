/**
 * Writes made-up runs (epoch log + run.json) in the trainer's formats, for the report, plot and sweep
 * tests. The numbers follow simple formulas so the tests can state the expected table exactly.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after } from 'node:test';
import path from 'node:path';
import { DEFAULT_CONFIG, prunes, type TrainConfig } from '../src/config.js';
import { formatEpochLog, runPaths, type EpochRow, type RunDirs, type RunRecord } from '../src/runs/index.js';

export interface FakeRun {
  name: string;
  epochs?: number;
  trainSize?: number;
  /** 0 = baseline. */
  ratio?: number;
  delta?: number;
  seed?: number;
  /** Test accuracy of the last epoch; earlier epochs are lower. */
  finalAcc?: number;
  /** Seconds per sample trained. */
  secondsPerSample?: number;
  /** Epochs actually logged (default all): fewer makes an unfinished run. */
  logged?: number;
  status?: RunRecord['status'];
  config?: Partial<TrainConfig>;
  /** Write no run.json (a log copied from elsewhere). */
  noRecord?: boolean;
}

export function fakeRows(run: FakeRun): EpochRow[] {
  const epochs = run.epochs ?? 10;
  const trainSize = run.trainSize ?? 1000;
  const ratio = run.ratio ?? 0;
  const delta = run.delta ?? 0.875;
  const prunedEpochs = ratio > 0 ? Math.floor(epochs * delta) : 0;
  const secondsPerSample = run.secondsPerSample ?? 0.01;
  const finalAcc = run.finalAcc ?? 90;
  const rows: EpochRow[] = [];
  let elapsed = 0;
  for (let epoch = 1; epoch <= (run.logged ?? epochs); epoch++) {
    // Epoch 1 is always full; pruned epochs skip ratio × 60 % (the "well-learned" share) of the data.
    const pruned = epoch > 1 && epoch <= prunedEpochs ? Math.round(trainSize * 0.6 * ratio) : 0;
    const samples = trainSize - pruned;
    const epochSeconds = samples * secondsPerSample;
    elapsed += epochSeconds;
    const progress = epoch / epochs;
    rows.push({
      epoch,
      lr: 0.05 * (1 - progress) + 1e-6,
      trainSmoothedCe: 2.3 * (1 - 0.8 * progress),
      trainAcc: 10 + 85 * progress,
      testSmoothedCe: 2.3 * (1 - 0.7 * progress),
      testCe: 2.2 * (1 - 0.7 * progress),
      testAcc: finalAcc - 40 * (1 - progress),
      samples,
      pruned,
      epochSeconds,
      elapsedSeconds: elapsed,
    });
  }
  return rows;
}

/** The log as the trainer writes it. */
export const logText = formatEpochLog;

export function fakeConfig(run: FakeRun): TrainConfig {
  const ratio = run.ratio ?? 0;
  return {
    ...DEFAULT_CONFIG,
    experimentName: run.name,
    dataset: 'fashion-mnist',
    model: 'ResNetTiny',
    batchSize: 128,
    epochs: run.epochs ?? 10,
    useInfoBatch: ratio > 0,
    ratio,
    delta: run.delta ?? 0.875,
    seed: run.seed ?? 0,
    ...run.config,
  };
}

/** Writes logs/<name>.csv and saved_models/<name>/run.json; returns the rows written. */
export function writeFakeRun(dirs: RunDirs, run: FakeRun): EpochRow[] {
  const rows = fakeRows(run);
  const paths = runPaths(run.name, dirs);
  mkdirSync(dirs.logDir, { recursive: true });
  writeFileSync(paths.log, logText(rows));
  if (run.noRecord) return rows;
  const config = fakeConfig(run);
  const trainSize = run.trainSize ?? 1000;
  const record: RunRecord = {
    config,
    status: run.status ?? ((run.logged ?? config.epochs) >= config.epochs ? 'complete' : 'running'),
    backend: 'cpu',
    trainSize,
    testSize: 200,
    bestTestAcc: Math.max(...rows.map((row) => row.testAcc)),
    bestEpoch: rows.length,
    elapsedSeconds: rows[rows.length - 1]!.elapsedSeconds,
    samplesTrained: rows.reduce((sum, row) => sum + row.samples, 0),
    samplesFull: rows.length * trainSize,
    annealStartEpoch: prunes(config) && Math.floor(config.epochs * config.delta) < config.epochs ? Math.floor(config.epochs * config.delta) + 1 : null,
    startedAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:10:00.000Z',
  };
  mkdirSync(paths.modelDir, { recursive: true });
  writeFileSync(paths.record, `${JSON.stringify(record, null, 2)}\n`);
  return rows;
}

/** A factory of fresh, empty run directories under one temporary root that is removed after the file's tests. */
export function tempRunDirs(prefix: string): () => RunDirs & { figureDir: string } {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  after(() => rmSync(root, { recursive: true, force: true }));
  let counter = 0;
  return () => {
    const dir = path.join(root, String(counter++));
    return { logDir: path.join(dir, 'logs'), modelDir: path.join(dir, 'saved_models'), figureDir: path.join(dir, 'figures') };
  };
}
