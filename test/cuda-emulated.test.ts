import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { isCudaOutOfMemory } from '../src/backend/cuda/addon.js';
import { outOfGpuMemory } from '../src/train/trainer.js';
import { registerCudaBackend } from '../src/backend/cuda/register.js';
import { createEmulatedAddon } from './helpers/cuda-emulator.js';
import { defineCudaKernelSuite } from './helpers/cuda-kernel-suite.js';

/**
 * The cuda backend's TypeScript half on any machine: the kernel suite of test/cuda.test.ts with the
 * addon's interface emulated in JavaScript (test/helpers/cuda-emulator.ts). Proves shapes, strides,
 * dtypes, padding, buffer lifetimes and fallbacks; proves nothing about the CUDA code.
 */
const addon = createEmulatedAddon();
registerCudaBackend(addon);

defineCudaKernelSuite('cuda backend on an emulated addon, against the cpu backend', {
  skip: false,
  setup: async () => {
    await tf.setBackend('cuda');
    return addon;
  },
  memorySteps: 20,
  learnSteps: 40,
});

it('running out of GPU memory is an error the trainer turns into one line naming the batch size', async () => {
  await tf.setBackend('cuda');
  const bytesBefore = addon.stats().bytesInUse;
  addon.capacityBytes = bytesBefore + 2 ** 20;
  let caught: unknown;
  try {
    // A 16 MiB product of two small inputs.
    tf.tidy(() => tf.matMul(tf.ones([2048, 8]), tf.ones([8, 2048])));
  } catch (error) {
    caught = error;
  } finally {
    addon.capacityBytes = Infinity;
  }
  assert.ok(isCudaOutOfMemory(caught), String(caught));
  assert.equal(addon.stats().bytesInUse, bytesBefore, 'nothing the failed step allocated stays behind');
  const line = outOfGpuMemory({ batchSize: 256, evalBatchSize: 500 }, caught).message;
  assert.match(line, /^out of GPU memory with --train_batch_size 256 \(--eval_batch_size 500\): CUDA out of memory: .*; try a smaller batch, e\.g\. --train_batch_size 128; the last checkpoint and the best model are intact$/);
});

it('npm run bench:cuda-host prints the host side of a step: ms, tfjs kernel calls, addon calls, uploads', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bench-cuda-host.ts', '--model', 'ResNetTiny', '--batch', '4', '--steps', '1'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^ResNetTiny, batch 4, cuda backend on an idle addon: host \d+\.\d ms per step \(median of 1; min \d+\.\d\)$/m);
  assert.match(run.stdout, /^tfjs kernel calls per step: \d+ \(.*InfobatchBatchNormTrain \d+.*\)$/m);
  assert.match(run.stdout, /^addon calls per step: \d+ \(.*conv2d \d+.*\)$/m);
  assert.match(run.stdout, /^uploads per step: \d+ \(elements: [\d, ]+\)$/m);
  const memory = /^device memory of the backend's tensors: peak (\d+\.\d) MiB during a step, (\d+\.\d) MiB held between steps/m.exec(run.stdout);
  assert.ok(memory && Number(memory[1]) > Number(memory[2]) && Number(memory[2]) > 0, run.stdout);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bench-cuda-host.ts', '--model', 'ResNet99'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.trim(), /^bench-cuda-host: unknown --model "ResNet99"; choose one of: /);
});
