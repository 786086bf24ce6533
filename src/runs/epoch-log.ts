/**
 * The per-epoch log of a run (logs/<experiment_name>.csv): written by the trainer and read by report,
 * plots and tests, all through this module, with one row type.
 *
 * The format is ours and fixed (a header, then numbers only, no quoting), so it is written with a join and
 * read by a strict parser that names the file and line of anything malformed instead of letting it turn
 * into NaN further down. A CSV library (the project used csv-writer) adds nothing for numbers-only rows
 * and put the writer and the reader in two places with two row types.
 */
import { appendFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { RunLookupError, storageErrorOf } from './errors.js';
import { writeFileAtomic } from './files.js';

/** One finished epoch. Accuracies in percent; seconds are training time (evaluation excluded). */
export interface EpochRow {
  /** 1-based. */
  epoch: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Mean label-smoothed cross-entropy of the trained samples (the training criterion, unweighted). */
  trainSmoothedCe: number;
  trainAcc: number;
  /** Mean label-smoothed cross-entropy on the test set (comparable with trainSmoothedCe). */
  testSmoothedCe: number;
  /**
   * Mean plain cross-entropy on the test set (the official example's "test loss"); NaN (an empty cell) for
   * epochs of runs from before it was logged.
   */
  testCe: number;
  testAcc: number;
  /** Samples trained this epoch and samples InfoBatch skipped. */
  samples: number;
  pruned: number;
  epochSeconds: number;
  /** Training time of the run up to the end of this epoch. */
  elapsedSeconds: number;
}

interface Column {
  readonly name: string;
  readonly field: keyof EpochRow;
  /** How many digits the file keeps: enough to be exact where it matters, few enough to stay readable. */
  readonly format: (value: number) => number;
  readonly integer?: true;
  /** May be empty (NaN): a value older runs did not log. */
  readonly optional?: true;
}

const exact = (value: number): number => value;
const fixed = (digits: number) => (value: number): number => Number(value.toFixed(digits));

/** The columns, in file order. */
const COLUMNS: readonly Column[] = [
  { name: 'epoch', field: 'epoch', format: exact, integer: true },
  { name: 'lr', field: 'lr', format: (value) => Number(value.toPrecision(6)) },
  { name: 'train_smoothed_ce', field: 'trainSmoothedCe', format: fixed(6) },
  { name: 'train_acc', field: 'trainAcc', format: fixed(4) },
  { name: 'test_smoothed_ce', field: 'testSmoothedCe', format: fixed(6) },
  { name: 'test_ce', field: 'testCe', format: fixed(6), optional: true },
  { name: 'test_acc', field: 'testAcc', format: fixed(4) },
  { name: 'samples', field: 'samples', format: exact, integer: true },
  { name: 'pruned', field: 'pruned', format: exact, integer: true },
  { name: 'epoch_seconds', field: 'epochSeconds', format: fixed(3) },
  { name: 'elapsed_seconds', field: 'elapsedSeconds', format: fixed(3) },
];

export const EPOCH_LOG_COLUMNS: readonly string[] = COLUMNS.map((column) => column.name);
const HEADER = EPOCH_LOG_COLUMNS.join(',');

/**
 * The header of logs written before the test loss was split into plain and label-smoothed cross-entropy:
 * their train_loss and test_loss were label-smoothed, and there was no plain one (read as NaN).
 */
const LEGACY_HEADER = 'epoch,lr,train_loss,train_acc,test_loss,test_acc,samples,pruned,epoch_seconds,elapsed_seconds';
const LEGACY_NAMES: Readonly<Record<string, string>> = { train_loss: 'train_smoothed_ce', test_loss: 'test_smoothed_ce' };

function formatLine(row: EpochRow): string {
  return COLUMNS.map((column) => {
    const value = row[column.field];
    return column.optional && !Number.isFinite(value) ? '' : String(column.format(value));
  }).join(',');
}

/** Appends one epoch's row, writing the header first when the file is new. */
export async function appendEpochRow(path: string, row: EpochRow): Promise<void> {
  if (!existsSync(path)) {
    await writeEpochLog(path, [row]);
    return;
  }
  // A full disk (ENOSPC) or read-only folder is a StorageError: one line, exit 2, the checkpoint is intact.
  await appendFile(path, `${formatLine(row)}\n`).catch((error: unknown) => {
    throw storageErrorOf(error, path);
  });
}

/**
 * Writes the log as exactly `rows` (on resume: the checkpoint is the source of truth, so a row appended
 * for an epoch whose checkpoint was never written is dropped and that epoch is trained again).
 */
export async function writeEpochLog(path: string, rows: readonly EpochRow[]): Promise<void> {
  await writeFileAtomic(path, formatEpochLog(rows));
}

/** The whole text of a log of `rows`: header and one line per row. */
export function formatEpochLog(rows: readonly EpochRow[]): string {
  return [HEADER, ...rows.map(formatLine)].map((line) => `${line}\n`).join('');
}

export interface ParsedEpochLog {
  /** One row per epoch, sorted by epoch. */
  rows: EpochRow[];
  /** Things the reader repaired or noticed (a repeated epoch, a gap); the caller prints them. */
  warnings: string[];
}

/** A log that cannot be read; the message names the file and line; a RunLookupError, so the CLI shows it as is. */
export class EpochLogError extends RunLookupError {
}

/**
 * Parses a log's text. `source` names it in messages (usually the file path).
 *
 * A resumed run could repeat an epoch if it crashed between appending the row and saving the
 * checkpoint (the trainer prevents this, but logs from elsewhere may have it): the last row of an
 * epoch wins, as it is the one the saved model continued from, and a warning says so.
 */
export function parseEpochLog(text: string, source: string): ParsedEpochLog {
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.trim() ?? '';
  if (header !== HEADER && header !== LEGACY_HEADER) {
    throw new EpochLogError(`${source}: not an infobatch epoch log (line 1 must be "${HEADER}", got "${header.slice(0, 120)}")`);
  }
  const names = header.split(',').map((name) => LEGACY_NAMES[name] ?? name);
  const columns = names.map((name) => COLUMNS.find((column) => column.name === name)!);
  const byEpoch = new Map<number, EpochRow>();
  const warnings: string[] = [];
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '') continue;
    const row = parseRow(line, columns, `${source}:${index + 1}`);
    if (byEpoch.has(row.epoch)) {
      warnings.push(`${source}:${index + 1}: epoch ${row.epoch} is logged again (a resumed run); using this later row`);
    }
    byEpoch.set(row.epoch, row);
  }
  if (byEpoch.size === 0) throw new EpochLogError(`${source}: the log has no epochs yet`);
  const rows = [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
  const gap = rows.findIndex((row, position) => row.epoch !== position + 1);
  if (gap >= 0) {
    // Only the first gap matters to the reader; one warning per log is enough.
    warnings.push(`${source}: epochs are not contiguous (epoch ${rows[gap]!.epoch} follows ${gap === 0 ? 'nothing' : rows[gap - 1]!.epoch})`);
  }
  return { rows, warnings };
}

