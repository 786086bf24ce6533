/**
 * The reproduction's figures for a baseline and one or more InfoBatch runs: train/test loss, test
 * accuracy, and samples trained per epoch, against epoch or against wall-clock training time (where
 * InfoBatch's saving shows: its curves end earlier). The epoch where annealing starts is marked.
 */
import { Chart, type ChartConfiguration, type ChartDataset } from 'chart.js';
import { annealStartOf, methodOf } from '../report/compare.js';
import type { EpochRow, LoadedRun } from '../runs/index.js';
import { renderChartPng, type VerticalMarker } from './chart-png.js';

import type { XAxis } from './figure-options.js';
export { X_AXES, type XAxis } from './figure-options.js';

export const FIGURE_KINDS = ['loss', 'accuracy', 'samples'] as const;
export type FigureKind = (typeof FIGURE_KINDS)[number];

export interface FigureRuns {
  baseline: LoadedRun | null;
  /** At least one. */
  infobatch: LoadedRun[];
}

export interface FigureOptions {
  xAxis: XAxis;
  /** File names are <prefix>_<kind>[_time].png. */
  prefix: string;
  width: number;
  height: number;
}

export interface Figure {
  kind: FigureKind;
  fileName: string;
  png: Buffer;
}

const BASELINE_COLOR = '#333333';
/** Colour-blind-safe (Okabe–Ito) colours for the InfoBatch runs, in order. */
const RUN_COLORS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9'];

interface PlottedRun {
  run: LoadedRun;
  label: string;
  color: string;
}

export function figureFileName(prefix: string, kind: FigureKind, xAxis: XAxis): string {
  return `${prefix}_${kind}${xAxis === 'time' ? '_time' : ''}.png`;
}

/** The chart.js configuration of each figure (exposed for tests: what is plotted, before pixels). */
export function figureConfigs(runs: FigureRuns, xAxis: XAxis): Record<FigureKind, ChartConfiguration<'line', { x: number; y: number }[]>> {
  if (runs.infobatch.length === 0) throw new RangeError('figures need at least one InfoBatch run');
  const plotted = plottedRuns(runs);
  const subtitle = setupOf(plotted.map((entry) => entry.run));
  return {
    loss: chartConfig('loss', plotted, xAxis, subtitle),
    accuracy: chartConfig('accuracy', plotted, xAxis, subtitle),
    samples: chartConfig('samples', plotted, xAxis, subtitle),
  };
}

/** Renders the three figures; nothing is written to disk here. */
export function renderFigures(runs: FigureRuns, options: FigureOptions): Figure[] {
  const configs = figureConfigs(runs, options.xAxis);
  return FIGURE_KINDS.map((kind) => {
    const fileName = figureFileName(options.prefix, kind, options.xAxis);
    return { kind, fileName, png: renderChartPng(configs[kind], { width: options.width, height: options.height, title: fileName }) };
  });
}

function plottedRuns(runs: FigureRuns): PlottedRun[] {
  const entries: PlottedRun[] = [];
  if (runs.baseline) entries.push({ run: runs.baseline, label: 'Baseline', color: BASELINE_COLOR });
  runs.infobatch.forEach((run, index) => {
    const { ratio } = methodOf(run);
    entries.push({ run, label: ratio === null ? 'InfoBatch' : `InfoBatch r = ${ratio}`, color: RUN_COLORS[index % RUN_COLORS.length]! });
  });
  // Two runs with one label (two seeds, say) are told apart by name.
  for (const entry of entries) {
    if (entries.filter((other) => other.label === entry.label).length > 1) entry.label = entry.run.name;
  }
  return entries;
}

function setupOf(runs: LoadedRun[]): string {
  const config = runs.find((run) => run.record)?.record?.config;
  if (!config) return runs.map((run) => run.name).join(' vs ');
  const limit = config.trainLimit ? ` · ${config.trainLimit} training images` : '';
  return `${config.dataset} · ${config.model} · batch ${config.batchSize} · ${config.epochs} epochs${limit}`;
}

function xOf(row: EpochRow, xAxis: XAxis): number {
  return xAxis === 'epoch' ? row.epoch : row.elapsedSeconds / 60;
}

function series(
  entry: PlottedRun,
  xAxis: XAxis,
  value: (row: EpochRow) => number,
  label: string,
  style: 'solid' | 'dashed' | 'steps',
): ChartDataset<'line', { x: number; y: number }[]> {
  const points = entry.run.rows.map((row) => ({ x: xOf(row, xAxis), y: value(row) }));
  const radius = points.length <= 40 ? 3 : 0;
  const common = { label, borderColor: entry.color, backgroundColor: entry.color, tension: 0 };
  if (style === 'steps') {
    // A per-epoch quantity holds over the whole epoch: each point is the end of its epoch and the
    // step goes up or down where the epoch begins, so the first epoch starts at 0.
    const first = entry.run.rows[0]!;
    const start = { x: xAxis === 'epoch' ? first.epoch - 1 : (first.elapsedSeconds - first.epochSeconds) / 60, y: value(first) };
    return { ...common, data: [start, ...points], stepped: 'after', borderWidth: 2.5, pointRadius: (context) => (context.dataIndex === 0 ? 0 : radius) };
  }
  return {
    ...common,
    data: points,
    borderWidth: style === 'dashed' ? 2 : 2.5,
    borderDash: style === 'dashed' ? [7, 5] : [],
    pointRadius: radius,
    pointStyle: style === 'dashed' ? 'rect' : 'circle',
  };
}

