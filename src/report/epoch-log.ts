/**
 * Reads the per-epoch CSV log a training run writes (logs/<experiment_name>.csv).
 *
 * The format is ours and fixed (header below, numbers only, no quoting), so a strict hand parser is
 * shorter and gives better errors than a general CSV library: every malformed line is reported with
 * its file and line number instead of turning into NaN further down.
 */
import { ConfigError } from '../config.js';
import { LOG_COLUMNS } from '../train/run-files.js';

// The columns are the trainer's (one definition, in src/train/run-files.ts).
export const EPOCH_LOG_COLUMNS = LOG_COLUMNS;

export type EpochLogColumn = (typeof EPOCH_LOG_COLUMNS)[number];

/** One epoch of a run, as logged. Accuracies in percent, times in seconds of training (evaluation excluded). */
export interface LoggedEpoch {
  epoch: number;
  lr: number;
  trainLoss: number;
  trainAcc: number;
  testLoss: number;
  testAcc: number;
  samples: number;
  pruned: number;
  epochSeconds: number;
  elapsedSeconds: number;
}

export interface ParsedEpochLog {
  /** One row per epoch, sorted by epoch. */
  rows: LoggedEpoch[];
  /** Things the reader repaired or noticed (a repeated epoch, a gap); the caller prints them. */
  warnings: string[];
}

/** A log that cannot be read; the message names the file and line; a ConfigError, so the CLI shows it as is. */
export class EpochLogError extends ConfigError {
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
  if (header !== EPOCH_LOG_COLUMNS.join(',')) {
    throw new EpochLogError(
      `${source}: not an infobatch epoch log (line 1 must be "${EPOCH_LOG_COLUMNS.join(',')}", got "${header.slice(0, 120)}")`,
    );
  }
  const byEpoch = new Map<number, LoggedEpoch>();
  const warnings: string[] = [];
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '') continue;
    const row = parseRow(line, `${source}:${index + 1}`);
    if (byEpoch.has(row.epoch)) {
      warnings.push(`${source}:${index + 1}: epoch ${row.epoch} is logged again (a resumed run); using this later row`);
    }
    byEpoch.set(row.epoch, row);
  }
  if (byEpoch.size === 0) throw new EpochLogError(`${source}: the log has no epochs yet`);
  const rows = [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
  rows.forEach((row, position) => {
    if (row.epoch !== position + 1) {
      warnings.push(`${source}: epochs are not contiguous (epoch ${row.epoch} follows ${position === 0 ? 'nothing' : rows[position - 1]!.epoch})`);
    }
  });
  return { rows, warnings: dedupeGapWarnings(warnings) };
}

function parseRow(line: string, where: string): LoggedEpoch {
  const cells = line.split(',');
  if (cells.length !== EPOCH_LOG_COLUMNS.length) {
    throw new EpochLogError(`${where}: expected ${EPOCH_LOG_COLUMNS.length} values, got ${cells.length}`);
  }
  const values = cells.map((cell, column) => {
    const value = cell.trim() === '' ? Number.NaN : Number(cell);
    if (!Number.isFinite(value)) {
      throw new EpochLogError(`${where}: ${EPOCH_LOG_COLUMNS[column]} is not a number ("${cell}")`);
    }
    return value;
  });
  const [epoch, lr, trainLoss, trainAcc, testLoss, testAcc, samples, pruned, epochSeconds, elapsedSeconds] = values as [
    number, number, number, number, number, number, number, number, number, number,
  ];
  for (const [name, value] of [['epoch', epoch], ['samples', samples], ['pruned', pruned]] as const) {
    if (!Number.isInteger(value) || value < 0) throw new EpochLogError(`${where}: ${name} must be a non-negative integer, got ${value}`);
  }
  if (epoch < 1) throw new EpochLogError(`${where}: epochs are numbered from 1, got ${epoch}`);
  if (epochSeconds < 0 || elapsedSeconds < 0) throw new EpochLogError(`${where}: times must not be negative`);
  return { epoch, lr, trainLoss, trainAcc, testLoss, testAcc, samples, pruned, epochSeconds, elapsedSeconds };
}

/** Only the first gap matters to the reader; one warning per log is enough. */
function dedupeGapWarnings(warnings: string[]): string[] {
  const firstGap = warnings.findIndex((warning) => warning.includes('not contiguous'));
  return warnings.filter((warning, index) => !warning.includes('not contiguous') || index === firstGap);
}
