/**
 * The run folder: every file a run writes or reads goes through this module (train, test, report, plots,
 * sweep). Layout in layout.ts; one row type and one validated reader per file.
 */
export { DEFAULT_LOG_DIR, DEFAULT_MODEL_DIR, listLoggedRuns, runPaths, type RunDirs, type RunPaths } from './layout.js';
export { appendEpochRow, EPOCH_LOG_COLUMNS, EpochLogError, formatEpochLog, parseEpochLog, writeEpochLog, type EpochRow, type ParsedEpochLog } from './epoch-log.js';
export { readRunRecord, RUN_STATUSES, writeRunRecord, type RunRecord, type RunStatus } from './record.js';
export { CHECKPOINT_VERSION, checkpointExists, loadCheckpoint, saveCheckpoint, type Checkpoint, type CheckpointState } from './checkpoint.js';
export { loadModel, MODEL_JSON, saveModel, WEIGHTS_BIN } from './model-files.js';
export { assertWritableDir, removeStaleLeftovers, replaceDir, resolveReplacedDir, writeFileAtomic } from './files.js';
export { tryLock, type LockAttempt } from './pid-lock.js';
export { loadRun, type LoadedRun } from './load.js';
export { CorruptFileError, RunLookupError, StorageError, storageErrorOf } from './errors.js';
