import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OneCycleSchedule } from '../src/train/schedule.js';
import { InfoBatch } from '../src/infobatch/index.js';

const options = { maxLr: 0.05, divFactor: 25, finalDivFactor: 1e4, pctStart: 0.3, baseMomentum: 0.85, maxMomentum: 0.95 };

/**
 * torch.optim.lr_scheduler.OneCycleLR.get_lr (anneal_strategy 'cos', three_phase False), transcribed: the
 * phases end at float(pct_start · T) − 1 and T − 1, and each interpolates over (i − start) / (end − start).
 */
function torchOneCycle(stepNum: number, totalSteps: number): { lr: number; momentum: number } {
  const initialLr = options.maxLr / options.divFactor;
  const minLr = initialLr / options.finalDivFactor;
  const phases = [
    { endStep: options.pctStart * totalSteps - 1, startLr: initialLr, endLr: options.maxLr, startMomentum: options.maxMomentum, endMomentum: options.baseMomentum },
    { endStep: totalSteps - 1, startLr: options.maxLr, endLr: minLr, startMomentum: options.baseMomentum, endMomentum: options.maxMomentum },
  ];
  const cos = (start: number, end: number, pct: number) => end + ((start - end) / 2) * (1 + Math.cos(Math.PI * pct));
  let startStep = 0;
  for (const [i, phase] of phases.entries()) {
    if (stepNum <= phase.endStep || i === phases.length - 1) {
      const pct = (stepNum - startStep) / (phase.endStep - startStep);
      return { lr: cos(phase.startLr, phase.endLr, pct), momentum: cos(phase.startMomentum, phase.endMomentum, pct) };
    }
    startStep = phase.endStep;
  }
  throw new Error('unreachable');
}

function assertTorchExact(epochs: number, batches: number): OneCycleSchedule {
  const schedule = new OneCycleSchedule(options, epochs, batches);
  for (let e = 0; e < epochs; e++) {
    for (let b = 0; b < batches; b++) {
      const step = e * batches + b;
      const ours = schedule.forStep(e, b, batches);
      const torch = torchOneCycle(step, epochs * batches);
      assert.ok(Math.abs(ours.lr - torch.lr) <= 1e-12, `step ${step}: lr ${ours.lr} vs torch ${torch.lr}`);
      assert.ok(Math.abs(ours.momentum - torch.momentum) <= 1e-12, `step ${step}: momentum ${ours.momentum} vs torch ${torch.momentum}`);
    }
  }
  return schedule;
}

describe('OneCycle schedule', () => {
  it('starts at maxLr/divFactor, peaks at maxLr, ends at the final lr on the last step', () => {
    const schedule = new OneCycleSchedule(options, 10, 10);
    assert.ok(Math.abs(schedule.atStep(0).lr - 0.05 / 25) < 1e-15);
    assert.ok(Math.abs(schedule.atStep(29).lr - 0.05) < 1e-15, 'peak at step pctStart·T − 1 = 29');
    assert.ok(Math.abs(schedule.atStep(99).lr - 0.05 / 25 / 1e4) < 1e-15);
    assert.equal(schedule.atStep(0).momentum, 0.95);
    assert.ok(Math.abs(schedule.atStep(29).momentum - 0.85) < 1e-15);
  });

  it('equals PyTorch OneCycleLR step by step on 3 epochs of 7 steps', () => {
    const schedule = assertTorchExact(3, 7);
    // The last lr of each epoch as torch prints it (max_lr 0.05): 0.0497208, 0.0231319, 2e-07.
    const lastOfEpoch = [0, 1, 2].map((e) => schedule.forStep(e, 6, 7).lr);
    assert.deepEqual(lastOfEpoch.map((lr) => Number(lr.toPrecision(6))), [0.0497208, 0.0231319, 2e-7]);
  });

  it('equals PyTorch OneCycleLR step by step on a long run (100 epochs of 196 steps)', () => {
    assertTorchExact(100, 196);
  });

  it('never overruns and completes the cycle on a pruned run whose step count is unknown ahead', () => {
    const epochs = 10;
    const sampler = new InfoBatch({ numSamples: 500, epochs, batchSize: 32, ratio: 0.7, delta: 0.875, seed: 1 });
    const schedule = new OneCycleSchedule(options, epochs, Math.ceil(500 / 32));
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
        last = schedule.forStep(epoch, b, plan.numBatches);
        peak = Math.max(peak, last.lr);
        steps++;
      }
    }
    assert.ok(steps < 10 * Math.ceil(500 / 32), 'the run was pruned');
    assert.ok(peak > 0.05 * 0.995 && peak <= 0.05, `peak ${peak}`);
    assert.equal(last.lr, 0.05 / 25 / 1e4, 'the last (full-data, annealed) epoch ends on the final lr');
    assert.equal(last.momentum, 0.95);
  });

  it('rejects steps outside the run', () => {
    const schedule = new OneCycleSchedule(options, 10, 5);
    assert.throws(() => schedule.forStep(10, 0, 5), RangeError);
    assert.throws(() => schedule.forStep(0, 5, 5), RangeError);
    assert.throws(() => schedule.forStep(0, 0, 6), RangeError, 'more batches than a full epoch');
    assert.throws(() => schedule.atStep(49.5), RangeError);
    assert.throws(() => new OneCycleSchedule({ ...options, pctStart: 1 }, 10, 5), RangeError);
  });
});
