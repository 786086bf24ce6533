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
