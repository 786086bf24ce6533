import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadCudaAddon, type CudaAddon } from '../src/backend/cuda/addon.js';
import { describeMissing, findCudaLibraries, type CudaLibraries, type SearchEnvironment } from '../src/backend/cuda/libraries.js';
import { activateCuda } from '../src/backend/cuda.js';
import { defineCudaKernelSuite } from './helpers/cuda-kernel-suite.js';
import { cliSourcesPresent, runCli } from './helpers/run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'infobatch-cuda-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

// ---------------------------------------------------------------- tests that need no GPU (CI runs these)

// Not in the GPU check's bundled copy of this file, which has neither the scripts nor tsx.
it('npm run bench:cuda-host prints the host side of a step: ms, tfjs kernel calls, addon calls, uploads', { skip: cliSourcesPresent ? false : 'the sources are not here' }, () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bench-cuda-host.ts', '--model', 'ResNetTiny', '--batch', '4', '--steps', '1'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^ResNetTiny, batch 4, fp32, cuda backend on an idle addon: host \d+\.\d ms per step \(median of 1; min \d+\.\d\)$/m);
  assert.match(run.stdout, /^tfjs kernel calls per step: \d+ \(.*InfobatchBatchNormTrain \d+.*\)$/m);
  assert.match(run.stdout, /^addon calls per step: \d+ \(.*conv2d \d+.*\)$/m);
  assert.match(run.stdout, /^uploads per step: \d+ \(elements: [\d, ]+\)$/m);
  const memory = /^device memory of the backend's tensors: peak (\d+\.\d) MiB during a step, (\d+\.\d) MiB held between steps/m.exec(run.stdout);
  assert.ok(memory && Number(memory[1]) > Number(memory[2]) && Number(memory[2]) > 0, run.stdout);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bench-cuda-host.ts', '--model', 'ResNet99'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.trim(), /^bench-cuda-host: unknown --model "ResNet99"; choose one of: /);
});

function fakeEnvironment(files: string[], env: Record<string, string> = {}, sites: string[] = []): SearchEnvironment {
  const set = new Set(files);
  return {
    env,
    exists: (file) => set.has(file),
    listDir: (dir) => [...new Set(files.filter((f) => dirname(f) === dir).map((f) => f.slice(dir.length + 1)))].concat(
      [...new Set(files.filter((f) => f.startsWith(`${dir}/`) && dirname(f) !== dir).map((f) => f.slice(dir.length + 1).split('/')[0]!))],
    ),
    sitePackages: () => sites,
    ldconfigDirs: () => [],
    systemDirs: ['/usr/lib/x86_64-linux-gnu'],
  };
}

