import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { buildModel } from '../src/models/registry.js';
import { fit } from '../src/train/fit.js';
import { hostAddon, hostSkip } from './helpers/cuda-host-addon.js';
import { defineCudaKernelSuite, random, relativeError } from './helpers/cuda-kernel-suite.js';

/**
 * The cuda addon on the host emulation with its stream running behind the host, as a GPU's does
 * (docs/cuda-host-emulation.md, deferred mode): a read that does not wait for its copy, a staging buffer
 * reused while a queued copy still reads it, or a result taken before its kernel ran gives stale values.
 * A reading worker thread runs queued work while the main thread queues more.
 *
 * The kernels' blocks and threads also run in a shuffled order here (the other files run them in index
 * order), so a kernel whose result depends on that order, a race on a GPU, fails one of the two; and the
 * launches ask for at most 3 blocks along x and 2 along y and z, so every grid-stride loop goes round
 * several times and a barrier missing between its rounds shows.
 */

const SCHEDULE_SEED = 1;
const GRID_CAPS: [number, number] = [3, 2];

/** Deferred stream work, a shuffled schedule and small grids, as this file runs them; returns the undo. */
function raceExposing(): () => void {
  const depth = hostAddon!.hostEmulationSetDeferred(64);
  const schedule = hostAddon!.hostEmulationSetSchedule('shuffled', SCHEDULE_SEED);
  const caps = hostAddon!.hostEmulationSetGridCaps(...GRID_CAPS);
  return () => {
    hostAddon!.hostEmulationSetDeferred(depth);
    hostAddon!.hostEmulationSetSchedule(schedule);
    hostAddon!.hostEmulationSetGridCaps(...caps);
  };
}

let undoRaceExposing = () => {};
defineCudaKernelSuite('the same kernels with stream work deferred (64 operations behind the host), blocks and threads shuffled, small grids', {
  skip: hostSkip,
  setup: async () => {
    await tf.setBackend('cuda');
    undoRaceExposing = raceExposing();
    return hostAddon!;
  },
  teardown: () => undoRaceExposing(),
  memorySteps: 20,
  learnSteps: 40,
});

describe('stream work deferred behind the host', { skip: hostSkip }, () => {
  const deferred = async (body: () => Promise<void> | void) => {
    await tf.setBackend('cuda');
    const undo = raceExposing();
    try {
      await body();
    } finally {
      undo();
    }
  };

  it('an asynchronous read, made while hundreds of kernels are still queued, returns the last one\'s result', async () => {
    await deferred(async () => {
      let x = tf.zeros([1000]);
      for (let i = 0; i < 300; i++) {
        const next = tf.add(x, 1);
        x.dispose();
        x = next;
      }
      const values = await x.data();
      x.dispose();
      assert.ok(values.every((v) => v === 300), `first value ${values[0]}`);
    });
  });

  it('uploads and reads back-to-back reuse a bounded set of pinned staging blocks, each only once its copy has run', async () => {
    await deferred(async () => {
      const pinned = () => hostAddon!.stats().pinnedBytes;
      const before = pinned(); // what earlier tests left in the pool (kept for reuse)
      let peak = before;
      for (let i = 0; i < 100; i++) {
        const t = tf.tensor1d(new Float32Array(4096).fill(i));
        const doubled = tf.mul(t, 2);
        const [first] = await doubled.data();
        tf.dispose([t, doubled]);
        assert.equal(first, 2 * i);
        peak = Math.max(peak, pinned());
      }
      // An upload, a scalar and a read are in flight at once: a few 64 KiB blocks, not one per iteration.
      assert.ok(peak - before <= 4 * 65536, `pinned staging grew by ${peak - before} bytes`);
    });
  });

  it('fit with InfoBatch trains a ResNetTiny as on cpu: the same samples pruned each epoch, the same losses', async () => {
    const n = 96;
    const images = random(n * 8 * 8 * 3, 7);
    // The label is the channel with the largest mean, a rule the network can learn.
    const labels = Int32Array.from({ length: n }, (_, i) => {
      const sums = [0, 0, 0];
      for (let p = 0; p < 64; p++) for (let c = 0; c < 3; c++) sums[c]! += images[(i * 64 + p) * 3 + c]!;
      return sums.indexOf(Math.max(...sums));
    });
    const train = async () => {
      const model = buildModel('ResNetTiny', { inputShape: [8, 8, 3], numClasses: 3, seed: 5 });
      const x = tf.tensor4d(images, [n, 8, 8, 3]);
      const y = tf.tensor1d(labels, 'int32');
      try {
        return await fit(model, { x, y }, { epochs: 4, batchSize: 16, loss: 'softmaxCrossEntropy', learningRate: 0.05, seed: 0 });
      } finally {
        tf.dispose([x, y]);
        model.dispose();
      }
    };
    await tf.setBackend('cpu');
    const want = await train();
    let got: Awaited<ReturnType<typeof train>> | undefined;
    await deferred(async () => {
      got = await train();
    });
    assert.equal(got!.backend, 'cuda');
    assert.ok(want.savedFraction > 0.05, `InfoBatch pruned ${want.savedFraction}`);
    assert.deepEqual(got!.epochs.map((e) => e.samplesTrained), want.epochs.map((e) => e.samplesTrained));
    got!.epochs.forEach((e, i) => assert.ok(Math.abs(e.loss - want.epochs[i]!.loss) <= 1e-3 * want.epochs[i]!.loss, `epoch ${i}: loss ${e.loss} on cuda, ${want.epochs[i]!.loss} on cpu`));
    // The scores InfoBatch kept (each sample's last loss, read back behind the device) agree too.
    assert.ok(relativeError(Array.from(got!.infobatch.scores), Array.from(want.infobatch.scores)) < 1e-4);
  });

  it('a kernel queued on a buffer freed before it runs fails at the next wait, naming the kernel', async () => {
    await deferred(() => {
      const ptr = hostAddon!.malloc(64);
      const other = hostAddon!.malloc(64);
      hostAddon!.free(ptr); // queued
      hostAddon!.fill(ptr, 16, 0x3f800000); // accepted at the call: the free has not run yet
      try {
        assert.throws(() => hostAddon!.readSync(other, new Float32Array(16)), /^Error: host emulation: queued stream work failed \(reported at the next wait, as a GPU does\): host emulation: fillKernel's argument 0 uses 0x[0-9a-f]+, inside a 64-byte pool block that was already freed/);
      } finally {
        hostAddon!.free(other);
      }
      hostAddon!.synchronize(); // the error was reported once
      // A queued memset (fill with zero bits) is checked when it runs too.
      const zeroed = hostAddon!.malloc(64);
      hostAddon!.free(zeroed);
      hostAddon!.fill(zeroed, 16, 0);
      assert.throws(() => hostAddon!.synchronize(), /cudaMemsetAsync \(when it ran\) uses 0x[0-9a-f]+, inside a 64-byte pool block that was already freed/);
    });
  });
});

