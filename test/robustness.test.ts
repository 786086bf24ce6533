import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import fsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it, mock } from 'node:test';
import { checkFiniteLosses, DivergenceError } from '../src/train/divergence.js';
import { writeFileAtomic } from '../src/runs/files.js';
import { StorageError } from '../src/runs/errors.js';
import { DEFAULT_CONFIG } from '../src/config.js';
import { runTraining } from '../src/train/trainer.js';
import { checkFlags } from '../src/cli/flag-checks.js';

/**
 * Issue 11: nothing lost, nothing misleading. Most cases run the CLI from sources on the synthetic data with
 * the tiny ResNet on wasm (a few seconds per run) in a scratch folder, and check exit code, the one line on
 * stderr, and that the files on disk are as they should be.
 */
const cli = resolve('src/cli/index.ts');
const tsx = import.meta.resolve('tsx');
const cwd = mkdtempSync(join(tmpdir(), 'infobatch-robust-'));
after(() => rmSync(cwd, { recursive: true, force: true }));

const TINY_BASE = ['--dataset', 'synthetic', '--model', 'ResNetTiny', '--train_batch_size', '64', '--backend', 'wasm', '--test_limit', '128'];
const TINY = [...TINY_BASE, '--train_limit', '256'];

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', tsx, cli, ...args], { cwd, encoding: 'utf8', timeout: 180_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** exit 2 (or `code`), exactly one line on stderr matching `pattern`. */
function assertOneLineError(result: ReturnType<typeof run>, pattern: RegExp, code = 2): void {
  assert.equal(result.status, code, result.stderr + result.stdout);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0]!, /^infobatch: error: /);
  assert.match(lines[0]!, pattern);
}

