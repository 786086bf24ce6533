import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hostAddonPath, hostSkip } from './helpers/cuda-host-build.js';
import { cliSourcesPresent, runCli } from './helpers/run-cli.js';

/** The CLI end to end on the host-emulated cuda backend (docs/cuda-host-emulation.md). */

describe('the CLI on the host-emulated cuda backend', { skip: hostSkip || (!cliSourcesPresent && 'no CLI sources here') }, () => {
  it('trains with InfoBatch (`train --backend cuda`), records the backend and precision, and `test` scores the saved model the same', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'infobatch-cuda-cli-'));
    try {
      // Library discovery only looks for the files; the host addon opens none of them.
      const cudaHome = join(cwd, 'cuda');
      mkdirSync(join(cudaHome, 'lib64'), { recursive: true });
      for (const name of ['libcudnn.so.9', 'libcublas.so.13', 'libcublasLt.so.13']) writeFileSync(join(cudaHome, 'lib64', name), '');
      // NHWC only and a 256 MiB device: fewer and smaller algorithm searches (each writes its workspace in full).
      // A device without memory pools (a vGPU's case): the run goes through the fallback allocator, and says so.
      const env = {
        CUDA_HOME: cudaHome, INFOBATCH_CUDA_ADDON: hostAddonPath, INFOBATCH_CUDA_CONV_LAYOUT: 'nhwc', INFOBATCH_HOST_EMULATION_MIB: '256',
        INFOBATCH_HOST_EMULATION_MEMORY_POOLS: 'absent',
      };
      const common = ['--backend', 'cuda', '--dataset', 'fashion-mnist-10k', '--model', 'ResNetTiny', '--test_limit', '64', '--experiment_name', 'e2e'];
      const train = runCli(cwd, ['train', ...common, '--train_limit', '128', '--train_batch_size', '32', '--num_epoch', '3', '--use_info_batch', '--ratio', '0.5'], 300_000, env);
      assert.equal(train.status, 0, train.stdout + train.stderr);
      assert.match(train.stdout, /^backend: cuda \(requested\), host emulation \(no GPU\) \(compute 9\.0, 0 GiB, caching allocator on cudaMalloc \(no CUDA memory pool: the device has no memory pools \(cudaDevAttrMemoryPoolsSupported is 0\)\)\).*precision fp32, convolutions NHWC$/m);
      const saved = /sample-steps saved (\d+\.\d) %/.exec(train.stdout);
      assert.ok(saved && Number(saved[1]) > 0, train.stdout);
      const record = JSON.parse(readFileSync(join(cwd, 'saved_models', 'e2e', 'run.json'), 'utf8')) as { status: string; backend: string; bestTestAcc: number; config: { precision: string } };
      assert.deepEqual([record.status, record.backend, record.config.precision], ['complete', 'cuda', 'fp32']);
      const test = runCli(cwd, ['test', ...common], 120_000, env);
      assert.equal(test.status, 0, test.stdout + test.stderr);
      const accuracy = /^top-1 accuracy: (\d+\.\d\d) %$/m.exec(test.stdout);
      assert.ok(accuracy, test.stdout);
      // The last epoch was the best or not: the saved model is the best one, which `test` must score as training did.
      assert.equal(Number(accuracy[1]), Number(record.bestTestAcc.toFixed(2)));
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

