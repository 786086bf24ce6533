import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import yargs from 'yargs';
import { ConfigError } from '../src/config.js';
import { reportCommand, runReport } from '../src/cli/report.js';
import { annealStartOf, assertComparable, baselineNameFor, methodOf } from '../src/report/compare.js';
import { formatReport } from '../src/report/format.js';
import { EPOCH_LOG_COLUMNS, EpochLogError, loadRun, parseEpochLog, RunLookupError } from '../src/runs/index.js';
import { buildReport, meanStd, summarizeRun } from '../src/report/table.js';
import { fakeRows, logText, writeFakeRun, tempRunDirs } from './report-fixtures.js';

const freshDirs = tempRunDirs('infobatch-report-');

const HEADER = EPOCH_LOG_COLUMNS.join(',');
const BASE = 'fashion-mnist_resnettiny_baseline_b128';
const IB = (r: string, suffix = '') => `fashion-mnist_resnettiny_infobatch_r_${r}_b128${suffix}`;

describe('epoch log parsing', () => {
  test('reads every column of every row, in epoch order', () => {
    const text = `${HEADER}\r\n1,0.01,2.1,20.5,2.0,1.9,30.25,1000,0,10.5,10.5\r\n2,0.02,1.5,50,1.4,1.3,55,700,300,7.25,17.75\r\n`;
    const { rows, warnings } = parseEpochLog(text, 'x.csv');
    assert.deepEqual(warnings, []);
    assert.deepEqual(rows[1], {
      epoch: 2, lr: 0.02, trainSmoothedCe: 1.5, trainAcc: 50, testSmoothedCe: 1.4, testCe: 1.3, testAcc: 55, samples: 700, pruned: 300, epochSeconds: 7.25, elapsedSeconds: 17.75,
    });
    assert.equal(rows.length, 2);
  });

  test('writes what it reads: rows survive a round trip at the precision the file keeps', () => {
    const rows = fakeRows({ name: 'r', epochs: 4, ratio: 0.5 });
    const parsed = parseEpochLog(logText(rows), 'r.csv').rows;
    assert.equal(parsed.length, 4);
    parsed.forEach((row, i) => {
      for (const key of Object.keys(row) as (keyof typeof row)[]) assert.ok(Math.abs(row[key] - rows[i]![key]) < 1e-3 * Math.max(1, Math.abs(rows[i]![key])), `${key}`);
    });
  });

  test('reads logs written before the plain test cross-entropy was logged (its losses were label-smoothed)', () => {
    const legacy = 'epoch,lr,train_loss,train_acc,test_loss,test_acc,samples,pruned,epoch_seconds,elapsed_seconds\n1,0.01,2.1,20.5,2.0,30.25,1000,0,10.5,10.5\n';
    const [row] = parseEpochLog(legacy, 'old.csv').rows;
    assert.equal(row!.trainSmoothedCe, 2.1);
    assert.equal(row!.testSmoothedCe, 2.0);
    assert.ok(Number.isNaN(row!.testCe));
    assert.equal(row!.testAcc, 30.25);
  });

  test('a resumed run that logged an epoch twice: the later row wins, with a warning', () => {
    // Crash after appending epoch 3's row but before its checkpoint: the resumed run trains epoch 3
    // again and appends a second row for it; elapsed time continues from the checkpoint (epoch 2).
    const rows = fakeRows({ name: 'r', epochs: 5 });
    const again = { ...rows[2]!, testAcc: 99, elapsedSeconds: rows[2]!.elapsedSeconds + 0.5 };
    const text = logText([rows[0]!, rows[1]!, rows[2]!, again, rows[3]!, rows[4]!]);
    const parsed = parseEpochLog(text, 'logs/r.csv');
    assert.deepEqual(parsed.rows.map((row) => row.epoch), [1, 2, 3, 4, 5]);
    assert.equal(parsed.rows[2]!.testAcc, 99);
    assert.equal(parsed.warnings.length, 1);
    assert.match(parsed.warnings[0]!, /logs\/r\.csv:5: epoch 3 is logged again/);
  });

  test('a gap in the epochs is reported once', () => {
    const rows = fakeRows({ name: 'r', epochs: 6 });
    const parsed = parseEpochLog(logText([rows[0]!, rows[3]!, rows[4]!, rows[5]!]), 'g.csv');
    assert.equal(parsed.rows.length, 4);
    assert.deepEqual(parsed.warnings, ['g.csv: epochs are not contiguous (epoch 4 follows 1)']);
  });

  test('malformed logs are errors naming file and line', () => {
    assert.throws(() => parseEpochLog('epoch,lr\n1,2\n', 'a.csv'), (error: Error) => error instanceof EpochLogError && /a\.csv: not an infobatch epoch log/.test(error.message));
    assert.throws(() => parseEpochLog(`${HEADER}\n`, 'b.csv'), /b\.csv: the log has no epochs yet/);
    assert.throws(() => parseEpochLog(`${HEADER}\n1,0.1,2,3,4,4,5,6,0,1\n`, 'c.csv'), /c\.csv:2: expected 11 values, got 10/);
    assert.throws(() => parseEpochLog(`${HEADER}\n1,0.1,2,3,4,4,5,6,0,1,1\n2,0.1,nan,3,4,4,5,6,0,1,2\n`, 'd.csv'), /d\.csv:3: train_smoothed_ce is not a number \("nan"\)/);
    assert.throws(() => parseEpochLog(`${HEADER}\n1,0.1,2,3,4,4,5,6.5,0,1,1\n`, 'e.csv'), /e\.csv:2: samples must be a non-negative integer/);
    assert.throws(() => parseEpochLog(`${HEADER}\n0,0.1,2,3,4,4,5,6,0,1,1\n`, 'f.csv'), /f\.csv:2: epochs are numbered from 1/);
    // The CLI shows these as one-line user errors.
    assert.ok(new EpochLogError('x') instanceof ConfigError);
  });
});

