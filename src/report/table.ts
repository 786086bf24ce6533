/**
 * The arithmetic of the reproduction's table: per run best test accuracy, total training time and
 * share of sample-steps saved; runs that differ only in seed are averaged (mean ± sample std); each
 * InfoBatch row is compared with the baseline trained the same way.
 */
import { RunLookupError, type LoadedRun } from '../runs/index.js';
import { annealStartOf, baselineNameFor, methodOf, type RunMethod } from './compare.js';

export interface RunSummary {
  name: string;
  method: RunMethod;
  /** Best test accuracy over the logged epochs, percent. */
  bestAcc: number;
  /** Cumulative training time at the last logged epoch (evaluation excluded), minutes. */
  minutes: number;
  /** Σ samples trained over the logged epochs. */
  samplesTrained: number;
  /** Σ (samples + pruned): what full-data training of the same epochs would have used. */
  samplesFull: number;
  /** 100 · (1 − samplesTrained / samplesFull). */
  savedPercent: number;
  epochsLogged: number;
  /** From the run record; null without one. */
  epochsPlanned: number | null;
  /** false when the record says "running" or fewer epochs are logged than planned; null when unknown. */
  complete: boolean | null;
  annealStartEpoch: number | null;
  /** Training seconds per 1,000 samples trained: a rate that pruning does not change, only the machine. */
  secondsPer1k: number;
  /** The same for each of the run's full-data epochs (none pruned), in order; they train the same samples,
   *  so on an unchanged machine they take the same time. */
  fullDataEpochSecondsPer1k: number[];
}

export function summarizeRun(run: LoadedRun): RunSummary {
  const last = run.rows[run.rows.length - 1]!;
  let samplesTrained = 0;
  let samplesFull = 0;
  let bestAcc = -Infinity;
  const fullDataRates: number[] = [];
  for (const row of run.rows) {
    samplesTrained += row.samples;
    samplesFull += row.samples + row.pruned;
    bestAcc = Math.max(bestAcc, row.testAcc);
    if (row.pruned === 0 && row.samples > 0 && row.epochSeconds > 0) fullDataRates.push((1000 * row.epochSeconds) / row.samples);
  }
  const epochsPlanned = run.record?.config.epochs ?? null;
  const complete = run.record ? run.record.status === 'complete' && run.rows.length >= run.record.config.epochs : null;
  return {
    name: run.name,
    method: methodOf(run),
    bestAcc,
    minutes: last.elapsedSeconds / 60,
    samplesTrained,
    samplesFull,
    savedPercent: samplesFull > 0 ? 100 * (1 - samplesTrained / samplesFull) : 0,
    epochsLogged: run.rows.length,
    epochsPlanned,
    complete,
    annealStartEpoch: annealStartOf(run),
    secondsPer1k: samplesTrained > 0 ? (1000 * last.elapsedSeconds) / samplesTrained : 0,
    fullDataEpochSecondsPer1k: fullDataRates,
  };
}

export interface Stat {
  mean: number;
  /** Sample standard deviation (n − 1); null for a single value. */
  std: number | null;
  n: number;
}

export function meanStd(values: readonly number[]): Stat {
  if (values.length === 0) throw new RangeError('meanStd of no values');
  const n = values.length;
  const mean = values.reduce((sum, value) => sum + value, 0) / n;
  if (n < 2) return { mean, std: null, n };
  const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (n - 1);
  return { mean, std: Math.sqrt(variance), n };
}

export interface ReportRow {
  /** The runs' common name without the seed suffix (_s<seed>). */
  group: string;
  runs: string[];
  /** Seed of each run, from the run records; null where a run has none. */
  seeds: (number | null)[];
  method: RunMethod;
  bestAcc: Stat;
  minutes: Stat;
  secondsPer1k: Stat;
  savedPercent: Stat;
  /** Training seconds per 1,000 samples of every full-data epoch of the averaged runs. */
  fullDataEpochSecondsPer1k: number[];
  /** Mean best accuracy minus the baseline's, percentage points; null for the baseline or without one. */
  deltaAccPoints: number | null;
  /** Mean training time relative to the baseline's, percent (negative = faster); null likewise. */
  deltaMinutesPercent: number | null;
  /** Averaged runs that are not finished (only when the group has no finished run), with "logged/planned" epochs. */
  incomplete: { name: string; epochsLogged: number; epochsPlanned: number | null }[];
  /** Runs of the group left out of the mean: unfinished ones beside finished ones, repeats of a seed. */
  excluded: { name: string; reason: string }[];
}

