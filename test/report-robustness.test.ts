import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/config.js';
import { runReport } from '../src/cli/report.js';
import { endSweep } from '../src/cli/sweep.js';
import { SilentExit } from '../src/cli/errors.js';
import { executeSweep, type Trainer } from '../src/sweep/execute.js';
import { selectRuns } from '../src/cli/visualize.js';
import { formatReport } from '../src/report/format.js';
import { loadRun, runPaths } from '../src/runs/index.js';
import { planSweep } from '../src/sweep/plan.js';
import { buildReport } from '../src/report/table.js';
import { DivergenceError } from '../src/train/divergence.js';
import { logText, writeFakeRun, tempRunDirs } from './report-fixtures.js';

/** Issue 11, reports: a bad run never blocks the others; means only over finished runs of distinct seeds; load-aware timing. */
const freshDirs = tempRunDirs('infobatch-report-robust-');
const BASE = 'fashion-mnist_resnettiny_baseline_b128';
const IB = 'fashion-mnist_resnettiny_infobatch_r_0_5_b128';

describe('one bad run does not block the others', () => {
  test('report of every run: a corrupt run.json and a NaN row are skipped with one warning each', async () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE });
    writeFakeRun(dirs, { name: IB, ratio: 0.5 });
    writeFakeRun(dirs, { name: 'broken_record', ratio: 0.5 });
    writeFileSync(path.join(dirs.modelDir, 'broken_record', 'run.json'), '{"config":');
    writeFakeRun(dirs, { name: 'nan_row' });
    const log = path.join(dirs.logDir, 'nan_row.csv');
    writeFileSync(log, readFileSync(log, 'utf8').replace(/\n2,[^\n]*/, (row) => row.replace(/,[\d.]+,/, ',NaN,')));
    const warnings: string[] = [];
    const text = await runReport({ ...dirs, names: [], format: 'md', figureDir: dirs.figureDir, write: false }, (line) => warnings.push(line));
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[0]!, /^warning: skipping run "broken_record": .*broken_record\/run\.json is corrupt \(not valid JSON/);
    assert.match(warnings[1]!, /^warning: skipping run "nan_row": .*nan_row\.csv:3: lr is not a number \("NaN"\)/);
    assert.match(text, /\| Baseline \(full data\) \|/);
    assert.match(text, /\| InfoBatch r = 0\.5, δ = 0\.875 \|/);
  });

  test('a guessed baseline that cannot be read is skipped by visualize with a warning', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE });
    writeFileSync(path.join(dirs.modelDir, BASE, 'run.json'), 'not json');
    writeFakeRun(dirs, { name: IB, ratio: 0.5 });
    const lines: string[] = [];
    const runs = selectRuns({ ...dirs, infobatch: [IB], baseline: null, xAxis: 'epoch', figureDir: dirs.figureDir, outputName: null, width: 800, height: 500 }, (line) => lines.push(line));
    assert.equal(runs.baseline, null);
    assert.equal(runs.infobatch.length, 1);
    assert.ok(lines.some((line) => /^warning: skipping run ".*baseline_b128": .*run\.json is corrupt \(not valid JSON/.test(line)), lines.join('\n'));
  });

  test('a sweep whose run diverges reports the others, leaves that one out with a warning, and skips it next time', async () => {
    const dirs = freshDirs();
    const base: TrainConfig = { ...DEFAULT_CONFIG, dataset: 'fashion-mnist', model: 'ResNetTiny', batchSize: 128, epochs: 10, delta: 0.875, backend: 'cpu' };
    const trainer: Trainer = async (config, options) => {
      const divergent = config.useInfoBatch && config.ratio === 0.3;
      writeFakeRun({ logDir: options.logDir!, modelDir: options.modelDir! }, {
        name: config.experimentName, ratio: config.useInfoBatch ? config.ratio : 0, epochs: config.epochs, config,
        ...(divergent ? { logged: 2, status: 'diverged' as const } : {}),
      });
      if (divergent) throw new DivergenceError(3, 5);
    };
    const lines: string[] = [];
    const result = await executeSweep(planSweep({ base, ratios: [0.3, 0.5], seeds: null }, dirs), { ...dirs, trainer, log: (line) => lines.push(line) });
    const report = result.report ?? assert.fail('no report');
    const divergedName = 'fashion-mnist_resnettiny_infobatch_r_0_3_b128';
    assert.deepEqual(result.diverged, [divergedName]);
    // The CLI prints the report, then ends non-zero (3) saying so in its last line.
    const written: string[] = [];
    const ended: string[] = [];
    assert.throws(() => endSweep(result, (text) => written.push(text), (line) => ended.push(line)), (e: unknown) => e instanceof SilentExit && e.code === 3);
    assert.deepEqual(written, [report]);
    assert.match(ended.at(-1)!, new RegExp(`^sweep: 1 run\\(s\\) diverged and are not in the report: ${divergedName}; .*--max_lr \\(exit 3\\)$`));
    assert.ok(lines.some((line) => /infobatch_r_0_3_b128: loss diverged at epoch 3, batch 5; try a lower --max_lr; continuing/.test(line)), lines.join('\n'));
    assert.ok(lines.some((line) => /^warning: skipping run ".*r_0_3_b128": .*says its loss diverged/.test(line)), lines.join('\n'));
    assert.doesNotMatch(report, /r = 0\.3/);
    assert.match(report, /r = 0\.5/);
    assert.ok(existsSync(path.join(dirs.figureDir, 'report.md')));
    const again = planSweep({ base, ratios: [0.3, 0.5], seeds: null }, dirs);
    assert.deepEqual(again.map((run) => run.action), ['skip', 'diverged', 'skip']);
    // Run again: nothing to train, the report again, and still exit 3 for the diverged run.
    const rerun = await executeSweep(again, { ...dirs, trainer, log: () => {} });
    assert.deepEqual(rerun.diverged, [divergedName]);
    assert.throws(() => endSweep(rerun, () => {}, () => {}), (e: unknown) => e instanceof SilentExit && e.code === 3);
  });
});