describe('run discovery', () => {
  test('a missing run names the expected file and the runs that exist', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE });
    assert.throws(
      () => loadRun('nope', dirs),
      (error: Error) =>
        error instanceof RunLookupError && error.message.includes(path.join(dirs.logDir, 'nope.csv')) && error.message.includes(`runs in ${dirs.logDir}/: ${BASE}`),
    );
    assert.throws(() => loadRun('nope', freshDirs()), /no runs in/);
  });

  test('a broken run.json is an error; a missing one is allowed', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: 'copied', ratio: 0.5, noRecord: true });
    assert.equal(loadRun('copied', dirs).record, null);
    writeFakeRun(dirs, { name: 'broken' });
    writeFileSync(path.join(dirs.modelDir, 'broken', 'run.json'), '{"status": "done"}');
    assert.throws(() => loadRun('broken', dirs), /run\.json is corrupt \(not an infobatch run record/);
    writeFileSync(path.join(dirs.modelDir, 'broken', 'run.json'), '{oops');
    assert.throws(() => loadRun('broken', dirs), /run\.json is corrupt \(not valid JSON/);
  });

  test('baseline names follow the reproduction', () => {
    assert.equal(baselineNameFor('cifar10_resnet18_infobatch_r_0_5_b256'), 'cifar10_resnet18_baseline_b256');
    assert.equal(baselineNameFor('cifar10_resnet18_infobatch_r_0_25_b128_s2'), 'cifar10_resnet18_baseline_b128_s2');
    assert.equal(baselineNameFor('fashion-mnist_resnettiny_infobatch_r_0_7_b64'), 'fashion-mnist_resnettiny_baseline_b64');
    assert.equal(baselineNameFor('cifar10_resnet18_baseline_b256'), null);
    assert.equal(baselineNameFor('my_run'), null);
  });

  test('method and annealing start come from run.json, or from the name and log without one', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: 'with_record', ratio: 0.3, delta: 0.875, epochs: 10 });
    writeFakeRun(dirs, { name: IB('0_5'), ratio: 0.5, epochs: 10, noRecord: true });
    writeFakeRun(dirs, { name: 'unfinished', ratio: 0.5, epochs: 10, logged: 6, noRecord: true });
    writeFakeRun(dirs, { name: BASE, noRecord: true });
    const withRecord = loadRun('with_record', dirs);
    assert.deepEqual(methodOf(withRecord), { kind: 'infobatch', ratio: 0.3, delta: 0.875 });
    assert.equal(annealStartOf(withRecord), 9);
    const fromName = loadRun(IB('0_5'), dirs);
    assert.deepEqual(methodOf(fromName), { kind: 'infobatch', ratio: 0.5, delta: null });
    assert.equal(annealStartOf(fromName), 9);
    // Still pruning at the last logged epoch: where annealing starts is not known yet.
    assert.equal(annealStartOf(loadRun('unfinished', dirs)), null);
    assert.deepEqual(methodOf(loadRun(BASE, dirs)), { kind: 'baseline', ratio: null, delta: null });
  });

  test('runs trained differently are not comparable', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE, epochs: 10 });
    writeFakeRun(dirs, { name: IB('0_5'), ratio: 0.5, epochs: 12 });
    writeFakeRun(dirs, { name: 'other_seed', ratio: 0.5, epochs: 10, seed: 3 });
    assert.throws(
      () => assertComparable(loadRun(BASE, dirs), loadRun(IB('0_5'), dirs)),
      new RegExp(`runs "${BASE}" and "${IB('0_5')}" are not comparable: epochs 10 vs 12`),
    );
    assert.doesNotThrow(() => assertComparable(loadRun(BASE, dirs), loadRun('other_seed', dirs)));
  });
});