export interface ReportSection {
  /** What the runs of the section share, e.g. "cifar10 · ResNet18 · batch 256 · 100 epochs". */
  title: string;
  /** Group name of the baseline the deltas refer to; null when the section has none. */
  baseline: string | null;
  rows: ReportRow[];
  /**
   * Set when the full-data epochs of the section's runs ran at speeds more than TIMING_SPREAD apart: the
   * machine's load changed between or during runs, so their times are not comparable.
   */
  timingWarning: string | null;
}

/** Full-data epochs of comparable runs whose speeds differ by more than this share make the times suspect. */
export const TIMING_SPREAD = 0.25;

const SEED_SUFFIX = /_s\d+$/;

/** Settings that do not change what a run computes, besides the seed: runs differing only in these are repeats. */
const NOT_CONFIGURATION = new Set(['experimentName', 'seed', 'backend', 'dataDir', 'evalBatchSize']);

/**
 * Runs of one configuration that differ only in seed are averaged. With a run record that means the
 * same settings (the seed is recorded there); without one, the same name up to the _s<seed> suffix.
 */
function configurationKey(run: LoadedRun): string {
  const config = run.record?.config;
  if (!config) return `name ${run.name.replace(SEED_SUFFIX, '')}`;
  const settings = Object.entries(config)
    .filter(([key]) => !NOT_CONFIGURATION.has(key))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return `config ${JSON.stringify(settings)}`;
}

