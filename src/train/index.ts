// Public surface of the training tower (chapter 5 pretraining): what src/index.ts re-exports.
export {
  pretrain,
  PRETRAIN_DEFAULTS,
  TrainingDivergedError,
  formatEvalLine,
  greedySample,
  ensureWritableDir,
  type PretrainOptions,
  type PretrainResult,
  type RunInfo,
  type StepProgress,
} from './pretrain.js';
export {
  calcLossBatch,
  calcLossLoader,
  evaluateModel,
  perplexity,
  type TokenBatch,
  type BatchSource,
} from './loss.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  latestCheckpoint,
  readTrainingState,
  restoreOptimizer,
  placeHFTensors,
  configMismatch,
  parametersFinite,
  stepDirName,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type MetricRecord,
  type TrainingState,
  type LoadedCheckpoint,
  type SavePhase,
  type SaveCheckpointOptions,
} from './checkpoint.js';
export { lossPlotSvg, writeLossPlot, niceTicks, type LossPoint, type LossPlotOptions } from './plot.js';
export {
  preparePretrainData,
  firstBatches,
  tokenHash,
  CORPUS_EXTENSIONS,
  type PretrainData,
  type PretrainDataOptions,
  type PretrainTokenizer,
} from './data.js';
export {
  resolveModelSource,
  settleConfig,
  DEFAULT_CONTEXT_LENGTH,
  type ModelSource,
  type ModelSourceOptions,
} from './model-source.js';
export { initGPT2Weights } from './init.js';