describe('table arithmetic', () => {
  test('best accuracy, training time and sample-steps saved of one run', () => {
    const dirs = freshDirs();
    // 10 epochs of 1000 samples; epochs 2..8 prune 0.6 · 0.5 · 1000 = 300; 0.01 s per sample.
    writeFakeRun(dirs, { name: IB('0_5'), ratio: 0.5, epochs: 10, finalAcc: 91 });
    const summary = summarizeRun(loadRun(IB('0_5'), dirs));
    assert.equal(summary.bestAcc, 91);
    assert.equal(summary.samplesTrained, 10 * 1000 - 7 * 300);
    assert.equal(summary.samplesFull, 10 * 1000);
    assert.ok(Math.abs(summary.savedPercent - 21) < 1e-9);
    assert.ok(Math.abs(summary.minutes - (7900 * 0.01) / 60) < 1e-9);
    assert.equal(summary.complete, true);
    assert.equal(summary.annealStartEpoch, 9);
  });

  test('mean and sample standard deviation', () => {
    const stat = meanStd([1, 2, 3, 4]);
    assert.equal(stat.mean, 2.5);
    assert.ok(Math.abs(stat.std! - Math.sqrt(5 / 3)) < 1e-12);
    assert.deepEqual(meanStd([7]), { mean: 7, std: null, n: 1 });
    assert.throws(() => meanStd([]));
  });

  test('baseline first, InfoBatch by ratio, deltas against the baseline', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: IB('0_7'), ratio: 0.7, finalAcc: 90 });
    writeFakeRun(dirs, { name: IB('0_3'), ratio: 0.3, finalAcc: 91.5 });
    writeFakeRun(dirs, { name: BASE, finalAcc: 91 });
    const sections = buildReport([IB('0_7'), IB('0_3'), BASE].map((name) => loadRun(name, dirs)));
    assert.equal(sections.length, 1);
    const [section] = sections;
    assert.equal(section!.title, 'fashion-mnist · ResNetTiny · batch 128 · 10 epochs');
    assert.deepEqual(section!.rows.map((row) => row.group), [BASE, IB('0_3'), IB('0_7')]);
    const [base, r3, r7] = section!.rows;
    assert.equal(base!.deltaAccPoints, null);
    assert.ok(Math.abs(r3!.deltaAccPoints! - 0.5) < 1e-9);
    assert.ok(Math.abs(r7!.deltaAccPoints! + 1) < 1e-9);
    // Baseline: 10 000 samples; r = 0.7: 7 pruned epochs of 420 fewer → time ratio 7060 / 10000.
    assert.ok(Math.abs(r7!.deltaMinutesPercent! - -29.4) < 1e-9);
    assert.ok(Math.abs(r7!.savedPercent.mean - 29.4) < 1e-9);

    const markdown = formatReport(sections, 'md');
    assert.ok(markdown.includes('| Method | Best accuracy (%) | Δ vs baseline | Total training time (min) | Δ | Sample-steps saved (%) |'));
    assert.ok(markdown.includes('| Baseline (full data) | 91.00 | — | 1.67 | — | 0.0 |'), markdown);
    assert.ok(markdown.includes('| InfoBatch r = 0.3, δ = 0.875 | 91.50 | +0.50 | 1.46 | -12.6 % | 12.6 |'), markdown);
    assert.ok(markdown.includes('| InfoBatch r = 0.7, δ = 0.875 | 90.00 | -1.00 | 1.18 | -29.4 % | 29.4 |'), markdown);
  });

  test('seeds of one configuration become mean ± std', () => {
    const dirs = freshDirs();
    [90, 91, 92].forEach((acc, seed) => writeFakeRun(dirs, { name: `${BASE}_s${seed}`, seed, finalAcc: acc }));
    [89, 91].forEach((acc, seed) => writeFakeRun(dirs, { name: IB('0_5', `_s${seed}`), ratio: 0.5, seed, finalAcc: acc }));
    const runs = [`${BASE}_s0`, `${BASE}_s1`, `${BASE}_s2`, IB('0_5', '_s0'), IB('0_5', '_s1')].map((name) => loadRun(name, dirs));
    const [section] = buildReport(runs);
    const [base, ib] = section!.rows;
    assert.deepEqual(base!.runs, [`${BASE}_s0`, `${BASE}_s1`, `${BASE}_s2`]);
    assert.equal(base!.bestAcc.mean, 91);
    assert.equal(base!.bestAcc.std, 1);
    assert.equal(ib!.bestAcc.mean, 90);
    assert.ok(Math.abs(ib!.bestAcc.std! - Math.SQRT2) < 1e-12);
    assert.equal(ib!.deltaAccPoints, -1);
    const markdown = formatReport([section!], 'md');
    assert.ok(markdown.includes('| Baseline (full data) (3 seeds) | 91.00 ± 1.00 | — |'), markdown);
    assert.ok(markdown.includes('| InfoBatch r = 0.5, δ = 0.875 (2 seeds) | 90.00 ± 1.41 | -1.00 |'), markdown);
  });

  test('seeds are read from the run records, whatever the names; without records from the _s<seed> suffix', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: 'first_try', ratio: 0.5, seed: 0, finalAcc: 90 });
    writeFakeRun(dirs, { name: 'second_try', ratio: 0.5, seed: 7, finalAcc: 92 });
    writeFakeRun(dirs, { name: 'same_seed_again', ratio: 0.5, seed: 7, finalAcc: 91 });
    writeFakeRun(dirs, { name: 'other_lr', ratio: 0.5, seed: 1, config: { maxLr: 0.1 } });
    const twoSeeds = buildReport(['first_try', 'second_try', 'other_lr'].map((name) => loadRun(name, dirs)));
    assert.deepEqual(twoSeeds[0]!.rows.map((row) => row.runs), [['first_try', 'second_try'], ['other_lr']]);
    assert.deepEqual(twoSeeds[0]!.rows[0]!.seeds, [0, 7]);
    assert.match(formatReport(twoSeeds, 'md'), /\| InfoBatch r = 0\.5, δ = 0\.875 \(2 seeds\) `first_try` \| 91\.00 ± 1\.41 \|/);
    // A repeat with a seed already counted is a repeat, not another seed: not averaged, listed apart.
    const repeats = buildReport(['second_try', 'same_seed_again'].map((name) => loadRun(name, dirs)));
    assert.deepEqual(repeats[0]!.rows[0]!.runs, ['same_seed_again']);
    assert.match(formatReport(repeats, 'md'), /\| InfoBatch r = 0\.5, δ = 0\.875 † \| 91\.00 \|/);
    assert.match(formatReport(repeats, 'md'), /† `second_try`: repeats seed 7 of `same_seed_again`; not averaged/);

    writeFakeRun(dirs, { name: `${IB('0_5')}_s0`, ratio: 0.5, noRecord: true, finalAcc: 90 });
    writeFakeRun(dirs, { name: `${IB('0_5')}_s1`, ratio: 0.5, noRecord: true, finalAcc: 91 });
    const [byName] = buildReport([`${IB('0_5')}_s0`, `${IB('0_5')}_s1`].map((name) => loadRun(name, dirs)));
    assert.equal(byName!.rows.length, 1);
    assert.equal(byName!.rows[0]!.group, IB('0_5'));
    assert.equal(byName!.rows[0]!.bestAcc.mean, 90.5);
  });

  test('unfinished runs are marked; different setups get separate sections', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE });
    writeFakeRun(dirs, { name: IB('0_5'), ratio: 0.5, logged: 4 });
    writeFakeRun(dirs, { name: 'cifar10_resnet18_baseline_b256', config: { dataset: 'cifar10', model: 'ResNet18', batchSize: 256 } });
    const sections = buildReport([BASE, IB('0_5'), 'cifar10_resnet18_baseline_b256'].map((name) => loadRun(name, dirs)));
    assert.deepEqual(sections.map((section) => section.title), [
      'fashion-mnist · ResNetTiny · batch 128 · 10 epochs',
      'cifar10 · ResNet18 · batch 256 · 10 epochs',
    ]);
    const markdown = formatReport(sections, 'md');
    assert.ok(markdown.includes('| InfoBatch r = 0.5, δ = 0.875 * |'), markdown);
    assert.ok(markdown.includes(`\\* \`${IB('0_5')}\`: 4 of 10 epochs logged (not finished)`), markdown);
  });

  test('runs without run.json are grouped by name', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE, noRecord: true, finalAcc: 90 });
    writeFakeRun(dirs, { name: IB('0_5'), ratio: 0.5, noRecord: true, finalAcc: 89.5 });
    const [section] = buildReport([IB('0_5'), BASE].map((name) => loadRun(name, dirs)));
    assert.equal(section!.title, BASE);
    assert.equal(section!.rows[1]!.deltaAccPoints, -0.5);
  });

  test('csv and json carry the raw numbers', () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE, finalAcc: 91 });
    writeFakeRun(dirs, { name: IB('0_5'), ratio: 0.5, finalAcc: 90.5 });
    const sections = buildReport([BASE, IB('0_5')].map((name) => loadRun(name, dirs)));
    const csv = formatReport(sections, 'csv').trim().split('\n');
    assert.equal(csv[0], 'section,method,runs,n,best_acc_mean,best_acc_std,delta_acc_points,minutes_mean,minutes_std,delta_minutes_percent,saved_percent_mean,saved_percent_std,seconds_per_1k_samples,complete,excluded,timings_comparable');
    assert.equal(csv.length, 3);
    assert.ok(csv[2]!.startsWith(`fashion-mnist · ResNetTiny · batch 128 · 10 epochs,"InfoBatch r = 0.5, δ = 0.875",${IB('0_5')},1,90.5,,-0.5,`), csv[2]);
    const json = JSON.parse(formatReport(sections, 'json')) as { rows: { label: string; bestAcc: { mean: number } }[] }[];
    assert.equal(json[0]!.rows[1]!.label, 'InfoBatch r = 0.5, δ = 0.875');
    assert.equal(json[0]!.rows[1]!.bestAcc.mean, 90.5);
  });
});

