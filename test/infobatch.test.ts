import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InfoBatch, type InfoBatchOptions } from '../src/infobatch/index.js';

const base: InfoBatchOptions = { numSamples: 1000, epochs: 10, batchSize: 64, ratio: 0.5, delta: 0.875, seed: 7 };

/** Scores 0..n−1 (mean (n−1)/2): exactly the first ⌈n/2⌉ samples... i < mean are well learned. */
function rampScores(sampler: InfoBatch): void {
  sampler.restoreScores(Float32Array.from({ length: sampler.scores.length }, (_, i) => i));
}

function sorted(a: Int32Array): number[] {
  return Array.from(a).sort((x, y) => x - y);
}

describe('InfoBatch epoch plans', () => {
  it('trains on every sample with weight 1 in epoch 0 (scores start equal)', () => {
    const sampler = new InfoBatch(base);
    const plan = sampler.planEpoch(0);
    assert.equal(plan.pruning, true);
    assert.equal(plan.wellLearned, 0);
    assert.equal(plan.skipped, 0);
    assert.deepEqual(sorted(plan.indices), Array.from({ length: 1000 }, (_, i) => i));
    assert.ok(plan.weights.every((w) => w === 1));
  });

  it('keeps ⌊(1−r)·n_wl⌋ of the samples below the mean with weight 1/(1−r), and all others with weight 1', () => {
    for (const ratio of [0.3, 0.5, 0.7]) {
      const sampler = new InfoBatch({ ...base, ratio });
      rampScores(sampler); // mean 499.5: samples 0..499 are well learned
      const plan = sampler.planEpoch(1);
      assert.equal(plan.wellLearned, 500);
      const keptWellLearned = Math.floor((1 - ratio) * 500 + 1e-9);
      assert.equal(plan.indices.length, 500 + keptWellLearned, `r=${ratio}`);
      assert.equal(plan.skipped, 500 - keptWellLearned);
      const seen = new Set<number>();
      plan.indices.forEach((index, position) => {
        assert.ok(!seen.has(index), 'no sample twice');
        seen.add(index);
        const expected = index < 500 ? 1 / (1 - ratio) : 1;
        assert.ok(Math.abs(plan.weights[position]! - expected) < 1e-6, `weight of sample ${index}`);
      });
      for (let i = 500; i < 1000; i++) assert.ok(seen.has(i), `sample ${i} above the mean is always kept`);
    }
  });

  it('uses a strict comparison with the mean over all samples', () => {
    const sampler = new InfoBatch({ ...base, numSamples: 4 });
    sampler.restoreScores([1, 1, 3, 3]); // mean 2
    assert.equal(sampler.planEpoch(1).wellLearned, 2);
    sampler.restoreScores([2, 2, 2, 2]); // all equal the mean: none below
    assert.equal(sampler.planEpoch(1).wellLearned, 0);
  });

  it('floors the kept count robustly to float rounding: r = 0.9 keeps 1 of 10', () => {
    const sampler = new InfoBatch({ ...base, numSamples: 20, ratio: 0.9 });
    rampScores(sampler); // 10 below the mean
    assert.equal((1 - 0.9) * 10 < 1, true, 'the float product really is below 1');
    assert.equal(sampler.planEpoch(1).indices.length, 10 + 1);
  });

  it('stops pruning at epoch ⌊δ·E⌋ and then uses weight exactly 1 (E = 100, δ = 0.875 → 13 full epochs)', () => {
    const sampler = new InfoBatch({ ...base, epochs: 100 });
    assert.equal(sampler.pruneUntilEpoch, 87);
    rampScores(sampler);
    const last = sampler.planEpoch(86);
    assert.equal(last.pruning, true);
    assert.ok(last.skipped > 0);
    for (const epoch of [87, 88, 99]) {
      const plan = sampler.planEpoch(epoch);
      assert.equal(plan.pruning, false);
      assert.equal(plan.skipped, 0);
      assert.equal(plan.indices.length, 1000);
      assert.ok(plan.weights.every((w) => w === 1), `epoch ${epoch}: all weights exactly 1`);
    }
    assert.equal(new InfoBatch({ ...base, epochs: 200 }).pruneUntilEpoch, 175);
    assert.equal(new InfoBatch({ ...base, epochs: 10, delta: 0.7 }).pruneUntilEpoch, 7, '0.7·10 is 7.000000000000001 or 6.99…; must be 7');
  });

  it('does not prune at all for r = 0 or δ = 0 (the baseline)', () => {
    for (const options of [{ ratio: 0 }, { delta: 0 }]) {
      const sampler = new InfoBatch({ ...base, ...options });
      rampScores(sampler);
      assert.equal(sampler.pruneUntilEpoch, 0);
      const plan = sampler.planEpoch(1);
      assert.equal(plan.pruning, false);
      assert.equal(plan.indices.length, 1000);
    }
  });

  it('knows its batch count before the epoch, and it matches the batches it yields (no stale length)', () => {
    const sampler = new InfoBatch({ ...base, batchSize: 64 });
    const counts: number[] = [];
    for (let epoch = 0; epoch < 10; epoch++) {
      const plan = sampler.planEpoch(epoch);
      let batches = 0;
      let samples = 0;
      for (let b = 0; b < plan.numBatches; b++) {
        const batch = sampler.batch(plan, b);
        assert.ok(batch.indices.length > 0 && batch.indices.length <= 64);
        if (b < plan.numBatches - 1) assert.equal(batch.indices.length, 64, 'only the last batch may be partial');
        // Scores move every epoch, so the next plan has another length.
        sampler.updateScores(batch.indices, Array.from(batch.indices, (i) => ((i * 7919 + epoch * 104729) % 1000) / 100));
        batches++;
        samples += batch.indices.length;
      }
      assert.equal(batches, Math.ceil(plan.indices.length / 64));
      assert.equal(samples, plan.indices.length);
      counts.push(plan.numBatches);
    }
    assert.equal(counts[0], Math.ceil(1000 / 64));
    assert.ok(counts.slice(1, 8).some((c) => c < counts[0]!), 'pruned epochs have fewer batches');
    assert.throws(() => sampler.batch(sampler.planEpoch(9), 16), RangeError);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const plans = [7, 7, 8].map((seed) => {
      const sampler = new InfoBatch({ ...base, seed });
      rampScores(sampler);
      return sampler.planEpoch(3);
    });
    assert.deepEqual(plans[0]!.indices, plans[1]!.indices);
    assert.deepEqual(plans[0]!.weights, plans[1]!.weights);
    assert.notDeepEqual(plans[0]!.indices, plans[2]!.indices);
    // Epochs draw from their own streams: same scores, other epoch, other order.
    const sampler = new InfoBatch(base);
    rampScores(sampler);
    assert.notDeepEqual(sampler.planEpoch(3).indices, sampler.planEpoch(4).indices);
  });

  it('chooses the kept well-learned samples uniformly (each kept about 1−r of the time)', () => {
    const sampler = new InfoBatch({ ...base, numSamples: 200, epochs: 400, delta: 1, ratio: 0.5 });
    rampScores(sampler);
    const keptCount = new Float64Array(100);
    for (let epoch = 1; epoch < 400; epoch++) {
      for (const index of sampler.planEpoch(epoch).indices) if (index < 100) keptCount[index]! += 1;
    }
    for (const count of keptCount) assert.ok(Math.abs(count / 399 - 0.5) < 0.12, `kept share ${count / 399}`);
  });

  it('shuffles the epoch list (not index order, not kept-first)', () => {
    const sampler = new InfoBatch(base);
    rampScores(sampler);
    const plan = sampler.planEpoch(2);
    const firstHalfUpweighted = Array.from(plan.weights.subarray(0, 100)).filter((w) => w > 1).length;
    assert.ok(firstHalfUpweighted > 10 && firstHalfUpweighted < 90, 'rescaled samples are spread through the epoch');
    assert.notDeepEqual(Array.from(plan.indices.subarray(0, 20)), sorted(plan.indices.subarray(0, 20)));
  });

  it('updates scores to the latest loss and leaves skipped samples with their old score', () => {
    const sampler = new InfoBatch({ ...base, numSamples: 6 });
    sampler.updateScores([1, 4], [0.25, 9]);
    assert.deepEqual(Array.from(sampler.scores), [3, 0.25, 3, 3, 9, 3]);
    assert.throws(() => sampler.updateScores([0], [Number.NaN]), /non-finite/);
    assert.throws(() => sampler.updateScores([0, 1], [1]), RangeError);
  });

  it('rejects r outside [0, 1), δ outside [0, 1] and bad sizes', () => {
    for (const bad of [{ ratio: 1 }, { ratio: -0.1 }, { ratio: Number.NaN }, { delta: 1.5 }, { delta: -1 }, { numSamples: 0 }, { batchSize: 2.5 }, { epochs: 0 }]) {
      assert.throws(() => new InfoBatch({ ...base, ...bad }), RangeError, JSON.stringify(bad));
    }
    assert.throws(() => new InfoBatch(base).planEpoch(10), RangeError);
  });
});