/**
 * Annealing markers, at the end of the last pruned epoch (= where the first full-data epoch starts):
 * one line against epochs when the runs agree; against time one per run, as their clocks differ.
 */
function annealMarkers(plotted: PlottedRun[], xAxis: XAxis): VerticalMarker[] {
  const markers: VerticalMarker[] = [];
  for (const entry of plotted) {
    const start = annealStartOf(entry.run);
    if (start === null || methodOf(entry.run).kind !== 'infobatch') continue;
    if (xAxis === 'epoch') {
      if (markers.some((marker) => marker.x === start - 1)) continue;
      markers.push({ x: start - 1, label: `annealing (full data) from epoch ${start} →`, color: '#555555' });
    } else {
      const before = entry.run.rows.find((row) => row.epoch === start - 1);
      if (!before) continue;
      markers.push({ x: before.elapsedSeconds / 60, label: `${entry.label}: annealing from epoch ${start} →`, color: entry.color });
    }
  }
  return markers;
}

function chartConfig(kind: FigureKind, plotted: PlottedRun[], xAxis: XAxis, subtitle: string): ChartConfiguration<'line', { x: number; y: number }[]> {
  let datasets: ChartDataset<'line', { x: number; y: number }[]>[];
  let title: string;
  let yTitle: string;
  switch (kind) {
    case 'loss':
      // Both curves in the training criterion, so they compare; the log also has the plain test cross-entropy.
      title = 'Train and test loss';
      yTitle = 'Label-smoothed cross-entropy';
      datasets = plotted.flatMap((entry) => [
        series(entry, xAxis, (row) => row.trainSmoothedCe, `${entry.label} – train`, 'dashed'),
        series(entry, xAxis, (row) => row.testSmoothedCe, `${entry.label} – test`, 'solid'),
      ]);
      break;
    case 'accuracy':
      title = 'Test accuracy';
      yTitle = 'Test accuracy (%)';
      datasets = plotted.map((entry) => series(entry, xAxis, (row) => row.testAcc, entry.label, 'solid'));
      break;
    case 'samples':
      title = 'Samples trained per epoch';
      yTitle = 'Samples trained';
      datasets = plotted.map((entry) => series(entry, xAxis, (row) => row.samples, entry.label, 'steps'));
      break;
  }
  const epochTicks = xAxis === 'epoch' && Math.max(...plotted.map((entry) => entry.run.rows.length)) <= 25;
  const fontSize = 15;
  return {
    type: 'line',
    data: { datasets },
    options: {
      layout: { padding: { top: 4, right: 24, bottom: 8, left: 8 } },
      font: { size: fontSize },
      scales: {
        x: {
          type: 'linear',
          // 0 = start of training on both axes (the step plot of samples starts there).
          min: 0,
          title: { display: true, text: xAxis === 'epoch' ? 'Epoch' : 'Training time (min, evaluation excluded)', font: { size: fontSize } },
          ticks: { font: { size: 14 }, ...(epochTicks ? { stepSize: 1, precision: 0 } : { precision: xAxis === 'epoch' ? 0 : undefined }) },
        },
        y: {
          type: 'linear',
          beginAtZero: kind === 'samples',
          title: { display: true, text: yTitle, font: { size: fontSize } },
          ticks: { font: { size: 14 } },
        },
      },
      plugins: {
        title: { display: true, text: title, font: { size: 20, weight: 'bold' }, color: '#111111', padding: { top: 12, bottom: 2 } },
        subtitle: { display: true, text: subtitle, font: { size: 14 }, color: '#444444', padding: { bottom: 10 } },
        // Legend keys are short line samples, so dashed (train) and solid (test) read as in the plot.
        legend: {
          position: 'top',
          labels: {
            font: { size: 14 },
            color: '#222222',
            usePointStyle: true,
            pointStyle: 'line',
            pointStyleWidth: 36,
            // chart.js takes a point-style key's dash from the points (solid); use the line's.
            generateLabels: (chart) =>
              Chart.defaults.plugins.legend.labels.generateLabels(chart).map((item) => ({
                ...item,
                lineWidth: 2.5,
                lineDash: datasets[item.datasetIndex ?? 0]?.borderDash as number[] | undefined,
              })),
          },
        },
        // Losses fall towards the end of training, accuracy and samples stay high: label where the curves are not.
        verticalMarkers: { markers: annealMarkers(plotted, xAxis), labelsAt: kind === 'loss' ? 'top' : 'bottom' },
      },
    },
  };
}