describe('cuda library discovery', () => {
  const site = '/venv/lib/python3.12/site-packages';
  const cudnnDir = `${site}/nvidia/cudnn/lib`;
  const cublasDir = `${site}/nvidia/cu13/lib`;
  const wheelFiles = [
    `${cudnnDir}/libcudnn.so.9`,
    `${cudnnDir}/libcudnn_cnn.so.9`,
    `${cudnnDir}/libcudnn_ops.so.9`,
    `${cudnnDir}/libcudnn_graph.so.9`,
    `${cudnnDir}/libcudnn_engines_precompiled.so.9`,
    `${cublasDir}/libcublas.so.13`,
    `${cublasDir}/libcublasLt.so.13`,
    `${cublasDir}/libnvrtc.so.13`,
  ];

  it("finds cuDNN 9 and cuBLAS 13 in a Python environment's nvidia-* wheels, sub-libraries in load order", () => {
    const search = findCudaLibraries(fakeEnvironment(wheelFiles, {}, [site]));
    assert.ok(search.found, JSON.stringify(search));
    assert.equal(search.libraries.cudnn, `${cudnnDir}/libcudnn.so.9`);
    assert.equal(search.libraries.cublas, `${cublasDir}/libcublas.so.13`);
    assert.equal(search.libraries.cublasLt, `${cublasDir}/libcublasLt.so.13`);
    assert.equal(search.libraries.cudnnParts[0], `${cublasDir}/libnvrtc.so.13`);
    assert.deepEqual(search.libraries.cudnnParts.slice(1).map((p) => p.slice(cudnnDir.length + 1)), [
      'libcudnn_graph.so.9',
      'libcudnn_engines_precompiled.so.9',
      'libcudnn_ops.so.9',
      'libcudnn_cnn.so.9',
    ]);
  });

  it('prefers CUDA_HOME over LD_LIBRARY_PATH over the wheels, and takes cuBLAS 12 where 13 is absent', () => {
    const files = [...wheelFiles, '/opt/cuda/lib64/libcudnn.so.9', '/ld/libcublas.so.12', '/ld/libcublasLt.so.12'].filter((f) => !f.includes('cu13'));
    const search = findCudaLibraries(fakeEnvironment(files, { CUDA_HOME: '/opt/cuda', LD_LIBRARY_PATH: '/ld' }, [site]));
    assert.ok(search.found);
    assert.equal(search.libraries.cudnn, '/opt/cuda/lib64/libcudnn.so.9');
    assert.equal(search.libraries.cublas, '/ld/libcublas.so.12');
    assert.deepEqual(search.searched.slice(0, 4), ['/opt/cuda/lib64', '/opt/cuda/lib', '/opt/cuda/targets/x86_64-linux/lib', '/ld']);
  });

  it('says what is missing and where it looked', () => {
    const search = findCudaLibraries(fakeEnvironment(wheelFiles.filter((f) => !f.includes('cublas')), { LD_LIBRARY_PATH: '/ld' }, [site]));
    assert.equal(search.found, false);
    if (search.found) return;
    assert.deepEqual(search.missing, ['cuBLAS 12 or 13 (libcublas.so.13/.12 with libcublasLt)']);
    const line = describeMissing(search);
    assert.match(line, /^cuBLAS 12 or 13 .* not found \(looked in \/ld, .*nvidia\/cudnn\/lib, .*\/usr\/lib\/x86_64-linux-gnu\); pip install nvidia-cudnn-cu12/);
    assert.ok(!line.includes('\n'));
  });
});

/** The real cuDNN and cuBLAS where this machine has them (pip wheels, CUDA_HOME…), and the built addon. */
function realLibrariesAndAddon(): { libraries: CudaLibraries; addon: CudaAddon } | string {
  const search = findCudaLibraries();
  if (!search.found) return `no cuDNN/cuBLAS here (${search.missing.join(', ')})`;
  try {
    return { libraries: search.libraries, addon: loadCudaAddon() };
  } catch (error) {
    return (error as Error).message;
  }
}
const real = realLibrariesAndAddon();

describe("the addon with this machine's cuDNN and cuBLAS", { skip: typeof real === 'string' ? real : false }, () => {
  it('opens them and binds every function it declares (init then stops at the device, without a GPU)', { skip: typeof real !== 'string' && real.addon.probe().deviceCount > 0 ? 'a GPU is here: the GPU tests cover init' : false }, () => {
    const { libraries, addon } = real as Exclude<typeof real, string>;
    // Libraries and symbols come first in init; a missing library or symbol would say "cannot load" or "not found in".
    assert.throws(() => addon.init({ ...libraries, device: 0 }), (error: Error) => {
      assert.doesNotMatch(error.message, /cannot load|not found in/);
      assert.match(error.message, /cudaSetDevice/);
      return true;
    });
  });
});

/** Why the GPU tests cannot run here (null: they can). */
async function gpuUnavailable(): Promise<string | null> {
  try {
    await activateCuda('fp32');
    return null;
  } catch (error) {
    return (error as Error).message.split('\n')[0]!;
  } finally {
    await tf.setBackend('cpu');
  }
}
const skipReason = await gpuUnavailable();
if (skipReason) console.log(`cuda GPU tests skipped: ${skipReason}`);

