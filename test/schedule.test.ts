import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OneCycleSchedule } from '../src/train/schedule.js';
import { InfoBatch } from '../src/infobatch/index.js';

const options = { maxLr: 0.05, divFactor: 25, finalDivFactor: 1e4, pctStart: 0.3, baseMomentum: 0.85, maxMomentum: 0.95 };

/** PyTorch OneCycleLR (cos, three_phase=False) at step i of T, for comparison. */
function torchOneCycle(i: number, total: number): number {
  const initial = options.maxLr / options.divFactor;
  const min = initial / options.finalDivFactor;
  const warmEnd = options.pctStart * total - 1;
  const cos = (start: number, end: number, pct: number) => end + ((start - end) / 2) * (1 + Math.cos(Math.PI * pct));
  if (i <= warmEnd) return cos(initial, options.maxLr, i / warmEnd);
  return cos(options.maxLr, min, (i - warmEnd) / (total - 1 - warmEnd));
}

describe('OneCycle schedule', () => {
  const schedule = new OneCycleSchedule(options);

  it('starts at maxLr/divFactor, peaks at maxLr at pctStart, ends at the final lr', () => {
    assert.ok(Math.abs(schedule.at(0).lr - 0.05 / 25) < 1e-15);
    assert.ok(Math.abs(schedule.at(0.3).lr - 0.05) < 1e-15);
    assert.ok(Math.abs(schedule.at(1).lr - 0.05 / 25 / 1e4) < 1e-15);
    assert.equal(schedule.at(0).momentum, 0.95);
    assert.ok(Math.abs(schedule.at(0.3).momentum - 0.85) < 1e-15);
  });

  it('follows PyTorch OneCycleLR step by step for a full-data run', () => {
    const epochs = 10;
    const batches = 40;
    for (let e = 0; e < epochs; e++) {
      for (let b = 0; b < batches; b++) {
        const ours = schedule.forStep(e, b, batches, epochs).lr;
        const torch = torchOneCycle(e * batches + b, epochs * batches);
        assert.ok(Math.abs(ours - torch) < 0.05 * 0.01, `step ${e * batches + b}: ${ours} vs ${torch}`);
      }
    }
  });

  it('never overruns and completes the cycle on a pruned run whose step count is unknown ahead', () => {
    const epochs = 10;
    const sampler = new InfoBatch({ numSamples: 500, epochs, batchSize: 32, ratio: 0.7, delta: 0.875, seed: 1 });
    let peak = 0;
    let previousProgress = -1;
    let last = { lr: Number.NaN, momentum: Number.NaN };
    let steps = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      const plan = sampler.planEpoch(epoch);
      for (let b = 0; b < plan.numBatches; b++) {
        const batch = sampler.batch(plan, b);
        sampler.updateScores(batch.indices, Array.from(batch.indices, (i) => (i % 17) / 3 + epoch));
        const progress = (epoch + b / plan.numBatches) / epochs;
        assert.ok(progress > previousProgress && progress < 1, 'progress strictly increases and stays below 1');
        previousProgress = progress;
        last = schedule.forStep(epoch, b, plan.numBatches, epochs);
        peak = Math.max(peak, last.lr);
        steps++;
      }
    }
    assert.ok(steps < 10 * Math.ceil(500 / 32), 'the run was pruned');
    assert.ok(peak > 0.05 * 0.995 && peak <= 0.05, `peak ${peak}`);
    assert.ok(last.lr < 1e-4, `the last step is at the end of the cycle (lr ${last.lr})`);
    assert.ok(last.momentum > 0.949);
  });

  it('rejects steps outside the run', () => {
    assert.throws(() => schedule.forStep(10, 0, 5, 10), RangeError);
    assert.throws(() => schedule.forStep(0, 5, 5, 10), RangeError);
    assert.throws(() => schedule.at(1.01), RangeError);
    assert.throws(() => new OneCycleSchedule({ ...options, pctStart: 1 }), RangeError);
  });
});