/** Groups runs into sections of comparable runs, baseline first, InfoBatch by ratio. */
export function buildReport(runs: readonly LoadedRun[]): ReportSection[] {
  const groups = new Map<string, LoadedRun[]>();
  for (const run of runs) {
    const key = configurationKey(run);
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const sections = new Map<string, { title: string; rows: ReportRow[] }>();
  for (const members of groups.values()) {
    const group = members[0]!.name.replace(SEED_SUFFIX, '');
    const row = summarizeGroup(group, members);
    const { key, title } = sectionOf(group, members[0]!, row.method);
    const section = sections.get(key) ?? { title, rows: [] };
    section.rows.push(row);
    sections.set(key, section);
  }
  return [...sections.values()].map(({ title, rows }) => {
    rows.sort(compareRows);
    const baseline = rows[0]!.method.kind === 'baseline' ? rows[0]! : null;
    for (const row of rows) {
      if (!baseline || row === baseline) continue;
      row.deltaAccPoints = row.bestAcc.mean - baseline.bestAcc.mean;
      row.deltaMinutesPercent = baseline.minutes.mean > 0 ? (100 * (row.minutes.mean - baseline.minutes.mean)) / baseline.minutes.mean : null;
    }
    return { title, baseline: baseline?.group ?? null, rows, timingWarning: timingWarningOf(rows) };
  });
}

function timingWarningOf(rows: readonly ReportRow[]): string | null {
  // Epoch by epoch, not per run: load that came and went during one run shows too (its total time moved
  // with it), as does a large one-time cost in a run's first epochs.
  const rates = rows.flatMap((row) => row.fullDataEpochSecondsPer1k);
  if (rates.length < 2) return null;
  const fastest = Math.min(...rates);
  const slowest = Math.max(...rates);
  if (slowest <= fastest * (1 + TIMING_SPREAD)) return null;
  return (
    `timings not comparable: the machine's load changed (the same full-data epochs took ${fastest.toFixed(2)} to ` +
    `${slowest.toFixed(2)} s per 1,000 samples in these runs); compare the sample-steps saved, or rerun on an idle machine`
  );
}

/**
 * Which runs of a group the mean is over: finished ones, one per seed (the first by name; a second run of a
 * seed is a repeat, not a new sample). Unfinished runs are listed apart, unless none is finished: then the
 * most advanced unfinished one stands for the group, marked as such.
 */
function chooseAveraged(summaries: RunSummary[], seeds: (number | null)[]): { averaged: number[]; excluded: ReportRow['excluded'] } {
  const order = summaries.map((_, index) => index).sort((a, b) => (summaries[a]!.name < summaries[b]!.name ? -1 : 1));
  const finished = order.filter((index) => summaries[index]!.complete !== false);
  const excluded: ReportRow['excluded'] = [];
  const averaged: number[] = [];
  if (finished.length === 0) {
    const furthest = [...order].sort((a, b) => summaries[b]!.epochsLogged - summaries[a]!.epochsLogged)[0]!;
    averaged.push(furthest);
  } else {
    const seedOwner = new Map<number, string>();
    for (const index of finished) {
      const seed = seeds[index];
      if (seed !== null && seed !== undefined && seedOwner.has(seed)) {
        excluded.push({ name: summaries[index]!.name, reason: `repeats seed ${seed} of \`${seedOwner.get(seed)}\`; not averaged` });
        continue;
      }
      if (seed !== null && seed !== undefined) seedOwner.set(seed, summaries[index]!.name);
      averaged.push(index);
    }
  }
  for (const index of order) {
    if (averaged.includes(index) || excluded.some((entry) => entry.name === summaries[index]!.name)) continue;
    const summary = summaries[index]!;
    excluded.push({ name: summary.name, reason: `${summary.epochsLogged} of ${summary.epochsPlanned ?? '?'} epochs logged (not finished); not averaged` });
  }
  return { averaged, excluded };
}

function summarizeGroup(group: string, members: LoadedRun[]): ReportRow {
  const all = members.map(summarizeRun);
  const allSeeds = members.map((run) => run.record?.config.seed ?? null);
  const { averaged, excluded } = chooseAveraged(all, allSeeds);
  const summaries = averaged.map((index) => all[index]!);
  const methods = new Set(all.map((summary) => `${summary.method.kind} ${summary.method.ratio} ${summary.method.delta}`));
  if (methods.size > 1) {
    // Seeds of one configuration must share the method; otherwise the mean would mix two experiments.
    throw new RunLookupError(`runs ${members.map((run) => run.name).join(', ')} share the name "${group}" but not the method`);
  }
  return {
    group,
    runs: summaries.map((summary) => summary.name),
    seeds: averaged.map((index) => allSeeds[index]!),
    method: summaries[0]!.method,
    bestAcc: meanStd(summaries.map((summary) => summary.bestAcc)),
    minutes: meanStd(summaries.map((summary) => summary.minutes)),
    secondsPer1k: meanStd(summaries.map((summary) => summary.secondsPer1k)),
    fullDataEpochSecondsPer1k: summaries.flatMap((summary) => summary.fullDataEpochSecondsPer1k),
    savedPercent: meanStd(summaries.map((summary) => summary.savedPercent)),
    deltaAccPoints: null,
    deltaMinutesPercent: null,
    incomplete: summaries
      .filter((summary) => summary.complete === false)
      .map(({ name, epochsLogged, epochsPlanned }) => ({ name, epochsLogged, epochsPlanned })),
    excluded,
  };
}

/**
 * Runs with a record are grouped by what makes them comparable (dataset, model, batch, epochs,
 * data limits); runs without one by the reproduction's naming (an InfoBatch run joins the section of
 * the baseline its name points to).
 */
function sectionOf(group: string, run: LoadedRun, method: RunMethod): { key: string; title: string } {
  const config = run.record?.config;
  if (config) {
    const limits = config.trainLimit || config.testLimit ? ` · first ${config.trainLimit || 'all'}/${config.testLimit || 'all'} train/test images` : '';
    const title = `${config.dataset} · ${config.model} · batch ${config.batchSize} · ${config.epochs} epochs${limits}`;
    return { key: `config ${title}`, title };
  }
  const baseline = method.kind === 'baseline' ? group : baselineNameFor(group) ?? group;
  return { key: `name ${baseline}`, title: baseline };
}

function compareRows(a: ReportRow, b: ReportRow): number {
  if (a.method.kind !== b.method.kind) return a.method.kind === 'baseline' ? -1 : 1;
  const ratioOrder = (a.method.ratio ?? Number.MAX_VALUE) - (b.method.ratio ?? Number.MAX_VALUE);
  if (ratioOrder !== 0) return ratioOrder;
  return a.group < b.group ? -1 : a.group > b.group ? 1 : 0;
}
