import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { renderChartPng } from '../src/plot/chart-png.js';
import { figureConfigs, renderFigures } from '../src/plot/figures.js';
import { runVisualize, type VisualizeOptions } from '../src/cli/visualize.js';
import { loadRun } from '../src/runs/index.js';
import { writeFakeRun, tempRunDirs } from './report-fixtures.js';

const freshDirs = tempRunDirs('infobatch-plot-');

const BASE = 'fashion-mnist_resnettiny_baseline_b128';
const IB5 = 'fashion-mnist_resnettiny_infobatch_r_0_5_b128';
const IB3 = 'fashion-mnist_resnettiny_infobatch_r_0_3_b128';

function sweepDirs() {
  const dirs = freshDirs();
  writeFakeRun(dirs, { name: BASE, finalAcc: 91 });
  writeFakeRun(dirs, { name: IB5, ratio: 0.5, finalAcc: 90.6 });
  writeFakeRun(dirs, { name: IB3, ratio: 0.3, finalAcc: 90.9 });
  return dirs;
}

/** Width and height from the PNG's IHDR chunk, after checking the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

async function pixels(png: Buffer) {
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  return context.getImageData(0, 0, image.width, image.height);
}

describe('rendering', () => {
  test('same logs give the same bytes; PNG of the requested size', () => {
    const dirs = sweepDirs();
    const runs = { baseline: loadRun(BASE, dirs), infobatch: [loadRun(IB5, dirs)] };
    const first = renderFigures(runs, { xAxis: 'epoch', prefix: 'p', width: 900, height: 500 });
    const second = renderFigures(runs, { xAxis: 'epoch', prefix: 'p', width: 900, height: 500 });
    assert.deepEqual(first.map((figure) => figure.fileName), ['p_loss.png', 'p_accuracy.png', 'p_samples.png']);
    first.forEach((figure, index) => {
      assert.ok(figure.png.equals(second[index]!.png), `${figure.fileName} differs between two renders`);
      assert.deepEqual(pngSize(figure.png), { width: 900, height: 500 });
    });
    // Different data, different picture (the comparison above could not fail otherwise).
    assert.ok(!first[0]!.png.equals(first[1]!.png));
  });

  test('white background, and text is really drawn (the bundled font is registered)', async () => {
    const config = figureConfigs({ baseline: null, infobatch: [loadRun(IB5, sweepDirs())] }, 'epoch').accuracy;
    const withTitle = await pixels(renderChartPng(config, { width: 600, height: 400 }));
    const corner = [...withTitle.data.subarray(0, 4)];
    assert.deepEqual(corner, [255, 255, 255, 255]);
    // The title band (above legend and plot) holds only the title and subtitle: count dark pixels.
    const darkInBand = (image: { width: number; data: Uint8ClampedArray }, rows: number): number => {
      let dark = 0;
      for (let i = 0; i < image.width * rows * 4; i += 4) if (image.data[i]! < 128 && image.data[i + 1]! < 128 && image.data[i + 2]! < 128) dark++;
      return dark;
    };
    // Same chart with the title painted white: the layout is identical, only the title's glyphs differ.
    // Without a usable font neither draws any text and the two pictures are the same.
    const plugins = config.options!.plugins!;
    const hidden = await pixels(
      renderChartPng({ ...config, options: { ...config.options, plugins: { ...plugins, title: { ...plugins.title, color: '#ffffff' } } } }, { width: 600, height: 400 }),
    );
    const titleDark = darkInBand(withTitle, 30);
    assert.ok(titleDark > 100, `only ${titleDark} dark pixels where the title should be`);
    assert.equal(darkInBand(hidden, 30), 0, 'dark pixels in the title band without a visible title');
  });

  test('what each figure plots, and where annealing is marked', () => {
    const dirs = sweepDirs();
    const runs = { baseline: loadRun(BASE, dirs), infobatch: [loadRun(IB3, dirs), loadRun(IB5, dirs)] };
    const byEpoch = figureConfigs(runs, 'epoch');
    assert.deepEqual(byEpoch.loss.data.datasets.map((set) => set.label), [
      'Baseline – train', 'Baseline – test', 'InfoBatch r = 0.3 – train', 'InfoBatch r = 0.3 – test', 'InfoBatch r = 0.5 – train', 'InfoBatch r = 0.5 – test',
    ]);
    assert.deepEqual(byEpoch.accuracy.data.datasets.map((set) => set.label), ['Baseline', 'InfoBatch r = 0.3', 'InfoBatch r = 0.5']);
    const samples = byEpoch.samples.data.datasets[2]!.data;
    // 10 epochs, δ = 0.875: epochs 2..8 prune 300 of 1000 samples; 9 and 10 anneal on the full data.
    // A step plot: epoch e spans (e − 1, e], so the line starts at 0 with epoch 1's value.
    assert.deepEqual(samples.map((point) => point.y), [1000, 1000, 700, 700, 700, 700, 700, 700, 700, 1000, 1000]);
    assert.deepEqual(samples.map((point) => point.x), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(byEpoch.samples.data.datasets[2]!.stepped, 'after');
    // Both runs start annealing at epoch 9: one marker, where epoch 8 ends and epoch 9 begins.
    assert.deepEqual(byEpoch.loss.options!.plugins!.verticalMarkers!.markers!.map((marker) => marker!.x), [8]);
    assert.equal(byEpoch.loss.options!.plugins!.title!.text, 'Train and test loss');
    assert.equal(byEpoch.loss.options!.plugins!.subtitle!.text, 'fashion-mnist · ResNetTiny · batch 128 · 10 epochs');

    const byTime = figureConfigs(runs, 'time');
    const ib5 = loadRun(IB5, dirs);
    assert.deepEqual(
      byTime.accuracy.data.datasets[2]!.data.map((point) => point.x),
      ib5.rows.map((row) => row.elapsedSeconds / 60),
    );
    // Against time each run has its own marker, at the end of its last pruned epoch.
    const markers = byTime.accuracy.options!.plugins!.verticalMarkers!.markers!;
    assert.equal(markers.length, 2);
    assert.equal(markers[1]!.x, ib5.rows[7]!.elapsedSeconds / 60);
    assert.equal(markers[1]!.label, 'InfoBatch r = 0.5: annealing from epoch 9 →');
    // Against time the step plot starts where the first epoch started: at 0.
    assert.equal(byTime.samples.data.datasets[2]!.data[0]!.x, 0);
  });
});

describe('infobatch visualize', () => {
  const options = (dirs: ReturnType<typeof freshDirs>, overrides: Partial<VisualizeOptions>): VisualizeOptions => ({
    ...dirs, infobatch: [IB5], baseline: null, xAxis: 'epoch', outputName: null, width: 800, height: 500, ...overrides,
  });

  test('finds the matching baseline and writes three PNGs', async () => {
    const dirs = sweepDirs();
    const lines: string[] = [];
    await runVisualize(options(dirs, {}), (line) => lines.push(line));
    assert.equal(lines[0], `baseline: ${BASE}`);
    for (const kind of ['loss', 'accuracy', 'samples']) {
      const file = path.join(dirs.figureDir, `${IB5}_${kind}.png`);
      assert.ok(existsSync(file), file);
      assert.deepEqual(pngSize(readFileSync(file)), { width: 800, height: 500 });
    }
    await runVisualize(options(dirs, { xAxis: 'time', infobatch: [IB3, IB5] }), (line) => lines.push(line));
    assert.ok(existsSync(path.join(dirs.figureDir, `${BASE}_overlay_samples_time.png`)));
    assert.ok(lines.includes(`wrote ${path.join(dirs.figureDir, `${BASE}_overlay_loss_time.png`)}`));
  });

  test('without a baseline the InfoBatch run is plotted alone, with a note', async () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: IB5, ratio: 0.5 });
    const lines: string[] = [];
    const figures = await runVisualize(options(dirs, {}), (line) => lines.push(line));
    assert.equal(figures.length, 3);
    assert.match(lines[0]!, /^no baseline run found \(looked for .*fashion-mnist_resnettiny_baseline_b128\.csv\)/);
  });

  test('missing and mismatched runs are clear errors, before anything is written', async () => {
    const dirs = sweepDirs();
    writeFakeRun(dirs, { name: 'long_baseline', epochs: 20 });
    await assert.rejects(runVisualize(options(dirs, { infobatch: ['typo'] }), () => {}), /no log for run "typo"/);
    await assert.rejects(runVisualize(options(dirs, { baseline: 'typo' }), () => {}), /no log for run "typo"/);
    await assert.rejects(
      runVisualize(options(dirs, { baseline: 'long_baseline' }), () => {}),
      new RegExp(`runs "long_baseline" and "${IB5}" are not comparable: epochs 20 vs 10`),
    );
    await assert.rejects(runVisualize(options(dirs, { infobatch: [BASE] }), () => {}), /did not prune \(a baseline\?\); pass it as --baseline_experiment_name/);
    await assert.rejects(runVisualize(options(dirs, { width: 10 }), () => {}), /--width must be an integer from 300 to 4000/);
    await assert.rejects(runVisualize(options(dirs, { outputName: '../x' }), () => {}), /--output_name/);
    assert.ok(!existsSync(dirs.figureDir));
  });
});