describe('infobatch report', () => {
  test('every run in --log_dir by default; writes report.md and says so', async () => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE });
    writeFakeRun(dirs, { name: IB('0_5'), ratio: 0.5 });
    const lines: string[] = [];
    const text = await runReport({ ...dirs, names: [], format: 'md', write: true }, (line) => lines.push(line));
    const file = path.join(dirs.figureDir, 'report.md');
    assert.equal(readFileSync(file, 'utf8'), text);
    assert.deepEqual(lines, [`wrote ${file}`]);
    await runReport({ ...dirs, names: [], format: 'md', write: true }, (line) => lines.push(line));
    assert.equal(lines[1], `replaced ${file}`);
  });

  test('no runs, or a missing one: clear errors', async () => {
    const dirs = freshDirs();
    await assert.rejects(runReport({ ...dirs, names: [], format: 'md', write: false }, () => {}), /no runs to report: .*logs\/ has no logs/);
    mkdirSync(dirs.logDir, { recursive: true });
    writeFakeRun(dirs, { name: BASE });
    await assert.rejects(runReport({ ...dirs, names: [BASE, 'typo'], format: 'md', write: false }, () => {}), /no log for run "typo"/);
  });

  test('the yargs command prints the chosen format', async (t) => {
    const dirs = freshDirs();
    writeFakeRun(dirs, { name: BASE });
    const written: string[] = [];
    // The test runner talks to its parent through stdout in binary chunks: pass those on, keep the text.
    const passOn = process.stdout.write.bind(process.stdout) as (chunk: unknown) => boolean;
    t.mock.method(process.stdout, 'write', (chunk: unknown) => {
      if (typeof chunk !== 'string') return passOn(chunk);
      written.push(chunk);
      return true;
    });
    t.mock.method(console, 'error', () => {});
    await yargs()
      .command(reportCommand)
      .strict()
      .fail((message, error) => {
        throw error ?? new Error(message);
      })
      .parseAsync(['report', BASE, '--format', 'json', '--log_dir', dirs.logDir, '--model_dir', dirs.modelDir, '--figure_dir', dirs.figureDir]);
    t.mock.restoreAll();
    const parsed = JSON.parse(written.join('')) as { rows: { group: string }[] }[];
    assert.equal(parsed[0]!.rows[0]!.group, BASE);
    assert.ok(readFileSync(path.join(dirs.figureDir, 'report.json'), 'utf8').length > 0);
  });
});
