import * as tf from '@tensorflow/tfjs-core';
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
