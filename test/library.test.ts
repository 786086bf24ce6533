import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  BackendError,
  fit,
  InfoBatch,
  oneCycle,
  runEpoch,
  ScoreFeedback,
  sgdUpdater,
  SgdMomentum,
  tf,
  tfl,
  trainableVariables,
  weightedLoss,
  PER_SAMPLE_LOSSES,
  argmaxCorrect,
  type BatchLogs,
  type EpochRunner,
} from '../src/index.js';

/**
 * The library API and the shared epoch runner on the cpu backend, with a small MLP on generated tabular
 * data (two classes split by a fixed linear rule): seconds.
 */
const N = 300;
const D = 6;
const x = new Float32Array(N * D);
const y = new Int32Array(N);
for (let i = 0; i < N; i++) {
  let s = 0;
  for (let j = 0; j < D; j++) {
    const v = Math.sin(i * 12.9898 + j * 78.233) * 2;
    x[i * D + j] = v;
    s += v * (j % 2 === 0 ? 1 : -0.5);
  }
  y[i] = s > 0 ? 1 : 0;
}

function mlp(seed = 1): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [D], units: 12, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }),
      tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

before(async () => {
  await tf.setBackend('cpu');
});

describe('epoch runner: lagged read-back', () => {
  /** Trains `epochs` epochs through runEpoch with the given lag, recording when each read happened. */
  async function train(readLag: number, epochs: number) {
    const model = mlp();
    const variables = trainableVariables(model);
    const optimizer = new SgdMomentum(variables, 0);
    const sampler = new InfoBatch({ numSamples: N, epochs: 4, batchSize: 32, ratio: 0.5, delta: 0.75, seed: 7 });
    const xs = tf.tensor2d(x, [N, D]);
    const ys = tf.tensor1d(y, 'int32');
    let dispatched = 0;
    const readsAt: number[] = [];
    const batchOrder: number[] = [];
    const runner: EpochRunner = {
      sampler,
      step: { model, variables, updater: sgdUpdater(optimizer), loss: PER_SAMPLE_LOSSES.softmaxCrossEntropy(), correct: argmaxCorrect },
      makeBatch: (indices) => {
        dispatched++;
        return tf.tidy(() => ({ inputs: tf.gather(xs, tf.tensor1d(indices, 'int32')), targets: tf.gather(ys, tf.tensor1d(indices, 'int32')) }));
      },
      hyper: () => ({ lr: 0.1, momentum: 0.9 }),
      readLag,
      readTensor: (t) => {
        readsAt.push(dispatched);
        return t.data();
      },
      onBatchLosses: ({ batch }) => void batchOrder.push(batch),
    };
    const results = [];
    const perEpochReads: number[][] = [];
    for (let e = 0; e < epochs; e++) {
      readsAt.length = 0;
      dispatched = 0;
      results.push(await runEpoch(runner, e));
      perEpochReads.push([...readsAt]);
    }
    const next = sampler.planEpoch(epochs);
    tf.dispose([xs, ys]);
    optimizer.dispose();
    model.dispose();
    return { scores: Float32Array.from(sampler.scores), next, results, perEpochReads, batchOrder };
  }

  it('hands InfoBatch exactly the scores of the synchronous loop: same plan of the next epoch', async () => {
    const synchronous = await train(0, 2);
    const lagged = await train(4, 2);
    assert.deepEqual(lagged.scores, synchronous.scores);
    assert.deepEqual(lagged.next.indices, synchronous.next.indices);
    assert.deepEqual(lagged.next.weights, synchronous.next.weights);
    assert.ok(lagged.next.skipped > 0, 'epoch 3 prunes');
    assert.deepEqual(
      lagged.results.map((r) => [r.lossSum, r.correct, r.seen]),
      synchronous.results.map((r) => [r.lossSum, r.correct, r.seen]),
    );
  });

  it('reads batch b only after step b + lag was dispatched (at most lag + 1 batches unread), in batch order', async () => {
    const lag = 3;
    const { perEpochReads, results, batchOrder } = await train(lag, 2);
    for (const [e, reads] of perEpochReads.entries()) {
      const batches = results[e]!.plan.numBatches;
      // Two reads per batch (per-sample losses, correct count), issued together.
      assert.equal(reads.length, 2 * batches);
      for (let b = 0; b < batches; b++) {
        const at = reads[2 * b]!;
        assert.equal(at, Math.min(b + lag + 1, batches), `epoch ${e}: batch ${b} read after ${at} dispatched steps`);
      }
    }
    const epoch0 = results[0]!.plan.numBatches;
    assert.deepEqual(batchOrder.slice(0, epoch0), Array.from({ length: epoch0 }, (_, b) => b));
    // The synchronous loop reads each batch right after its own step: what the lag removes.
    const sync = await train(0, 1);
    assert.deepEqual(sync.perEpochReads[0]!.filter((_, i) => i % 2 === 0), Array.from({ length: sync.results[0]!.plan.numBatches }, (_, b) => b + 1));
  });

  it('leaves no tensor behind, also when a batch check throws', async () => {
    const before = tf.memory().numTensors;
    await train(4, 2);
    assert.equal(tf.memory().numTensors, before);
    const model = mlp();
    const variables = trainableVariables(model);
    const optimizer = new SgdMomentum(variables, 0);
    const sampler = new InfoBatch({ numSamples: N, epochs: 2, batchSize: 32, ratio: 0.5, delta: 1, seed: 0 });
    const start = tf.memory().numTensors;
    await assert.rejects(
      runEpoch(
        {
          sampler,
          step: { model, variables, updater: sgdUpdater(optimizer), loss: PER_SAMPLE_LOSSES.softmaxCrossEntropy() },
          makeBatch: (indices) => ({ inputs: tf.tensor2d(x.subarray(0, indices.length * D), [indices.length, D]), targets: tf.tensor1d(y.subarray(0, indices.length), 'int32') }),
          hyper: () => ({ lr: 0.1 }),
          onBatchLosses: ({ batch }) => {
            if (batch === 2) throw new Error('diverged at batch 2');
          },
        },
        0,
      ),
      /diverged at batch 2/,
    );
    optimizer.dispose();
    // The momentum buffers were created (and disposed) inside; nothing else may remain.
    assert.equal(tf.memory().numTensors, start);
    model.dispose();
  });

  it('stops between batches when shouldStop says so, after reading what it dispatched', async () => {
    const model = mlp();
    const variables = trainableVariables(model);
    const optimizer = new SgdMomentum(variables, 0);
    const sampler = new InfoBatch({ numSamples: N, epochs: 2, batchSize: 32, ratio: 0.5, delta: 1, seed: 0 });
    let batches = 0;
    const result = await runEpoch(
      {
        sampler,
        step: { model, variables, updater: sgdUpdater(optimizer), loss: PER_SAMPLE_LOSSES.softmaxCrossEntropy() },
        makeBatch: (indices) => (batches++, { inputs: tf.tensor2d(x.subarray(0, indices.length * D), [indices.length, D]), targets: tf.tensor1d(y.subarray(0, indices.length), 'int32') }),
        hyper: () => ({ lr: 0.1 }),
        shouldStop: () => batches >= 3,
      },
      0,
    );
    assert.equal(result.stopped, true);
    assert.equal(result.batchesDone, 3);
    assert.equal(result.seen, 96);
    optimizer.dispose();
    model.dispose();
  });
});