describe('--backend cuda and --precision on the command line', { skip: cliSourcesPresent ? false : 'the CLI sources are not here' }, () => {
  it('without a GPU, --backend cuda is one line saying what is missing, exit 2, before any data is loaded', { skip: skipReason ? false : 'a GPU is here' }, () => {
    const { status, stderr } = runCli(scratch, ['train', '--backend', 'cuda', '--dataset', 'fashion-mnist', '--data_dir', join(scratch, 'no-data'), '--num_epoch', '1']);
    assert.equal(status, 2, stderr);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /^infobatch: error: backend "cuda" is unavailable: (the cuda addon is not built|the cuda addon does not load|no CUDA GPU found|cuDNN 9|cuBLAS)/);
    assert.doesNotMatch(stderr, /fashion|idx|no-data/i);
  });

  const badSettings = [
    { variable: 'INFOBATCH_CUDA_CONV_LAYOUT', value: 'nchw4', choices: 'auto, nhwc or nchw' },
    { variable: 'INFOBATCH_CUDA_ALLOCATOR', value: 'cudaMallocAsync', choices: 'auto, pool or caching' },
  ];
  for (const { variable, value, choices } of badSettings) {
    it(`a bad ${variable} is one line, exit 2, before any data is loaded (GPU or not)`, () => {
      process.env[variable] = value;
      try {
        const { status, stderr } = runCli(scratch, ['train', '--backend', 'cuda', '--dataset', 'fashion-mnist', '--data_dir', join(scratch, 'no-data'), '--num_epoch', '1']);
        assert.equal(status, 2, stderr);
        assert.equal(stderr.trim(), `infobatch: error: backend "cuda" is unavailable: ${variable} must be ${choices}, got "${value}"`);
      } finally {
        delete process.env[variable];
      }
    });
  }

  it('refuses tf32 and bf16 on backends that compute in fp32 only', () => {
    const { status, stderr } = runCli(scratch, ['train', '--backend', 'cpu', '--precision', 'bf16', '--dataset', 'synthetic', '--num_epoch', '1']);
    assert.equal(status, 2, stderr);
    assert.match(stderr.trim(), /^infobatch: error: backend "cpu" is unavailable: it computes in fp32 only; --precision bf16 needs --backend cuda$/);
  });

  it('rejects an unknown precision', () => {
    const { status, stderr } = runCli(scratch, ['train', '--precision', 'fp16']);
    assert.equal(status, 2);
    assert.match(stderr, /precision/);
  });

  it('records the precision in the run config and refuses to resume with another', () => {
    const args = ['train', '--experiment_name', 'precision', '--dataset', 'synthetic', '--model', 'ResNetTiny', '--backend', 'cpu', '--num_epoch', '1', '--train_batch_size', '32', '--train_limit', '32', '--test_limit', '16'];
    const first = runCli(scratch, args);
    assert.equal(first.status, 0, first.stderr);
    const record = JSON.parse(readFileSync(join(scratch, 'saved_models', 'precision', 'run.json'), 'utf8')) as { config: { precision: string } };
    assert.equal(record.config.precision, 'fp32');
    const resumed = runCli(scratch, [...args, '--resume', '--precision', 'tf32']);
    assert.equal(resumed.status, 2, resumed.stderr);
    assert.match(resumed.stderr, /cannot resume "precision" with different settings \(precision was "fp32", now "tf32"\)/);
  });
});

// ---------------------------------------------------------------- on a GPU (skipped without one)

defineCudaKernelSuite('cuda kernels against the cpu backend', {
  skip: skipReason ?? false,
  setup: async () => {
    await activateCuda('fp32');
    return loadCudaAddon();
  },
  memorySteps: 100,
  learnSteps: 40,
});
