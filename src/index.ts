// gptkit's public API: the one entry point users import. The CLI is built on these exports only.

// Engine
export { Tensor, tidy, keep, empty, fromTypedArray, type DType } from './tensor/tensor.js';
export { backward, noGrad, detach, isGradEnabled } from './tensor/autograd.js';
export { Rng, globalRng, manualSeed } from './tensor/rng.js';
export { pool, type PoolStats } from './tensor/pool.js';
export { getBackend, setBackend, availableBackends, type Backend } from './backend/index.js';
export * as ops from './ops/index.js';
export { gradcheck } from './ops/gradcheck.js';

// Neural network building blocks
export {
  Module,
  parameter,
  isParameter,
  Linear,
  Embedding,
  LayerNorm,
  Dropout,
  GELU,
  withoutInit,
  LoRALayer,
  LoRALinear,
  applyLoRA,
  mergeLoRA,
  loraParameters,
  type LoRAOptions,
} from './nn/index.js';

// GPT models
export {
  GPT2_PRESETS,
  presetConfig,
  parseModelConfig,
  parameterCount,
  configToHF,
  configMismatch,
  validateConfig,
  type GPTConfig,
  type ModelConfigFile,
} from './models/gpt/config.js';
export {
  simplifiedSelfAttention,
  SelfAttentionV1,
  SelfAttentionV2,
  CausalAttention,
  MultiHeadAttentionWrapper,
  MultiHeadAttention,
} from './models/gpt/attention.js';
export { GPTModel, TransformerBlock, FeedForward, FastMultiHeadAttention } from './models/gpt/gpt.js';
export { KVCache } from './models/gpt/kv-cache.js';
export { generate, sampleNext, checkGenerateOptions, type GenerateOptions } from './models/gpt/generate.js';
export {
  loadGPT2,
  saveGPT2,
  readModelConfig,
  gpt2Layout,
  hfTensors,
  modelTensors,
  placeModelTensors,
  extraParameters,
  type LayoutEntry,
  type LoadGPT2Options,
} from './models/gpt/gpt2-weights.js';
export {
  resolveModel,
  type BuildOptions,
  type ModelSource,
  type ResolveModelOptions,
} from './models/gpt/source.js';
export {
  quantizeModel,
  parseWeightDtype,
  modelWeightDtype,
  modelWeightBytes,
  type WeightDtype,
} from './models/gpt/quantize.js';
export { WEIGHT_DTYPES } from './backend/index.js';
export {
  saveAdapters,
  loadAdapters,
  readAdapterConfig,
  adapterTensors,
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  type AdapterConfig,
} from './models/gpt/adapters.js';
export { initGPT2Weights } from './models/gpt/init.js';

// Optimisation
export {
  Optimizer,
  AdamW,
  SGD,
  clipGradNorm,
  decayGroups,
  lrAt,
  type ParamGroup,
  type AdamWOptions,
  type ScheduleOptions,
} from './optim/index.js';

// Files and downloads
export {
  readSafetensorsHeader,
  loadSafetensors,
  readSafetensors,
  saveSafetensors,
  type SafetensorsHeader,
  type TensorInfo,
  type NamedTensor,
} from './io/safetensors.js';
export { writeFileAtomic, openAtomicWrite } from './io/atomic.js';
export {
  downloadModel,
  resolveModelRef,
  KNOWN_MODELS,
  type KnownModel,
  type DownloadResult,
  type ModelRef,
  type ProgressCallback,
  type RetryCallback,
  type RetryInfo,
} from './io/hub.js';

// Training
export * from './train/index.js';

// Tokenizers and data
export * from './tokenizer/index.js';
export * from './data/index.js';

// LLM judge and preference data (the book's chapter 7.8 and ch07/04)
export {
  ollamaChat,
  openAIChat,
  ChatError,
  DEFAULT_OLLAMA_URL,
  DEFAULT_CHAT_TIMEOUT_MS,
  DEFAULT_CHAT_RETRIES,
  BOOK_JUDGE_OPTIONS,
  BOOK_OPENAI_SAMPLING,
  type ChatClient,
  type ChatClientOptions,
  type OllamaChatOptions,
  type OpenAIChatOptions,
  type ChatRetryInfo,
  type ChatErrorKind,
} from './eval/chat.js';
export {
  judgePrompt,
  parseScore,
  checkResponses,
  scoreResponses,
  summarizeScores,
  formatAverage,
  DEFAULT_RESPONSE_KEY,
  DEFAULT_JUDGE_MODEL,
  type EntryScore,
  type JudgeResult,
  type ScoreOptions,
} from './eval/judge.js';
export {
  rewritePrompt,
  politenessChoices,
  preferenceEntry,
  makePreferences,
  writePreferences,
  POLITENESS,
  DEFAULT_PREFERENCE_MODEL,
  DEFAULT_PREFERENCE_SEED,
  BOOK_PREFERENCE_OPTIONS,
  type Politeness,
  type PreferenceProgress,
  type MakePreferencesOptions,
} from './eval/preferences.js';

// Serving: batched decoding, and the OpenAI- and Ollama-compatible HTTP server (`gptkit serve`)
export { decodeStep, type DecodeSlot } from './models/gpt/batch-decode.js';
export {
  createServer,
  SERVE_DEFAULTS,
  BatchScheduler,
  Generation,
  QueueFullError,
  chatPrompt,
  responsePrefix,
  StopStringFilter,
  generationText,
  type ServeOptions,
  type GptkitServer,
  type DecodeRequest,
  type Sampling,
  type FinishReason,
  type SchedulerOptions,
  type SchedulerStats,
  type ChatMessage,
  type ChatTemplate,
  type TextResult,
} from './serve/index.js';
