import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EpochRow } from './epoch-log.js';
import { replaceDir, resolveReplacedDir } from './files.js';
import { loadModel, saveModel } from './model-files.js';

/**
 * The state after a finished epoch, enough to continue the run as if it had never stopped: model (with
 * BatchNorm statistics), optimizer momentum, InfoBatch scores, the log rows so far and the running totals.
 * No generator state is needed: every random choice is drawn from a generator seeded by (seed, epoch).
 * Written to a staging directory and swapped in whole, so a crash leaves the previous checkpoint.
 */
export interface CheckpointState {
  readonly version: typeof CHECKPOINT_VERSION;
  /** Epochs finished (the next epoch to train, 0-based). */
  readonly epochsDone: number;
  readonly elapsedSeconds: number;
  readonly bestTestAcc: number;
  readonly bestEpoch: number;
  readonly samplesTrained: number;
  readonly samplesFull: number;
  readonly rows: readonly EpochRow[];
}

export interface Checkpoint {
  readonly model: tfl.LayersModel;
  readonly optimizer: Float32Array;
  readonly scores: Float32Array;
  readonly state: CheckpointState;
}

/** 2: log rows in EpochRow's fields (version 1 kept the CSV's column names, without the plain test cross-entropy). */
export const CHECKPOINT_VERSION = 2;

const OPTIMIZER_BIN = 'optimizer.bin';
const SCORES_BIN = 'scores.bin';
const STATE_JSON = 'state.json';

function bytes(array: Float32Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

function floats(buffer: Buffer): Float32Array {
  // Copy: a Buffer's offset into Node's pool need not be 4-byte aligned.
  const copy = new Uint8Array(buffer);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

export async function saveCheckpoint(dir: string, model: tfl.LayersModel, optimizer: Float32Array, scores: Float32Array, state: CheckpointState): Promise<void> {
  const staged = `${dir}.staging-${process.pid}`;
  await rm(staged, { recursive: true, force: true });
  await saveModel(model, staged, {
    [OPTIMIZER_BIN]: bytes(optimizer),
    [SCORES_BIN]: bytes(scores),
    [STATE_JSON]: `${JSON.stringify(state)}\n`,
  });
  await replaceDir(staged, dir);
}

/** The checkpoint in `dir` (or the previous one, if a crash came mid-swap); null if none exists. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint | null> {
  const found = resolveReplacedDir(dir);
  if (!found) return null;
  const state = upgrade(JSON.parse(await readFile(join(found, STATE_JSON), 'utf8')) as CheckpointState | VersionOneState, found);
  const [model, optimizer, scores] = await Promise.all([loadModel(found), readFile(join(found, OPTIMIZER_BIN)), readFile(join(found, SCORES_BIN))]);
  return { model, optimizer: floats(optimizer), scores: floats(scores), state };
}

type VersionOneRow = Record<'epoch' | 'lr' | 'train_loss' | 'train_acc' | 'test_loss' | 'test_acc' | 'samples' | 'pruned' | 'epoch_seconds' | 'elapsed_seconds', number>;
type VersionOneState = Omit<CheckpointState, 'version' | 'rows'> & { readonly version: 1; readonly rows: readonly VersionOneRow[] };

/** Reads a version-1 checkpoint's rows into EpochRow (its losses were label-smoothed; no plain one was kept). */
function upgrade(state: CheckpointState | VersionOneState, dir: string): CheckpointState {
  // JSON has no NaN: a plain test cross-entropy that was never logged comes back as null.
  if (state.version === CHECKPOINT_VERSION) return { ...state, rows: state.rows.map((row) => ({ ...row, testCe: row.testCe ?? Number.NaN })) };
  if (state.version !== 1) throw new Error(`checkpoint ${dir} has unknown version ${String((state as { version: unknown }).version)}`);
  const rows = state.rows.map((row): EpochRow => ({
    epoch: row.epoch,
    lr: row.lr,
    trainSmoothedCe: row.train_loss,
    trainAcc: row.train_acc,
    testSmoothedCe: row.test_loss,
    testCe: Number.NaN,
    testAcc: row.test_acc,
    samples: row.samples,
    pruned: row.pruned,
    epochSeconds: row.epoch_seconds,
    elapsedSeconds: row.elapsed_seconds,
  }));
  return { ...state, version: CHECKPOINT_VERSION, rows };
}

export function checkpointExists(dir: string): boolean {
  return resolveReplacedDir(dir) !== null;
}
