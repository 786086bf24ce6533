import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeExtractedFolder } from './helpers/cifar-archive.js';

/** Runs the CLI from sources (as `npx infobatch` runs the compiled copy) in a scratch working directory. */
const cli = resolve('src/cli/index.ts');
// Resolved here: the child runs in a scratch directory where `--import tsx` would not find the package.
const tsx = import.meta.resolve('tsx');
const cwd = mkdtempSync(join(tmpdir(), 'infobatch-cli-'));
after(() => rmSync(cwd, { recursive: true, force: true }));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', tsx, cli, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Bad input: exit code 2, exactly one line on stderr that names the problem, and nothing created. */
function assertUsageError(args: string[], pattern: RegExp): void {
  const { status, stderr } = run(...args);
  assert.equal(status, 2, `${args.join(' ')}: ${stderr}`);
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.match(lines[0]!, /^infobatch: error: /);
  assert.match(lines[0]!, pattern);
  assert.ok(!existsSync(join(cwd, 'logs')) && !existsSync(join(cwd, 'saved_models')), 'no files written');
}

describe('command line', () => {
  it('accepts the reproduction commands as written (checked up to the dataset step, which is offline here)', () => {
    const { status, stderr } = run(
      'train', '--experiment_name', 'cifar10_resnet18_infobatch_r_0_5_b256', '--use_info_batch', '--model', 'ResNet18',
      '--train_batch_size', '256', '--num_epoch', '100', '--ratio', '0.5', '--delta', '0.875', '--backend', 'cpu',
      '--data_dir', join(cwd, 'no-data'), '--mirror', 'http://127.0.0.1:9/',
    );
    // The flags parse; the run then stops at the CIFAR download, which has no network here.
    assert.notEqual(status, 0);
    assert.doesNotMatch(stderr, /Unknown argument|Invalid values/);
    assert.match(stderr, /cifar/i);
  });

  it('rejects a pruning ratio r ≥ 1', () => assertUsageError(['train', '--ratio', '1'], /--ratio must be in \[0, 1\), got 1/));
  it('rejects δ outside [0, 1]', () => assertUsageError(['train', '--delta', '1.5'], /--delta must be in \[0, 1\]/));
  it('rejects a negative batch size', () => assertUsageError(['train', '--train_batch_size', '-8'], /--train_batch_size must be a positive integer/));
  it('rejects a non-numeric epoch count', () => assertUsageError(['train', '--num_epoch', 'many'], /--num_epoch must be a number, got "many"/));
  it('rejects an unknown model', () => assertUsageError(['train', '--model', 'ResNet19'], /model.*ResNet19/));
  it('rejects an unknown flag', () => assertUsageError(['train', '--ratoi', '0.5'], /Unknown argument: ratoi/));
  it('rejects an unknown backend', () => assertUsageError(['train', '--backend', 'tpu'], /backend/));
  it('rejects testing a model that was never saved', () =>
    assertUsageError(['test', '--experiment_name', 'cifar10_resnet18_baseline_b256', '--model', 'ResNet18'], /no saved model for experiment "cifar10_resnet18_baseline_b256"/));
  it('asks for a command', () => assertUsageError([], /name a command/));

  it('trains, then tests the saved model and prints loss, top-1 and per-class accuracy', () => {
    const common = ['--dataset', 'synthetic', '--model', 'ResNetTiny', '--train_batch_size', '64', '--backend', 'wasm', '--max_lr', '0.1'];
    const train = run('train', '--experiment_name', 'tiny', '--num_epoch', '2', '--use_info_batch', ...common);
    assert.equal(train.status, 0, train.stderr);
    assert.match(train.stdout, /backend: wasm \(requested\)/);
    assert.match(train.stdout, /done: best test accuracy [\d.]+ %.*sample-steps saved/);
    const test = run('test', '--experiment_name', 'tiny', '--model', 'ResNetTiny', '--backend', 'wasm');
    assert.equal(test.status, 0, test.stderr);
    assert.match(test.stdout, /test cross-entropy: \d+\.\d{4} \(label-smoothed 0\.1: \d+\.\d{4}\)/);
    assert.match(test.stdout, /top-1 accuracy: [\d.]+ %/);
    assert.match(test.stdout, /pattern-3 +[\d.]+ %/);
    const wrongModel = run('test', '--experiment_name', 'tiny', '--model', 'ResNet18');
    assert.equal(wrongModel.status, 2);
    assert.match(wrongModel.stderr, /trained a ResNetTiny, not a ResNet18/);
    const again = run('train', '--experiment_name', 'tiny', '--num_epoch', '2', '--use_info_batch', ...common);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already has files/);
  });

  it('tests a coarse-label CIFAR-100 run against the coarse labels, and refuses to resume it with the fine ones', async () => {
    const dataDir = join(cwd, 'cifar100');
    await writeExtractedFolder('cifar100', dataDir, 48, 24);
    const common = ['--dataset', 'cifar100', '--data_dir', dataDir, '--model', 'ResNetTiny', '--train_batch_size', '16', '--backend', 'wasm'];
    const train = run('train', '--experiment_name', 'c100', '--num_epoch', '2', '--cifar100_labels', 'coarse', ...common);
    assert.equal(train.status, 0, train.stderr);
    assert.match(train.stdout, /20 classes/);
    // The test command takes the label set from the run's record; it has no flag that could contradict it.
    const test = run('test', '--experiment_name', 'c100', '--backend', 'wasm');
    assert.equal(test.status, 0, test.stderr);
    assert.match(test.stdout, /ResNetTiny on cifar100, 24 test images/);
    const perClass = test.stdout.split('per-class accuracy:\n')[1]!.trim().split('\n');
    assert.equal(perClass.length, 20, test.stdout);
    assert.match(perClass[0]!, /aquatic_mammals/);
    const resumed = run('train', '--experiment_name', 'c100', '--num_epoch', '2', '--cifar100_labels', 'fine', '--resume', ...common);
    assert.equal(resumed.status, 2, resumed.stderr);
    assert.match(resumed.stderr, /cannot resume "c100" with different settings \(cifar100Labels was "coarse", now "fine"\)/);
  });

  it('documents every flag and shows real examples in --help', () => {
    const { status, stdout } = run('train', '--help');
    assert.equal(status, 0);
    for (const flag of ['experiment_name', 'model', 'train_batch_size', 'num_epoch', 'ratio', 'delta', 'use_info_batch', 'dataset', 'data_dir', 'max_lr', 'seed', 'backend', 'resume', 'overwrite', 'random_pruning', 'no_rescale', 'no_anneal']) {
      assert.match(stdout, new RegExp(`--${flag}\\s+\\S`), `--${flag} has a description`);
    }
    // Examples wrap with the terminal width: compare with whitespace collapsed.
    const flat = stdout.replace(/\s+/g, ' ');
    assert.match(flat, /infobatch train --experiment_name cifar10_resnet18_infobatch_r_0_5_b256 --use_info_batch --model ResNet18/);
    assert.match(flat, /--dataset fashion-mnist --data_dir \/usr\/share\/datasets\/fashion-mnist/);
    assert.match(run('--help').stdout.replace(/\s+/g, ' '), /infobatch test --experiment_name cifar10_resnet18_infobatch_r_0_5_b256 --model ResNet18/);
  });
});