describe('InfoBatch ablations (paper Table 4)', () => {
  it('random pruning skips the same count, drawn from all samples, rescaled by N/(N − skipped)', () => {
    const score = new InfoBatch(base);
    const random = new InfoBatch({ ...base, pruneStrategy: 'random' });
    rampScores(score);
    rampScores(random);
    const s = score.planEpoch(1);
    const r = random.planEpoch(1);
    assert.equal(r.skipped, s.skipped);
    const keptAboveMean = Array.from(r.indices).filter((i) => i >= 500).length;
    assert.ok(keptAboveMean < 500, 'some samples above the mean are pruned too');
    const expected = 1000 / (1000 - r.skipped);
    assert.ok(r.weights.every((w) => Math.abs(w - expected) < 1e-6));
  });

  it('rescaling off keeps weight 1 while still pruning', () => {
    const sampler = new InfoBatch({ ...base, rescale: false });
    rampScores(sampler);
    const plan = sampler.planEpoch(1);
    assert.ok(plan.skipped > 0);
    assert.ok(plan.weights.every((w) => w === 1));
  });

  it('annealing off prunes through the last epoch', () => {
    const sampler = new InfoBatch({ ...base, anneal: false });
    rampScores(sampler);
    assert.equal(sampler.pruneUntilEpoch, 10);
    assert.ok(sampler.planEpoch(9).skipped > 0);
  });

  it('takes an option passed as undefined as its default (annealing stays on)', () => {
    const sampler = new InfoBatch({ ...base, anneal: undefined, rescale: undefined, pruneStrategy: undefined });
    assert.deepEqual([sampler.options.anneal, sampler.options.rescale, sampler.options.pruneStrategy], [true, true, 'score']);
    assert.ok(sampler.pruneUntilEpoch < 10);
  });
});

