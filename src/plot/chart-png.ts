/**
 * Renders a chart.js chart to PNG bytes in Node with @napi-rs/canvas (prebuilt binaries, no system
 * libraries), not chartjs-node-canvas, whose `canvas` dependency must be compiled against cairo/pango.
 *
 * Two things are easy to get wrong here, and both fail silently:
 * - without a registered font (a fresh machine or container has none) the canvas draws no text at
 *   all, so we bundle DejaVu Sans (npm `dejavu-fonts-ttf`) and make it chart.js's default family;
 * - chart.js animates and resizes to its container by default; both are off so one draw paints the
 *   final frame and the same data always gives the same bytes.
 */
import { createRequire } from 'node:module';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { Chart, registerables, type ChartConfiguration, type ChartType, type Plugin } from 'chart.js';

export const FONT_FAMILY = 'DejaVu Sans';

/** A dashed vertical line across the chart area with a label at its top, e.g. "annealing starts". */
export interface VerticalMarker {
  x: number;
  label: string;
  color: string;
}

declare module 'chart.js' {
  interface PluginOptionsByType<TType extends ChartType> {
    /** Labels at the top or bottom of the chart area: wherever the curves near the markers are not. */
    verticalMarkers?: { markers: VerticalMarker[]; labelsAt?: 'top' | 'bottom' };
  }
}

let ready = false;

/** Registers the bundled font and chart.js's components once per process. */
function prepare(): void {
  if (ready) return;
  const require = createRequire(import.meta.url);
  for (const file of ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf']) {
    const fontPath = require.resolve(`dejavu-fonts-ttf/ttf/${file}`);
    if (GlobalFonts.registerFromPath(fontPath, FONT_FAMILY) === null) {
      throw new Error(`could not load the chart font ${fontPath}; without it no text would be drawn`);
    }
  }
  Chart.register(...registerables, whiteBackground, verticalMarkers);
  Chart.defaults.font.family = FONT_FAMILY;
  ready = true;
}

/** PNGs are transparent by default; figures are viewed on dark and light pages alike, so paint them white. */
const whiteBackground: Plugin = {
  id: 'whiteBackground',
  beforeDraw(chart) {
    const { ctx, width, height } = chart;
    ctx.save();
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, width, height);
    ctx.restore();
  },
};

const verticalMarkers: Plugin = {
  id: 'verticalMarkers',
  afterDatasetsDraw(chart, _args, options) {
    const { markers: markerList = [], labelsAt = 'top' } = options as { markers?: VerticalMarker[]; labelsAt?: 'top' | 'bottom' };
    const { ctx, chartArea } = chart;
    const xScale = chart.scales['x'];
    if (!xScale) return;
    const placed = markerList
      .map((marker) => ({ marker, x: xScale.getPixelForValue(marker.x) }))
      .filter(({ x }) => x >= chartArea.left && x <= chartArea.right);
    ctx.save();
    ctx.lineWidth = 1.5;
    ctx.setLineDash([6, 4]);
    for (const { marker, x } of placed) {
      ctx.strokeStyle = marker.color;
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
    }
    // Labels after all lines, left of their line (into the pruned phase), stacked so they do not
    // overlap; a white box keeps each legible where it crosses other runs' lines.
    ctx.setLineDash([]);
    ctx.font = `13px "${FONT_FAMILY}"`;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'top';
    placed.forEach(({ marker, x }, index) => {
      const textX = x - 5;
      const textY = labelsAt === 'top' ? chartArea.top + 6 + index * 18 : chartArea.bottom - 20 - (placed.length - 1 - index) * 18;
      const width = ctx.measureText(marker.label).width;
      ctx.fillStyle = 'rgba(255, 255, 255, 0.85)';
      ctx.fillRect(textX - width - 3, textY - 2, width + 6, 17);
      ctx.fillStyle = marker.color;
      ctx.fillText(marker.label, textX, textY);
    });
    ctx.restore();
  },
};

export interface PngOptions {
  width: number;
  height: number;
  /** Written into the PNG's Title text chunk. */
  title?: string;
}

/** Draws the chart once, without animation, and returns the PNG file's bytes. */
export function renderChartPng<TType extends ChartType>(config: ChartConfiguration<TType>, png: PngOptions): Buffer {
  prepare();
  const canvas = createCanvas(png.width, png.height);
  const options = {
    ...config.options,
    responsive: false,
    maintainAspectRatio: false,
    animation: false,
    devicePixelRatio: 1,
  };
  // chart.js takes any object with getContext('2d') in Node (its "basic" platform, no DOM needed).
  const chart = new Chart(canvas as unknown as HTMLCanvasElement, { ...config, options } as ChartConfiguration<TType>);
  try {
    chart.draw();
    return canvas.toBuffer('image/png', { software: 'infobatch', ...(png.title ? { title: png.title } : {}) });
  } finally {
    chart.destroy();
  }
}