function parseRow(line: string, columns: readonly Column[], where: string): EpochRow {
  const cells = line.split(',');
  if (cells.length !== columns.length) throw new EpochLogError(`${where}: expected ${columns.length} values, got ${cells.length}`);
  const row: EpochRow = {
    epoch: 0, lr: 0, trainSmoothedCe: 0, trainAcc: 0, testSmoothedCe: 0, testCe: Number.NaN, testAcc: 0,
    samples: 0, pruned: 0, epochSeconds: 0, elapsedSeconds: 0,
  };
  cells.forEach((cell, index) => {
    const column = columns[index]!;
    const value = cell.trim() === '' ? Number.NaN : Number(cell);
    if (column.optional && cell.trim() === '') return;
    if (!Number.isFinite(value)) throw new EpochLogError(`${where}: ${column.name} is not a number ("${cell}")`);
    if (column.integer && (!Number.isInteger(value) || value < 0)) {
      throw new EpochLogError(`${where}: ${column.name} must be a non-negative integer, got ${value}`);
    }
    row[column.field] = value;
  });
  if (row.epoch < 1) throw new EpochLogError(`${where}: epochs are numbered from 1, got ${row.epoch}`);
  if (row.epochSeconds < 0 || row.elapsedSeconds < 0) throw new EpochLogError(`${where}: times must not be negative`);
  return row;
}