// The batch loss itself, mean(wᵢ·ℓᵢ) over the batch, is src/train/loss.ts weightedMean (test/loss-sgd.test.ts).
describe('weighted batch loss', () => {
  it('is unbiased: the expected InfoBatch loss over the pruning draw equals the full-data mean loss', () => {
    // Full-data mean loss vs the average, over many pruning draws, of Σ wᵢℓᵢ / N over the kept samples.
    const n = 100;
    const sampler = new InfoBatch({ numSamples: n, epochs: 2000, batchSize: n, ratio: 0.5, delta: 1, seed: 3 });
    const losses = Float32Array.from({ length: n }, (_, i) => (i < 60 ? 0.1 + i / 1000 : 2 + i / 100));
    sampler.restoreScores(losses);
    const fullMean = losses.reduce((a, b) => a + b, 0) / n;
    let total = 0;
    const draws = 1999;
    for (let epoch = 1; epoch <= draws; epoch++) {
      const plan = sampler.planEpoch(epoch);
      let sum = 0;
      plan.indices.forEach((index, i) => (sum += plan.weights[i]! * losses[index]!));
      total += sum / n;
    }
    assert.ok(Math.abs(total / draws - fullMean) / fullMean < 0.01, `${total / draws} vs ${fullMean}`);
  });
});
