import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostAddonPath, hostSkip, root } from './helpers/cuda-host-build.js';

/**
 * The GPU check's hand-over (`npm run gpu-check:bundle`, docs/gpu-check.md), packed and used here as on the
 * GPU machine, with the host-emulated addon in place of the GPU build: a session gets one 15-minute chance
 * on that machine, so a bundle that does not run, or a check script that overruns its deadline, must show
 * here first. The bundled CLI and benchmark are esbuild's single files, which a missed import breaks only
 * at run time.
 */

const xzMissing = spawnSync('xz', ['--version']).status !== 0 && 'xz is not installed';
const skip = hostSkip || xzMissing || (process.platform !== 'linux' || process.arch !== 'x64' ? 'the hand-over is for linux-x64' : false);

describe('the GPU check hand-over', { skip }, () => {
  let dir = '';
  let handover = '';
  let env: Record<string, string> = {};
  const run = (command: string, args: string[], extra: Record<string, string> = {}, timeout = 240_000) => {
    // Without the test runner's NODE_TEST_CONTEXT, which would make a nested `node --test` report to it instead of printing.
    const { NODE_TEST_CONTEXT: _, ...outside } = process.env;
    return spawnSync(command, args, { cwd: join(dir, 'work'), env: { ...outside, ...env, ...extra }, encoding: 'utf8', timeout });
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'infobatch-handover-'));
    // The shipped 10k subset as the carried data: packing the full set's xz takes most of a minute.
    const pack = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'bundle-gpu-check.ts'), '--out', dir, '--data', join(root, 'datasets', 'fashion-mnist-10k')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(pack.status, 0, pack.stdout + pack.stderr);
    // As the device call does: the archive unpacked elsewhere, run from a working tree that carries build/gpu-carry.
    mkdirSync(join(dir, 'ho'));
    const untar = spawnSync('tar', ['xJf', join(dir, 'gpu-carry', 'infobatch-gpu-check.tar.xz'), '-C', join(dir, 'ho')], { encoding: 'utf8' });
    assert.equal(untar.status, 0, untar.stderr);
    handover = join(dir, 'ho', 'infobatch-gpu-check');
    mkdirSync(join(dir, 'work', 'build'), { recursive: true });
    symlinkSync(join(dir, 'gpu-carry'), join(dir, 'work', 'build', 'gpu-carry'));
    // Library discovery only looks for the files; the host addon opens none of them.
    mkdirSync(join(dir, 'cuda', 'lib64'), { recursive: true });
    for (const name of ['libcudnn.so.9', 'libcublas.so.13', 'libcublasLt.so.13']) writeFileSync(join(dir, 'cuda', 'lib64', name), '');
    mkdirSync(join(dir, 'tmp'));
    env = {
      CUDA_HOME: join(dir, 'cuda'),
      INFOBATCH_CUDA_ADDON: hostAddonPath,
      // One layout and a small device: few and small algorithm searches (each writes its workspace in full).
      INFOBATCH_CUDA_CONV_LAYOUT: 'nhwc',
      INFOBATCH_HOST_EMULATION_MIB: '128',
      // Where gpu-data.sh decompresses the carried data: this test's own.
      TMPDIR: join(dir, 'tmp'),
    };
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds what the GPU machine needs: Node, the two bundles, the addon sources, the N-API headers, the scripts, and the data beside it', () => {
    for (const path of ['bin/node', 'infobatch.mjs', 'cuda-tests.mjs', 'native/cuda/src/device_allocator.cc', 'scripts/build-cuda.mjs', 'include/node/node_api.h',
      'node_modules/node-addon-api/napi.h', 'gpu-check-cuda.sh', 'gpu-real-run.sh', 'gpu-data.sh', 'gpu-check-torch.py', 'torch_resnet.py']) {
      assert.ok(existsSync(join(handover, path)), `${path} is missing from the hand-over`);
    }
    assert.deepEqual(readdirSync(join(dir, 'gpu-carry', 'fashion-mnist')).filter((n) => n.endsWith('.xz')).sort(),
      ['t10k-images-idx3-ubyte.xz', 't10k-labels-idx1-ubyte.xz', 'train-images-idx3-ubyte.xz', 'train-labels-idx1-ubyte.xz']);
  });

  it('its bundled Node trains with the bundled CLI on the carried data (cuda backend), and runs the bundled cuda tests', () => {
    const data = run('bash', ['-c', `source ${JSON.stringify(join(handover, 'gpu-data.sh'))} && find_gpu_data && echo "$GPU_DATA"`]);
    assert.equal(data.status, 0, data.stderr);
    const dataDir = data.stdout.trim();
    assert.equal(dataDir, join(dir, 'tmp', 'infobatch-fashion-mnist'));
    // Files left there from another pack are decompressed again, not reused.
    const labels = join(dataDir, 't10k-labels-idx1-ubyte');
    const good = readFileSync(labels);
    writeFileSync(labels, 'left by another pack');
    writeFileSync(join(dataDir, 'source.json'), '[]');
    assert.equal(run('bash', ['-c', `source ${JSON.stringify(join(handover, 'gpu-data.sh'))} && find_gpu_data`]).status, 0);
    assert.deepEqual(readFileSync(labels), good);
    assert.equal(readFileSync(join(dataDir, 'source.json'), 'utf8'), readFileSync(join(dir, 'gpu-carry', 'fashion-mnist', 'source.json'), 'utf8'));
    const train = run(join(handover, 'bin', 'node'), [join(handover, 'infobatch.mjs'), 'train', '--backend', 'cuda', '--dataset', 'fashion-mnist', '--data_dir', dataDir,
      '--model', 'ResNetTiny', '--train_batch_size', '32', '--num_epoch', '1', '--train_limit', '128', '--test_limit', '64', '--experiment_name', 'handover']);
    assert.equal(train.status, 0, train.stdout + train.stderr);
    assert.match(train.stdout, /^backend: cuda \(requested\), host emulation \(no GPU\)/m);
    assert.match(train.stdout, /^done: best test accuracy \d+\.\d\d %/m);
    const bench = run(join(handover, 'bin', 'node'), [join(handover, 'infobatch.mjs'), 'gpu-check-bench', '--backend', 'cuda', '--model', 'ResNetTiny', '--batch', '8',
      '--warmup', '1', '--steps', '1', '--eval', '--profile']);
    assert.equal(bench.status, 0, bench.stdout + bench.stderr);
    const row = JSON.parse(/^GPU_CHECK (.*)$/m.exec(bench.stdout)?.[1] ?? 'null') as { backend: string; allocator: string; dispatchesPerStep: number } | null;
    assert.ok(row && row.backend === 'cuda' && row.allocator === 'CUDA memory pool' && row.dispatchesPerStep > 0, bench.stdout);
    assert.match(bench.stdout, /^GPU time per tfjs kernel \(mean of 2 steps/m);
    // With the addon the check would build there (absent here; the host-emulated one would run the whole GPU
    // suite, minutes on the CPU): the bundled tests load, and the GPU part says why it skips.
    const gpuBuild = join(handover, 'native', 'cuda', 'build', 'infobatch_cuda.node');
    const tests = run(join(handover, 'bin', 'node'), ['--test', join(handover, 'cuda-tests.mjs')], { INFOBATCH_CUDA_ADDON: gpuBuild }, 120_000);
    assert.equal(tests.status, 0, tests.stdout + tests.stderr);
    assert.match(tests.stdout, /^# cuda GPU tests skipped: the cuda addon is not built \(/m);
  });

  it('gpu-real-run.sh stops the sweep at its limit leaving the run resumable, and the same call resumes it and brings back the logs and records', () => {
    // The real run of a GPU session, shrunk: 3 epochs of 128 images per run. The first call's 15 s end
    // inside the sweep (each epoch takes seconds on the emulation): in the baseline's first epoch, which the
    // next call trains again, or later, which it resumes. The second call finishes both runs.
    const realRun = (out: string, seconds: number) => {
      mkdirSync(out);
      const started = performance.now();
      const call = run('bash', [join(handover, 'gpu-real-run.sh')], {
        OUT: out, GPU_RUN_SECONDS: String(seconds), GPU_RUN_MODEL: 'ResNetTiny', GPU_RUN_BATCH: '32', GPU_RUN_EPOCHS: '3', GPU_RUN_ARGS: '--train_limit 128 --test_limit 64',
      }, (seconds + 120) * 1000);
      const log = readFileSync(join(out, 'gpu-real-run.log'), 'utf8');
      const archived = spawnSync('tar', ['tzf', join(out, 'gpu-real-run.tar.gz')], { encoding: 'utf8' }).stdout.split('\n').filter((n) => n && !n.endsWith('/'));
      return { call, log, archived, seconds: (performance.now() - started) / 1000 };
    };
    const names = ['fashion-mnist_resnettiny_baseline_b32', 'fashion-mnist_resnettiny_infobatch_r_0_5_b32'];
    const status = (name: string) => {
      const record = join(dir, 'work', 'saved_models', name, 'run.json');
      return existsSync(record) ? (JSON.parse(readFileSync(record, 'utf8')) as { status: string }).status : null;
    };

    const stopped = realRun(join(dir, 'real-1'), 15);
    assert.equal(stopped.call.status, 124, stopped.call.stdout + stopped.call.stderr);
    assert.match(stopped.call.stdout, /^gpu-real-run: stopped after 15s; the same call resumes$/m);
    assert.ok(stopped.seconds < 15 + 30, `the sweep outlived its limit and the 30 s grace: ${stopped.seconds.toFixed(0)} s`);
    assert.match(stopped.log, /^sweep interrupted: run the same sweep command again to continue/m);
    const interrupted = names.find((name) => status(name) === 'interrupted');
    assert.ok(interrupted, `no run record says interrupted\n${stopped.log}`);
    assert.ok(stopped.archived.includes(`saved_models/${interrupted}/run.json`), stopped.archived.join('\n'));
    assert.ok(!stopped.archived.some((name) => name.endsWith('model.json') || name.includes('checkpoint')), 'the archive must not carry the models');

    const resumed = realRun(join(dir, 'real-2'), 300);
    assert.equal(resumed.call.status, 0, resumed.log);
    assert.match(resumed.log, new RegExp(`^  ${interrupted}: (interrupted, resume|stopped before its first epoch finished, start again)$`, 'm'));
    assert.match(resumed.log, /^\| InfoBatch r = 0\.5, δ = 0\.875 \| /m);
    assert.match(resumed.log, /^warning: figures not written \(the GPU-check bundle draws no figures\)/m);
    for (const name of names) {
      assert.ok(resumed.archived.includes(`logs/${name}.csv`) && resumed.archived.includes(`saved_models/${name}/run.json`), resumed.archived.join('\n'));
      // Every epoch once, whether the run went on from its checkpoint or started again.
      const epochs = readFileSync(join(dir, 'work', 'logs', `${name}.csv`), 'utf8').trim().split('\n').slice(1).map((line) => line.split(',')[0]);
      assert.deepEqual(epochs, ['1', '2', '3'], name);
    }
    assert.ok(resumed.archived.includes('figures/report.md'));
  });

  it('gpu-check-cuda.sh stops a step at the deadline, skips what there is no time for, and still prints the summary', () => {
    // 80 s: the tests (which take minutes on the emulation) start, as 65 s are left after the 15 s reserve,
    // and are stopped there; every step after them says it was skipped; the summary still comes.
    const deadline = 80;
    const out = join(dir, 'out');
    mkdirSync(out);
    const started = performance.now();
    const check = run('bash', [join(handover, 'gpu-check-cuda.sh')], {
      GPU_CHECK_REHEARSAL: '1', GPU_CHECK_SECONDS: String(deadline), GPU_CHECK_STEPS: '1', GPU_CHECK_REAL_RUN: '0', OUT: out,
    }, (deadline + 120) * 1000);
    const seconds = (performance.now() - started) / 1000;
    const log = readFileSync(join(out, 'gpu-check-cuda.log'), 'utf8');
    assert.ok(seconds < deadline, `ran ${seconds.toFixed(0)} s against a ${deadline} s deadline\n${log}`);
    assert.ok(seconds > deadline - 25, `ran ${seconds.toFixed(0)} s: the tests were not given the time left\n${log}`);
    assert.match(log, /^cuda tests: STOPPED at its time limit, GPU part ran$/m);
    const skipped = log.match(/^skipped: \d+ s left before the deadline, this step needs at least \d+ s$/gm) ?? [];
    assert.ok(skipped.length >= 7, `${skipped.length} steps skipped\n${log}`);
    assert.match(log, /\n== summary /);
    assert.match(log, /^real run: not run$/m);
    assert.match(log, /^full log: .*; finished \d+ s before the deadline\nno tfjs cuda benchmark result$/m);
    assert.equal(check.status, 1, log);
  });
});