describe('weightedLoss and ScoreFeedback (your own loop)', () => {
  it('gives mean(wᵢ·ℓᵢ) to differentiate and keeps the unweighted losses past the tidy', async () => {
    const { loss, losses } = tf.tidy(() => weightedLoss(tf.tensor1d([1, 2, 3, 4]), new Float32Array([1, 2, 1, 2])));
    assert.equal((await loss.data())[0], (1 + 4 + 3 + 8) / 4);
    assert.deepEqual(Array.from(await losses.data()), [1, 2, 3, 4]);
    tf.dispose([loss, losses]);
    assert.throws(() => weightedLoss(tf.tensor1d([1, 2]), [1]), /2 per-sample losses but 1 weights/);
  });

  it('feeds the losses back as scores a few batches later, all of them by flush()', async () => {
    const infobatch = new InfoBatch({ numSamples: 6, epochs: 2, batchSize: 2, ratio: 0.5, delta: 1, seed: 0 });
    const feedback = new ScoreFeedback(infobatch, { readLag: 2 });
    const plan = infobatch.planEpoch(0);
    for (let b = 0; b < plan.numBatches; b++) {
      const { indices } = infobatch.batch(plan, b);
      await feedback.add(indices, tf.tensor1d(Array.from(indices, (i) => i / 10)));
    }
    assert.equal(infobatch.scores.filter((s) => s === 3).length, 4, 'the last two batches are still unread');
    await feedback.flush();
    assert.deepEqual(Array.from(infobatch.scores), [0, 0.1, 0.2, 0.3, 0.4, 0.5].map(Math.fround));
  });
});

