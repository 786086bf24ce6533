/** Writes the report's sections as a Markdown table (for people), CSV or JSON (for programs). */
import type { ReportRow, ReportSection, Stat } from './table.js';

export const REPORT_FORMATS = ['md', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function formatReport(sections: readonly ReportSection[], format: ReportFormat): string {
  switch (format) {
    case 'md':
      return toMarkdown(sections);
    case 'csv':
      return toCsv(sections);
    case 'json':
      return `${JSON.stringify(sections.map(sectionToJson), null, 2)}\n`;
  }
}

/** "Baseline (full data)" or "InfoBatch r = 0.5, δ = 0.875", as known from the record or the name. */
export function methodName(row: ReportRow): string {
  const { method } = row;
  if (method.kind === 'baseline') return 'Baseline (full data)';
  const ratio = method.ratio === null ? '' : ` r = ${method.ratio}`;
  const delta = method.delta === null ? '' : `, δ = ${method.delta}`;
  return `InfoBatch${ratio}${delta}`;
}

/** The method, and how many runs the row averages. */
export function methodLabel(row: ReportRow): string {
  if (row.runs.length === 1) return methodName(row);
  // "seeds" only when the records show that many different seeds; otherwise they are repeats, or unknown.
  const distinctSeeds = new Set(row.seeds.filter((seed) => seed !== null)).size;
  return `${methodName(row)} (${row.runs.length} ${distinctSeeds === row.runs.length ? 'seeds' : 'runs'})`;
}

function stat(value: Stat, digits: number): string {
  return value.std === null ? value.mean.toFixed(digits) : `${value.mean.toFixed(digits)} ± ${value.std.toFixed(digits)}`;
}

function signed(value: number | null, digits: number, unit = ''): string {
  if (value === null) return '—';
  const text = Math.abs(value).toFixed(digits);
  // Rounded to zero reads as "0.00", not "-0.00".
  const sign = Number(text) === 0 ? '' : value < 0 ? '-' : '+';
  return `${sign}${text}${unit}`;
}

function toMarkdown(sections: readonly ReportSection[]): string {
  const lines: string[] = [];
  const notes: string[] = [];
  const excludedNotes: string[] = [];
  for (const section of sections) {
    lines.push(`### ${section.title}`, '');
    if (section.timingWarning) lines.push(`**${section.timingWarning}**`, '');
    lines.push('| Method | Best accuracy (%) | Δ vs baseline | Total training time (min) | Δ | Sample-steps saved (%) | s per 1,000 samples |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|');
    const names = section.rows.map(methodName);
    section.rows.forEach((row, index) => {
      // Two rows of one method (say, two baselines with different learning rates) are told apart by name.
      const ambiguous = names.filter((name) => name === names[index]).length > 1;
      let label = ambiguous ? `${methodLabel(row)} \`${row.group}\`` : methodLabel(row);
      if (row.incomplete.length > 0) {
        label += ' *';
        for (const run of row.incomplete) {
          notes.push(`\`${run.name}\`: ${run.epochsLogged} of ${run.epochsPlanned ?? '?'} epochs logged (not finished)`);
        }
      }
      if (row.excluded.length > 0) {
        label += ' †';
        for (const run of row.excluded) excludedNotes.push(`\`${run.name}\`: ${run.reason}`);
      }
      lines.push(
        `| ${label} | ${stat(row.bestAcc, 2)} | ${signed(row.deltaAccPoints, 2)} | ${stat(row.minutes, 2)} | ` +
          `${signed(row.deltaMinutesPercent, 1, ' %')} | ${stat(row.savedPercent, 1)} | ${stat(row.secondsPer1k, 2)} |`,
      );
    });
    lines.push('');
  }
  if (notes.length > 0) lines.push(...notes.map((note) => `\\* ${note}`), '');
  if (excludedNotes.length > 0) lines.push(...excludedNotes.map((note) => `† ${note}`), '');
  lines.push(
    'Best accuracy: best test accuracy over all epochs. Training time excludes evaluation. ' +
      'Δ: accuracy in points, time relative to the baseline. Sample-steps saved: 1 − Σ samples trained / Σ training-set size over the epochs ' +
      '(the saving that does not depend on the machine). s per 1,000 samples: training time per 1,000 samples trained; it should be the ' +
      'same for every run on one machine, and differs when the load changed.',
    '',
  );
  return lines.join('\n');
}

const CSV_COLUMNS = [
  'section', 'method', 'runs', 'n', 'best_acc_mean', 'best_acc_std', 'delta_acc_points', 'minutes_mean', 'minutes_std',
  'delta_minutes_percent', 'saved_percent_mean', 'saved_percent_std', 'seconds_per_1k_samples', 'complete', 'excluded', 'timings_comparable',
] as const;

function csvCell(value: string | number | boolean | null): string {
  if (value === null) return '';
  // Four decimals are finer than any timing or accuracy here and keep float noise out of the file.
  const text = typeof value === 'number' ? String(Number(value.toFixed(4))) : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function toCsv(sections: readonly ReportSection[]): string {
  const lines: string[] = [CSV_COLUMNS.join(',')];
  for (const section of sections) {
    for (const row of section.rows) {
      const cells = [
        section.title, methodLabel(row), row.runs.join(' '), row.runs.length,
        row.bestAcc.mean, row.bestAcc.std, row.deltaAccPoints, row.minutes.mean, row.minutes.std,
        row.deltaMinutesPercent, row.savedPercent.mean, row.savedPercent.std, row.secondsPer1k.mean, row.incomplete.length === 0,
        row.excluded.map((run) => run.name).join(' '), section.timingWarning === null,
      ];
      lines.push(cells.map(csvCell).join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}

function sectionToJson(section: ReportSection): unknown {
  return {
    section: section.title,
    baseline: section.baseline,
    rows: section.rows.map((row) => ({ label: methodLabel(row), ...row })),
  };
}
