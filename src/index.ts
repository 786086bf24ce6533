/**
 * The public API of the `infobatch` package (`import { … } from 'infobatch'`). Everything a user's own
 * TensorFlow.js code needs to add InfoBatch, at three levels:
 * - the method (`InfoBatch`): plan an epoch, iterate its batches, feed back per-sample losses, on plain
 *   arrays for any model, any loss and any data;
 * - the loss helper (`weightedLoss`) and `ScoreFeedback` for your own loop: mean(wᵢ·ℓᵢ) to differentiate,
 *   the unweighted losses read back a few batches later as scores;
 * - `fit`: the whole loop for any tfjs-layers model and in-memory data (the same epoch runner as the CLI).
 * The tfjs copies it runs on are exported as `tf` and `tfl`, so a model built with them is guaranteed to
 * live on the same engine as the training loop.
 */
export * as tf from '@tensorflow/tfjs-core';
export * as tfl from '@tensorflow/tfjs-layers';

export { InfoBatch, validateInfoBatchOptions, seededRandom, type InfoBatchOptions, type EpochPlan, type Batch, type Random } from './infobatch/index.js';
export { weightedLoss, PER_SAMPLE_LOSSES, LOSS_NAMES, type WeightedLoss, type LossName } from './train/loss.js';
export { ScoreFeedback, LaggedReads, DEFAULT_READ_LAG, runEpoch, type EpochRunner, type EpochResult, type BatchRead, type StepTensors } from './train/epoch.js';
export {
  dispatchStep,
  trainableVariables,
  argmaxCorrect,
  sgdUpdater,
  tfOptimizerUpdater,
  type StepSpec,
  type StepBatch,
  type StepHyper,
  type StepUpdater,
  type PendingStep,
  type PerSampleLoss,
  type CorrectCount,
  type TfOptimizer,
} from './train/step.js';
export { fit, type FitOptions, type FitHistory, type FitCallbacks, type EpochLogs, type BatchLogs, type SgdConfig, type LearningRate } from './train/fit.js';
export type { FitData, InMemoryData, BatchBuilder, StepTensorsLike, Features, Targets } from './train/fit-data.js';
export { SgdMomentum } from './train/sgd.js';
export { OneCycleSchedule, oneCycle, type OneCycleOptions, type ScheduleValue, type StepPosition } from './train/schedule.js';
export { selectBackend, BACKEND_NAMES, BackendError, type SelectedBackend } from './backend/select.js';
