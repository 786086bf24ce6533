import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EpochRow } from './epoch-log.js';
import { CorruptFileError } from './errors.js';
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
  try {
    await saveModel(model, staged, {
      [OPTIMIZER_BIN]: bytes(optimizer),
      [SCORES_BIN]: bytes(scores),
      [STATE_JSON]: `${JSON.stringify(state)}\n`,
    });
    await replaceDir(staged, dir);
  } catch (error) {
    // The previous checkpoint is untouched; do not leave the half-written one beside it.
    await rm(staged, { recursive: true, force: true });
    throw error;
  }
}

const REMEDY = 'pass --overwrite to start the experiment over (its log and models are deleted), or delete that file and resume';

function parseState(text: string, file: string): CheckpointState {
  let state: Partial<CheckpointState | VersionOneState>;
  try {
    state = JSON.parse(text) as Partial<CheckpointState | VersionOneState>;
  } catch (error) {
    throw new CorruptFileError(file, `not valid JSON: ${(error as Error).message}`, REMEDY);
  }
  if (typeof state !== 'object' || state === null) throw new CorruptFileError(file, 'not a checkpoint state', REMEDY);
  if (state.version !== 1 && state.version !== CHECKPOINT_VERSION) {
    throw new CorruptFileError(file, `unknown version ${JSON.stringify(state.version)}, this infobatch reads versions 1 and ${CHECKPOINT_VERSION}`, REMEDY);
  }
  const numbers = ['epochsDone', 'elapsedSeconds', 'bestTestAcc', 'bestEpoch', 'samplesTrained', 'samplesFull'] as const;
  const bad = numbers.filter((key) => typeof state[key] !== 'number' || !Number.isFinite(state[key]));
  if (bad.length > 0) throw new CorruptFileError(file, `${bad.join(', ')} missing or not a finite number`, REMEDY);
  if (!Array.isArray(state.rows) || state.rows.length !== state.epochsDone) {
    throw new CorruptFileError(file, `needs one log row per finished epoch (${String(state.epochsDone)})`, REMEDY);
  }
  return upgrade(state as CheckpointState | VersionOneState);
}

/** Reads a float32 file; a length that is not a whole number of floats (or not `expected` of them) is corruption. */
async function readFloats(file: string, expected?: number): Promise<Float32Array> {
  const buffer = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new CorruptFileError(file, error.code === 'ENOENT' ? 'missing' : error.message, REMEDY);
  });
  if (buffer.byteLength % 4 !== 0 || (expected !== undefined && buffer.byteLength !== expected * 4)) {
    const want = expected === undefined ? 'a multiple of 4' : `${expected * 4}`;
    throw new CorruptFileError(file, `${buffer.byteLength} bytes, expected ${want}`, REMEDY);
  }
  return floats(buffer);
}

/**
 * The checkpoint in `dir` (or the previous one, if a crash came mid-swap); null if none exists. Every file is
 * checked (JSON, version, sizes: `numSamples` scores) and a bad one is a CorruptFileError naming it; nothing
 * is written.
 */
export async function loadCheckpoint(dir: string, numSamples?: number): Promise<Checkpoint | null> {
  const found = resolveReplacedDir(dir);
  if (!found) return null;
  const stateFile = join(found, STATE_JSON);
  const stateText = await readFile(stateFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new CorruptFileError(stateFile, error.code === 'ENOENT' ? 'missing' : error.message, REMEDY);
  });
  const state = parseState(stateText, stateFile);
  const scores = await readFloats(join(found, SCORES_BIN), numSamples);
  const optimizer = await readFloats(join(found, OPTIMIZER_BIN));
  const model = await loadModel(found, REMEDY);
  const parameters = model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
  if (optimizer.length !== 0 && optimizer.length !== parameters) {
    model.dispose();
    throw new CorruptFileError(join(found, OPTIMIZER_BIN), `${optimizer.length} momentum values for ${parameters} parameters`, REMEDY);
  }
  return { model, optimizer, scores, state };
}

type VersionOneRow = Record<'epoch' | 'lr' | 'train_loss' | 'train_acc' | 'test_loss' | 'test_acc' | 'samples' | 'pruned' | 'epoch_seconds' | 'elapsed_seconds', number>;
type VersionOneState = Omit<CheckpointState, 'version' | 'rows'> & { readonly version: 1; readonly rows: readonly VersionOneRow[] };

/** Reads a version-1 checkpoint's rows into EpochRow (its losses were label-smoothed; no plain one was kept). */
function upgrade(state: CheckpointState | VersionOneState): CheckpointState {
  // JSON has no NaN: a plain test cross-entropy that was never logged comes back as null.
  if (state.version === CHECKPOINT_VERSION) return { ...state, rows: state.rows.map((row) => ({ ...row, testCe: row.testCe ?? Number.NaN })) };
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
