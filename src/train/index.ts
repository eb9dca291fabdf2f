// Public surface of the training tower: the shared trainer, its checkpoints and options, and the tasks.
export {
  pretrain,
  PRETRAIN_OPTIONS,
  DEFAULT_CONTEXT_LENGTH,
  greedySample,
  formatPretrainTiming,
  type PretrainOptions,
  type PretrainResult,
  type PretrainTiming,
  type RunInfo,
} from './pretrain.js';
export {
  runTrainer,
  CHECKPOINT_OPTIONS,
  formatEvalLine,
  TrainingDivergedError,
  type TrainerSetup,
  type TrainerResult,
  type RunTiming,
  type TrainerHooks,
  type ResumableBatches,
  type StepProgress,
  type CheckpointPolicy,
  type RunIdentity,
} from './trainer.js';
export { openRun, ensureWritableDir, writeModelDir, type OpenRun, type RunHooks } from './run.js';
export {
  resolveOptions,
  checkOption,
  describeOption,
  recordedOptions,
  flagOf,
  type OptionSpec,
  type OptionSpecs,
  type OptionValues,
  type OptionInput,
} from './options.js';
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
  buildModelSkeleton,
  modelStructure,
  parametersFinite,
  stepDirName,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type MetricRecord,
  type EpochRecord,
  type ModelStructure,
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
  finetuneClassifier,
  CLASSIFIER_OPTIONS,
  TRAINABLE_CHOICES,
  TOKEN_CHOICES,
  setTrainable,
  frozenBlocks,
  selectToken,
  type ClassifierOptions,
  type ClassifierResult,
  type ClassifierStart,
  type ClassMetrics,
  type ClassifyToken,
  type Trainable,
} from './classifier.js';
export { loadClassifier, classifyTexts, type Classifier, type Classification } from './classify.js';
export {
  finetuneInstruct,
  INSTRUCT_OPTIONS,
  RESPONSES_FILE,
  type InstructOptions,
  type InstructResult,
  type InstructStart,
} from './instruct.js';
export { respondTo, respondToEntries, promptIds, epochSample, type RespondOptions } from './respond.js';
export {
  dpo,
  DPO_OPTIONS,
  dpoBatchLoss,
  sequenceLogprobs,
  referenceLogprobs,
  type DpoOptions,
  type DpoResult,
  type DpoStart,
  type DpoBatchResult,
  type ReferenceLogprobs,
} from './dpo.js';