describe('what the report averages', () => {
  test('an unfinished run beside a finished one of the same seed is listed apart, not averaged', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: 'done_run', ratio: 0.5, seed: 3, finalAcc: 95 });
    writeFakeRun(dirs, { name: 'half_run', ratio: 0.5, seed: 3, finalAcc: 95, logged: 2 });
    const sections = buildReport(['done_run', 'half_run'].map((name) => loadRun(name, dirs)));
    const row = sections[0]!.rows[0]!;
    assert.deepEqual(row.runs, ['done_run']);
    assert.equal(row.bestAcc.std, null);
    assert.equal(row.bestAcc.mean, 95);
    assert.match(formatReport(sections, 'md'), /† `half_run`: 2 of 10 epochs logged \(not finished\); not averaged/);
  });
});

describe('times under load', () => {
  test('time per 1,000 samples beside the sample-steps saved, and a warning when full-data epochs ran at different speeds', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE, secondsPerSample: 0.01 });
    writeFakeRun(dirs, { name: IB, ratio: 0.5, secondsPerSample: 0.01 });
    const even = formatReport(buildReport([BASE, IB].map((name) => loadRun(name, dirs))), 'md');
    assert.match(even, /Sample-steps saved \(%\) \| s per 1,000 samples \|/);
    assert.match(even, /\| Baseline \(full data\) \| [^\n]* \| 0\.0 \| 10\.00 \|/);
    assert.doesNotMatch(even, /timings not comparable/);
    // The InfoBatch run ran on a busier machine: its full-data epochs took 1.5× as long per sample.
    writeFakeRun(dirs, { name: IB, ratio: 0.5, secondsPerSample: 0.015 });
    const sections = buildReport([BASE, IB].map((name) => loadRun(name, dirs)));
    assert.match(sections[0]!.timingWarning ?? '', /^timings not comparable: the machine's load changed \(the same full-data epochs took 10\.00 to 15\.00 s per 1,000 samples/);
    assert.match(formatReport(sections, 'md'), /\*\*timings not comparable/);
    assert.match(formatReport(sections, 'csv'), /,false\n/);
  });

  test("load that came and went during one run warns too, though each run's mean speed looks alike", () => {
    const dirs = freshDirs();
    // The baseline's epochs 3 and 4 ran 1.4× slower (another job came and went): its total time, and so the
    // saving InfoBatch seems to make, moved with them, while its mean full-data rate is within 25 % of the other run's.
    const rows = writeFakeRun(dirs, { name: BASE, secondsPerSample: 0.01 });
    let elapsed = 0;
    for (const row of rows) {
      if (row.epoch === 3 || row.epoch === 4) row.epochSeconds *= 1.4;
      elapsed += row.epochSeconds;
      row.elapsedSeconds = elapsed;
    }
    writeFileSync(runPaths(BASE, dirs).log, logText(rows));
    writeFakeRun(dirs, { name: IB, ratio: 0.5, secondsPerSample: 0.01 });
    const [section] = buildReport([BASE, IB].map((name) => loadRun(name, dirs)));
    assert.match(section!.timingWarning ?? '', /the same full-data epochs took 10\.00 to 14\.00 s per 1,000 samples/);
  });
});