describe('fit', () => {
  it('trains with and without InfoBatch through the same loop; InfoBatch skips samples and both learn', async () => {
    const common = { epochs: 5, batchSize: 32, loss: 'softmaxCrossEntropy' as const, learningRate: 0.1, validationData: { x, y }, seed: 3 };
    const baseline = await fit(mlp(), { x, y }, { ...common, infobatch: false });
    const batchLogs: BatchLogs[] = [];
    const epochEnds: number[] = [];
    const pruned = await fit(mlp(), { x, y }, {
      ...common,
      callbacks: { onBatchEnd: (logs) => void batchLogs.push(logs), onEpochEnd: (logs) => void epochEnds.push(batchLogs.length) },
    });
    assert.equal(baseline.savedFraction, 0);
    assert.ok(baseline.epochs.every((e) => e.samplesTrained === N && e.samplesPruned === 0));
    assert.ok(pruned.savedFraction > 0.1, `saved ${pruned.savedFraction}`);
    assert.equal(pruned.samplesTrained, pruned.epochs.reduce((s, e) => s + e.samplesTrained, 0));
    for (const e of pruned.epochs) assert.equal(e.samplesTrained + e.samplesPruned, N);
    // δ = 0.875 of 5 epochs: epochs 0–3 in the pruning phase, epoch 4 anneals on the full data.
    assert.deepEqual(pruned.epochs.map((e) => e.pruning), [true, true, true, true, false]);
    assert.equal(pruned.epochs.at(-1)!.samplesPruned, 0);
    assert.ok(pruned.epochs.at(-1)!.valAccuracy! > 0.85 && baseline.epochs.at(-1)!.valAccuracy! > 0.85);
    // Batch logs come in order, every epoch's before its onEpochEnd, and add up to the epoch's samples.
    let offset = 0;
    pruned.epochs.forEach((epoch, e) => {
      const logs = batchLogs.slice(offset, epochEnds[e]);
      assert.deepEqual(logs.map((l) => l.batch), Array.from({ length: logs.length }, (_, b) => b));
      assert.equal(logs.at(-1)!.samplesTrained, epoch.samplesTrained);
      assert.ok(logs.every((l) => l.samplesPruned === epoch.samplesPruned && l.epoch === e));
      offset = epochEnds[e]!;
    });
  });

  it('takes a batch-builder function, a tf.train optimizer and a per-step schedule', async () => {
    const xs = tf.tensor2d(x, [N, D]);
    const ys = tf.oneHot(tf.tensor1d(y, 'int32'), 2);
    const built: number[] = [];
    const model = mlp();
    const history = await fit(
      model,
      { numSamples: N, batch: (indices) => (built.push(indices.length), tf.tidy(() => ({ x: tf.gather(xs, tf.tensor1d(indices, 'int32')), y: tf.gather(ys, tf.tensor1d(indices, 'int32')) }))) },
      { epochs: 3, batchSize: 50, loss: 'softmaxCrossEntropy', optimizer: tf.train.momentum(0.05, 0.9), learningRate: ({ epoch }) => 0.05 / (epoch + 1) },
    );
    assert.equal(built.reduce((a, b) => a + b, 0), history.samplesTrained);
    assert.deepEqual(history.epochs.map((e) => e.lr), [0.05, 0.025, 0.05 / 3]);
    assert.ok(history.epochs.at(-1)!.accuracy! > 0.8);
    tf.dispose([xs, ys]);
    await assert.rejects(fit(mlp(), { x, y }, { epochs: 1, batchSize: 32, loss: 'softmaxCrossEntropy', optimizer: tf.train.adam(0.01), learningRate: 0.1 }), /cannot change its learning rate/);
  });

  it('rejects bad settings with exceptions naming the setting, before training', async () => {
    const base = { epochs: 2, batchSize: 32, loss: 'softmaxCrossEntropy' as const };
    await assert.rejects(fit(mlp(), { x, y }, { ...base, infobatch: { ratio: 1 } }), (e: unknown) => e instanceof RangeError && /ratio r must be in \[0, 1\)/.test(e.message));
    await assert.rejects(fit(mlp(), { x, y }, { ...base, infobatch: { delta: 1.5 } }), /delta must be in \[0, 1\]/);
    await assert.rejects(fit(mlp(), { x, y }, { ...base, batchSize: 0 }), /batchSize must be a positive integer/);
    await assert.rejects(fit(mlp(), { x, y }, { ...base, loss: 'hinge' as never }), /unknown loss "hinge"/);
    await assert.rejects(fit(mlp(), { x: x.subarray(1), y }, base), /not a multiple of the input row size 6/);
    await assert.rejects(fit(mlp(), { x, y: y.subarray(1) }, base), /y has 299 values for 300 samples/);
    await assert.rejects(fit(mlp(), { x, y }, { ...base, backend: 'no-such' }), (e: unknown) => e instanceof BackendError && /unknown backend "no-such"/.test(e.message));
    assert.equal(tf.getBackend(), 'cpu');
  });

  it('follows a OneCycle schedule sized from the run', async () => {
    const lrs: number[] = [];
    await fit(mlp(), { x, y }, { epochs: 3, batchSize: 50, loss: 'softmaxCrossEntropy', learningRate: oneCycle(0.1), callbacks: { onBatchEnd: (l) => void lrs.push(l.lr!) } });
    assert.ok(Math.abs(lrs[0]! - 0.1 / 25) < 1e-9, `first lr ${lrs[0]}`);
    assert.ok(Math.max(...lrs) > 0.09 && lrs.at(-1)! < 0.001, `peak ${Math.max(...lrs)}, last ${lrs.at(-1)}`);
  });

  it('picks a backend by name', async () => {
    const history = await fit(mlp(), { x, y }, { epochs: 1, batchSize: 64, loss: 'softmaxCrossEntropy', backend: 'cpu' });
    assert.equal(history.backend, 'cpu');
  });
});