/** Every file under `dir` with its size and mtime: "nothing touched" means this does not change. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const s = statSync(path);
      if (s.isDirectory()) walk(path);
      else out[path] = `${s.size} ${s.mtimeMs} ${readFileSync(path).subarray(0, 64).toString('hex')}`;
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

const runDir = (name: string): string => join(cwd, 'saved_models', name);
const record = (name: string): { status: string; divergedAt?: { epoch: number; batch: number } } =>
  JSON.parse(readFileSync(join(runDir(name), 'run.json'), 'utf8'));

/** A dead pid: a process that has exited (its pid is not reused within the test). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('flags', () => {
  it('a flag without a value is an error (not the default)', () => assertOneLineError(run('train', ...TINY, '--num_epoch'), /--num_epoch needs a value/));
  it('a flag given twice is an error naming it', () => assertOneLineError(run('train', '--seed', '1', ...TINY, '--seed', '2'), /--seed is given twice/));
  it('a flag declared as an array may repeat (visualize overlays several runs)', () => {
    const declared = { boolean: [], number: [], string: ['infobatch_experiment_name'], array: ['infobatch_experiment_name'], key: { infobatch_experiment_name: true } };
    const given = checkFlags(['--infobatch_experiment_name', 'a', '--infobatch_experiment_name', 'b'], declared);
    assert.deepEqual([...given], ['infobatch_experiment_name']);
    assert.throws(() => checkFlags(['--infobatch_experiment_name', 'a', '--infobatch_experiment_name', 'b'], { ...declared, array: [] }), /given twice/);
  });
  it('a switch with a non-boolean value is an error', () => assertOneLineError(run('train', ...TINY, '--use_info_batch=maybe'), /--use_info_batch is a switch.*"maybe"/));
  it('a non-number echoes what was typed', () => assertOneLineError(run('train', ...TINY, '--ratio', 'abc'), /--ratio must be a number, got "abc"/));
  it('test rejects an experiment name outside the run folders', () => assertOneLineError(run('test', '--experiment_name', '../x'), /--experiment_name "\.\.\/x" must be/));
  it('a too-long experiment name is refused', () => assertOneLineError(run('train', ...TINY, '--experiment_name', 'x'.repeat(240)), /at most 200/));
  it('nothing of the above created files', () => assert.ok(!existsSync(join(cwd, 'logs')) && !existsSync(join(cwd, 'saved_models'))));
});

describe('folders checked before training', () => {
  it('a --log_dir that is a file', () => {
    writeFileSync(join(cwd, 'a-file'), 'x');
    assertOneLineError(run('train', ...TINY, '--num_epoch', '1', '--log_dir', 'a-file/logs'), /--log_dir a-file\/logs: .* is a file, not a folder/);
  });
  it('a read-only --model_dir', () => assertOneLineError(run('train', ...TINY, '--num_epoch', '1', '--model_dir', '/sys/infobatch-models'), /--model_dir \/sys\/infobatch-models: cannot write/));
  it('disk full while writing: a StorageError naming the file, and no temp file left', async () => {
    const dir = join(cwd, 'enospc');
    mkdirSync(dir);
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const writeFile = mock.method(fsPromises, 'writeFile', async (path: string) => {
      writeFileSync(path, 'partial');
      throw full;
    });
    try {
      await assert.rejects(writeFileAtomic(join(dir, 'run.json'), '{}'), (e: unknown) => e instanceof StorageError && /cannot write .*run\.json: the disk is full \(ENOSPC\)/.test(e.message));
    } finally {
      writeFile.mock.restore();
    }
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe('runs of one experiment', () => {
  it('overwrite deletes nothing when the data (or anything else) fails to load', () => {
    const first = run('train', ...TINY, '--experiment_name', 'keep', '--num_epoch', '1');
    assert.equal(first.status, 0, first.stderr);
    const before = snapshot(join(cwd, 'saved_models', 'keep'));
    const log = readFileSync(join(cwd, 'logs', 'keep.csv'), 'utf8');
    const failed = run('train', ...TINY, '--experiment_name', 'keep', '--num_epoch', '1', '--overwrite', '--dataset', 'cifar10', '--data_dir', join(cwd, 'no-data'), '--mirror', 'http://127.0.0.1:9/');
    assert.equal(failed.status, 2, failed.stderr);
    assert.deepEqual(snapshot(join(cwd, 'saved_models', 'keep')), before);
    assert.equal(readFileSync(join(cwd, 'logs', 'keep.csv'), 'utf8'), log);
  });

  it('a second run of a locked experiment is refused naming the holder; a dead holder\'s lock is taken over', () => {
    mkdirSync(join(cwd, 'saved_models'), { recursive: true });
    const holder = spawn('sleep', ['60']);
    try {
      writeFileSync(join(cwd, 'saved_models', 'locked.lock'), `${holder.pid}\n`);
      assertOneLineError(run('train', ...TINY, '--experiment_name', 'locked', '--num_epoch', '1'), new RegExp(`being trained by process ${holder.pid}`));
      assert.ok(!existsSync(runDir('locked')), 'nothing written');
    } finally {
      holder.kill();
    }
    writeFileSync(join(cwd, 'saved_models', 'locked.lock'), `${deadPid()}\n`);
    const again = run('train', ...TINY, '--experiment_name', 'locked', '--num_epoch', '1');
    assert.equal(again.status, 0, again.stderr);
    assert.ok(!existsSync(join(cwd, 'saved_models', 'locked.lock')), 'released on exit');
  });

  it('two runs started at once: one trains, the other is refused', async () => {
    const start = () =>
      new Promise<{ status: number | null; stderr: string }>((done) => {
        const child = spawn(process.execPath, ['--import', tsx, cli, 'train', ...TINY, '--experiment_name', 'twins', '--num_epoch', '1'], { cwd });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('exit', (status) => done({ status, stderr }));
      });
    const results = await Promise.all([start(), start()]);
    assert.deepEqual(results.map((r) => r.status).sort(), [0, 2], results.map((r) => r.stderr).join('\n'));
    const refused = results.find((r) => r.status === 2)!;
    // "another process" when the refused run read the lock in the instant between its creation and its pid.
    assert.match(refused.stderr, /being trained by (process \d+|another process)|already has files/);
    const rows = readFileSync(join(cwd, 'logs', 'twins.csv'), 'utf8').trim().split('\n');
    assert.equal(rows.length, 2, 'one header, one epoch: logged once');
  });

  it('leftovers of killed writes are removed at the next start', () => {
    const name = 'leftovers';
    const first = run('train', ...TINY, '--experiment_name', name, '--num_epoch', '2', '--use_info_batch');
    assert.equal(first.status, 0, first.stderr);
    const pid = deadPid();
    const tmp = join(runDir(name), `run.json.tmp-${pid}`);
    const staging = join(runDir(name), `checkpoint.staging-${pid}`);
    const logTmp = join(cwd, 'logs', `${name}.csv.tmp-${pid}`);
    writeFileSync(tmp, 'half');
    mkdirSync(staging);
    writeFileSync(logTmp, 'half');
    const again = run('train', ...TINY, '--experiment_name', name, '--num_epoch', '2', '--use_info_batch', '--overwrite');
    assert.equal(again.status, 0, again.stderr);
    assert.ok(!existsSync(tmp) && !existsSync(staging) && !existsSync(logTmp));
  });
});

describe('divergence', () => {
  it('names the batch that produced the non-finite loss (which may be read back late)', () => {
    assert.throws(() => checkFiniteLosses(new Float32Array([0.5, Number.NaN]), 2, 6), (e: unknown) => e instanceof DivergenceError && e.message === 'loss diverged at epoch 3, batch 7; try a lower --max_lr');
    checkFiniteLosses(new Float32Array([0.5, 2]), 0, 0);
  });

  it('--max_lr 1e8 stops at once with one line, keeps no non-finite model, marks the run diverged, and the checkpoint stays resumable', () => {
    const args = ['train', ...TINY, '--experiment_name', 'blowup', '--num_epoch', '3', '--max_lr', '1e8'];
    const result = run(...args);
    // In training (epoch e, batch b) or, when the last batches blew the weights up, in the evaluation after it.
    assertOneLineError(result, /(^infobatch: error: loss diverged at epoch \d+, batch \d+|test loss diverged at epoch \d+); try a lower --max_lr$/, 3);
    const saved = record('blowup');
    assert.equal(saved.status, 'diverged');
    assert.ok(saved.divergedAt && saved.divergedAt.epoch >= 1 && saved.divergedAt.batch >= 0);
    const log = existsSync(join(cwd, 'logs', 'blowup.csv')) ? readFileSync(join(cwd, 'logs', 'blowup.csv'), 'utf8') : '';
    assert.doesNotMatch(log, /NaN|Infinity/);
    if (existsSync(join(runDir('blowup'), 'model.json'))) {
      const test = run('test', '--experiment_name', 'blowup', '--backend', 'wasm');
      assert.equal(test.status, 0, `a saved best model is finite: ${test.stderr}`);
    }
    // Resuming does not crash: it continues from the last finite checkpoint (and diverges again, said the same way).
    if (saved.divergedAt!.epoch > 1) assertOneLineError(run('train', '--experiment_name', 'blowup', '--resume'), /loss diverged at epoch/, 3);
  });

  it('test exits non-zero on a model whose loss is not finite', () => {
    const ok = run('train', ...TINY, '--experiment_name', 'nanmodel', '--num_epoch', '1');
    assert.equal(ok.status, 0, ok.stderr);
    const weights = join(runDir('nanmodel'), 'weights.bin');
    writeFileSync(weights, Buffer.from(new Float32Array(statSync(weights).size / 4).fill(Number.NaN).buffer));
    assertOneLineError(run('test', '--experiment_name', 'nanmodel', '--backend', 'wasm'), /non-finite test loss/);
  });
});

describe('corrupt files: one line naming the file, exit 2, nothing touched', () => {
  const name = 'corrupt';
  const checkpoint = join(runDir(name), 'checkpoint');
  let first = true;
  const cases: [string, (dir: string) => void, RegExp][] = [
    ['state.json not JSON', (d) => writeFileSync(join(d, 'state.json'), '{"version":'), /state\.json is corrupt \(not valid JSON/],
    ['state.json of another version', (d) => writeFileSync(join(d, 'state.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(d, 'state.json'), 'utf8')), version: 99 })), /state\.json is corrupt \(unknown version 99/],
    ['scores.bin short', (d) => writeFileSync(join(d, 'scores.bin'), readFileSync(join(d, 'scores.bin')).subarray(0, 40)), /scores\.bin is corrupt \(40 bytes, expected 1024\)/],
    ['optimizer.bin short', (d) => writeFileSync(join(d, 'optimizer.bin'), readFileSync(join(d, 'optimizer.bin')).subarray(0, 400)), /optimizer\.bin is corrupt/],
    ['weights.bin short', (d) => writeFileSync(join(d, 'weights.bin'), readFileSync(join(d, 'weights.bin')).subarray(0, 100)), /weights\.bin is corrupt \(100 bytes of weights/],
    ['model.json not JSON', (d) => writeFileSync(join(d, 'model.json'), 'nope'), /model\.json is corrupt/],
  ];
  for (const [what, damage, pattern] of cases) {
    it(what, () => {
      if (first) {
        const made = run('train', ...TINY, '--experiment_name', name, '--num_epoch', '3');
        assert.equal(made.status, 0, made.stderr);
        // Make it resumable: mark it unfinished (as after kill -9 in epoch 3) and keep the checkpoint.
        first = false;
      }
      rmSync(join(cwd, 'pristine'), { recursive: true, force: true });
      spawnSync('cp', ['-a', checkpoint, join(cwd, 'pristine')]);
      const rec = JSON.parse(readFileSync(join(runDir(name), 'run.json'), 'utf8'));
      writeFileSync(join(runDir(name), 'run.json'), JSON.stringify({ ...rec, status: 'running' }));
      try {
        damage(checkpoint);
        const before = { ...snapshot(runDir(name)), ...snapshot(join(cwd, 'logs')) };
        assertOneLineError(run('train', '--experiment_name', name, '--resume'), pattern);
        assert.deepEqual({ ...snapshot(runDir(name)), ...snapshot(join(cwd, 'logs')) }, before);
      } finally {
        rmSync(checkpoint, { recursive: true, force: true });
        spawnSync('cp', ['-a', join(cwd, 'pristine'), checkpoint]);
      }
    });
  }
  it('run.json not JSON', () => {
    const record = join(runDir(name), 'run.json');
    const saved = readFileSync(record);
    try {
      writeFileSync(record, '{');
      assertOneLineError(run('train', '--experiment_name', name, '--resume'), /run\.json is corrupt/);
      assertOneLineError(run('test', '--experiment_name', name, '--backend', 'wasm'), /run\.json is corrupt/);
    } finally {
      writeFileSync(record, saved);
    }
  });
  it('a short saved model for test', () => {
    const weights = join(runDir(name), 'weights.bin');
    writeFileSync(weights, readFileSync(weights).subarray(0, 10));
    assertOneLineError(run('test', '--experiment_name', name, '--backend', 'wasm'), /weights\.bin is corrupt/);
  });
});

/** Starts the CLI, sends `signals` (50 ms apart) once stdout matches `waitFor`, and collects what it printed. */
async function signalWhen(args: string[], waitFor: RegExp, signals: NodeJS.Signals[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', tsx, cli, ...args], { cwd });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', async (chunk: Buffer) => {
    stdout += chunk.toString();
    if (sent || !waitFor.test(stdout)) return;
    sent = true;
    for (const signal of signals) {
      child.kill(signal);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  const code = await new Promise<number | null>((done) => child.on('exit', (exitCode) => done(exitCode)));
  return { code, stdout, stderr };
}

describe('interruption', () => {
  it('Ctrl-C stops after the batch, marks the run interrupted and prints the exact resume command, which works', async () => {
    const name = 'ctrlc';
    const first = await signalWhen(['train', ...TINY_BASE, '--train_limit', '2000', '--experiment_name', name, '--num_epoch', '50'], /epoch 1\/50:/, ['SIGINT']);
    assert.equal(first.code, 130, first.stderr);
    assert.match(first.stdout, /Ctrl-C: stopping after the current batch/);
    const line = first.stdout.split('\n').find((l) => l.startsWith('interrupted in epoch'));
    assert.ok(line, first.stdout);
    assert.match(line, /interrupted in epoch \d+\/50 .*: \d+ epoch\(s\) finished and saved; resume with: infobatch train --experiment_name ctrlc --resume$/);
    assert.equal(record(name).status, 'interrupted');
    assert.deepEqual(readdirSync(runDir(name)).filter((f) => /tmp-|staging-/.test(f)), []);
    // Flags given with --resume must agree with the saved settings.
    assertOneLineError(run('train', '--experiment_name', name, '--resume', '--num_epoch', '7'), /cannot resume "ctrlc" with different settings \(epochs was 50, now 7\)/);
    // The printed command, with no other flag, resumes with the saved settings; SIGTERM then stops it the same way.
    const resumed = await signalWhen(['train', '--experiment_name', name, '--resume'], /resuming[\s\S]*epoch \d+\/50:/, ['SIGTERM']);
    assert.equal(resumed.code, 130, resumed.stderr);
    assert.match(resumed.stdout, /resuming "ctrlc" after epoch \d+\/50/);
    assert.match(resumed.stdout, /SIGTERM: stopping after the current batch/);
    assert.match(resumed.stdout, /interrupted in epoch \d+\/50/);
  });

  it('a second Ctrl-C exits at once', async () => {
    const result = await signalWhen(['train', ...TINY_BASE, '--train_limit', '2000', '--experiment_name', 'ctrlc2', '--num_epoch', '50'], /epoch 1\/50:/, ['SIGINT', 'SIGINT']);
    assert.equal(result.code, 130);
    assert.match(result.stderr, /second SIGINT: exiting now/);
  });
});

describe('first things first', () => {
  it('checks the dataset before it probes backends', () => {
    const result = run('train', ...TINY_BASE, '--dataset', 'cifar10', '--data_dir', join(cwd, 'no-cifar'), '--mirror', 'http://127.0.0.1:9/', '--num_epoch', '1');
    assert.equal(result.status, 2, result.stderr);
    assert.doesNotMatch(result.stdout, /backend:/);
  });

  const webgpu = (() => {
    try {
      import.meta.resolve('webgpu');
      return true;
    } catch {
      return false;
    }
  })();
  it("keeps Dawn's warnings off the terminal when auto only looks at WebGPU", { skip: webgpu ? false : 'the optional webgpu package is not installed' }, () => {
    const script = `const { selectBackend } = await import(${JSON.stringify(resolve('src/backend/select.ts'))}); await selectBackend('auto');`;
    const child = spawnSync(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], { cwd, encoding: 'utf8', timeout: 120_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.doesNotMatch(child.stderr + child.stdout, /Warning: /);
  });
});

describe('pruning that cannot happen', () => {
  it('says before training that nothing will be pruned', async () => {
    const lines: string[] = [];
    const dirs = { logDir: join(cwd, 'np-logs'), modelDir: join(cwd, 'np-models') };
    await runTraining(
      { ...DEFAULT_CONFIG, experimentName: 'noprune', dataset: 'synthetic', model: 'ResNetTiny', batchSize: 64, epochs: 2, useInfoBatch: true, ratio: 0.5, delta: 0.875, backend: 'wasm', trainLimit: 128, testLimit: 64 },
      { ...dirs, log: (line) => lines.push(line), interactive: false, stopAfterEpochs: 0 },
    );
    assert.ok(lines.some((line) => /nothing will be pruned in 2 epoch\(s\)/.test(line)), lines.join('\n'));
  });
});
