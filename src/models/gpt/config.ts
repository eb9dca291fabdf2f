// The one GPT configuration type, the GPT-2 presets (the book's GPT_CONFIG_124M and its larger siblings),
// and the one reader/writer of model config JSON: the book's keys, gptkit's and Hugging Face's.

export interface GPTConfig {
  /** Number of token ids (GPT-2 BPE: 50257). */
  vocabSize: number;
  /** Maximum sequence length; size of the position-embedding table. */
  contextLength: number;
  /** Embedding (model) width C. */
  embDim: number;
  /** Attention heads; embDim must be divisible by nHeads (head size D = embDim / nHeads). */
  nHeads: number;
  /** Transformer blocks. */
  nLayers: number;
  /** Dropout on embeddings, attention weights and residual branches (0 for inference). */
  dropRate: number;
  /** Bias on the query/key/value projections (GPT-2 checkpoints have it; the book trains without). */
  qkvBias: boolean;
  /** Share the output head with the token embedding (GPT-2 checkpoints do; the book's fresh model does not). */
  tiedHead: boolean;
  /**
   * A classifier (the book's chapter 6): the output head is Linear(embDim, numClasses) with bias instead
   * of the language-model head. Absent for language models.
   */
  numClasses?: number;
}

const gpt2Base = { vocabSize: 50257, contextLength: 1024, dropRate: 0.1, qkvBias: false, tiedHead: false };

export const GPT2_PRESETS: Record<string, GPTConfig> = {
  'gpt2-small': { ...gpt2Base, embDim: 768, nLayers: 12, nHeads: 12 },
  'gpt2-medium': { ...gpt2Base, embDim: 1024, nLayers: 24, nHeads: 16 },
  'gpt2-large': { ...gpt2Base, embDim: 1280, nLayers: 36, nHeads: 20 },
  'gpt2-xl': { ...gpt2Base, embDim: 1600, nLayers: 48, nHeads: 25 },
};

/** Hugging Face repo names of the released checkpoints and the preset each uses. */
export const HF_NAME_TO_PRESET: Record<string, string> = {
  gpt2: 'gpt2-small',
  'gpt2-medium': 'gpt2-medium',
  'gpt2-large': 'gpt2-large',
  'gpt2-xl': 'gpt2-xl',
};

export function presetConfig(name: string, overrides: Partial<GPTConfig> = {}): GPTConfig {
  const base = GPT2_PRESETS[name] ?? GPT2_PRESETS[HF_NAME_TO_PRESET[name] ?? ''];
  if (!base) {
    throw new Error(`unknown model configuration '${name}'; known: ${Object.keys(GPT2_PRESETS).join(', ')}`);
  }
  return validateConfig({ ...base, ...overrides });
}

export function validateConfig(c: GPTConfig): GPTConfig {
  const positiveInts: Array<keyof GPTConfig> = ['vocabSize', 'contextLength', 'embDim', 'nHeads', 'nLayers'];
  for (const k of positiveInts) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new Error(`config: ${k} must be a positive integer, got ${String(v)}`);
  }
  if (c.embDim % c.nHeads !== 0)
    throw new Error(`config: embDim ${c.embDim} is not divisible by nHeads ${c.nHeads}`);
  if (typeof c.dropRate !== 'number' || !(c.dropRate >= 0 && c.dropRate < 1))
    throw new Error(`config: dropRate must be in [0, 1), got ${String(c.dropRate)}`);
  for (const k of ['qkvBias', 'tiedHead'] as const)
    if (typeof c[k] !== 'boolean') throw new Error(`config: ${k} must be true or false, got ${String(c[k])}`);
  if (c.numClasses !== undefined) {
    if (!Number.isInteger(c.numClasses) || c.numClasses < 2)
      throw new Error(`config: numClasses must be an integer >= 2, got ${String(c.numClasses)}`);
    if (c.tiedHead) throw new Error('config: a classifier head cannot be tied to the token embedding');
  }
  return c;
}

/** Parameters of a model of this configuration (a tied head counted once), as GPTModel.numParameters(). */
export function parameterCount(c: GPTConfig): number {
  const C = c.embDim;
  const block = 4 * C * C + (c.qkvBias ? 3 * C : 0) + C + 4 * C + 8 * C * C + 4 * C + C;
  const head =
    c.numClasses !== undefined ? C * c.numClasses + c.numClasses : c.tiedHead ? 0 : c.vocabSize * C;
  return c.vocabSize * C + c.contextLength * C + c.nLayers * block + 2 * C + head;
}

/** The GPTConfig fields that differ, as 'field: a vs b, ...' ('' when the architectures are equal). */
export function configMismatch(have: GPTConfig, want: GPTConfig): string {
  const keys: Array<keyof GPTConfig> = [
    'vocabSize',
    'contextLength',
    'embDim',
    'nHeads',
    'nLayers',
    'dropRate',
    'qkvBias',
    'tiedHead',
    'numClasses',
  ];
  return keys
    .filter((k) => have[k] !== want[k])
    .map((k) => `${k} ${String(have[k])} vs ${String(want[k])}`)
    .join(', ');
}

// ---- config JSON -------------------------------------------------------------------------------

/** Each field's accepted spellings: gptkit's, the book's (GPT_CONFIG_124M), Hugging Face's GPT2Config. */
const SPELLINGS: Array<[keyof GPTConfig, string[]]> = [
  ['vocabSize', ['vocabSize', 'vocab_size']],
  ['contextLength', ['contextLength', 'context_length', 'n_positions', 'n_ctx']],
  ['embDim', ['embDim', 'emb_dim', 'n_embd']],
  ['nHeads', ['nHeads', 'n_heads', 'n_head']],
  ['nLayers', ['nLayers', 'n_layers', 'n_layer']],
  ['dropRate', ['dropRate', 'drop_rate', 'resid_pdrop', 'embd_pdrop', 'attn_pdrop']],
  ['qkvBias', ['qkvBias', 'qkv_bias', 'gptkit_qkv_bias']],
  ['tiedHead', ['tiedHead', 'tied_head', 'tie_word_embeddings', 'gptkit_tied_head']],
  ['numClasses', ['numClasses', 'num_classes', 'num_labels']],
];
const REQUIRED: Array<keyof GPTConfig> = ['vocabSize', 'contextLength', 'embDim', 'nHeads', 'nLayers'];

/**
 * Keys of a Hugging Face config.json that say nothing about the weights gptkit computes with (generation
 * defaults, ids, bookkeeping). Accepted and ignored, so a config saved by transformers loads as it is.
 */
const HF_IGNORED = new Set([
  '_name_or_path',
  'architectures',
  'model_type',
  'transformers_version',
  'torch_dtype',
  'use_cache',
  'bos_token_id',
  'eos_token_id',
  'pad_token_id',
  'sep_token_id',
  'decoder_start_token_id',
  'initializer_range',
  'summary_type',
  'summary_use_proj',
  'summary_activation',
  'summary_proj_to_labels',
  'summary_first_dropout',
  'task_specific_params',
  'n_special',
  'predict_special_tokens',
  'output_past',
  'return_dict',
  'output_hidden_states',
  'output_attentions',
  'torchscript',
  'use_bfloat16',
  'tf_legacy_loss',
  'pruned_heads',
  'chunk_size_feed_forward',
  'is_encoder_decoder',
  'is_decoder',
  'add_cross_attention',
  'tie_encoder_decoder',
  'max_length',
  'min_length',
  'do_sample',
  'early_stopping',
  'num_beams',
  'num_beam_groups',
  'diversity_penalty',
  'temperature',
  'top_k',
  'top_p',
  'typical_p',
  'repetition_penalty',
  'length_penalty',
  'no_repeat_ngram_size',
  'encoder_no_repeat_ngram_size',
  'bad_words_ids',
  'num_return_sequences',
  'output_scores',
  'return_dict_in_generate',
  'forced_bos_token_id',
  'forced_eos_token_id',
  'remove_invalid_values',
  'exponential_decay_length_penalty',
  'suppress_tokens',
  'begin_suppress_tokens',
  'finetuning_task',
  'tokenizer_class',
  'prefix',
  'problem_type',
  'gradient_checkpointing',
  'reorder_and_upcast_attn',
  'id2label',
  'label2id',
]);

/** Hugging Face keys that change the computation: accepted only with the value gptkit implements. */
const HF_FIXED: Record<string, { ok: (v: unknown, obj: Record<string, unknown>) => boolean; need: string }> =
  {
    activation_function: {
      ok: (v) => v === 'gelu_new' || v === 'gelu_pytorch_tanh',
      need: "'gelu_new' (GPT-2's tanh GELU)",
    },
    layer_norm_epsilon: { ok: (v) => v === 1e-5, need: '1e-5' },
    n_inner: {
      ok: (v, o) => v === null || v === 4 * Number(o.n_embd ?? o.emb_dim ?? o.embDim),
      need: 'null or 4 * n_embd',
    },
    scale_attn_weights: { ok: (v) => v === true, need: 'true' },
    scale_attn_by_inverse_layer_idx: { ok: (v) => v === false, need: 'false' },
  };

/** What a model's config.json says beyond the architecture: class names and gptkit's own keys. */
export interface ModelConfigFile {
  config: GPTConfig;
  /** Class names by id (Hugging Face's id2label), for classifiers. */
  labels?: string[];
  /** `gptkit_*` keys that are not architecture (e.g. how a classifier reads its token), by name without the prefix. */
  gptkit: Record<string, unknown>;
}

const isHF = (obj: Record<string, unknown>) => typeof obj.model_type === 'string' || 'n_embd' in obj;

/**
 * Read a model configuration written in any of the three spellings. Every size field is required (presets
 * are chosen by name, never by omission); an unknown key is an error naming it and the accepted keys.
 * Defaults: Hugging Face configs have qkv bias, a tied head and dropout 0.1 (GPT2Config's defaults); the
 * book's and gptkit's have no qkv bias, an untied head and dropout 0.1 (GPT_CONFIG_124M).
 */
export function parseModelConfig(obj: unknown, where: string): ModelConfigFile {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj))
    throw new Error(`${where}: a model configuration must be a JSON object`);
  const o = obj as Record<string, unknown>;
  const hf = isHF(o);
  const known = new Map<string, keyof GPTConfig>();
  for (const [field, names] of SPELLINGS) for (const n of names) known.set(n, field);
  const values: Partial<Record<keyof GPTConfig, { key: string; value: unknown }>> = {};
  const gptkit: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) {
    const field = known.get(key);
    if (field) {
      const prev = values[field];
      if (prev && prev.value !== value)
        throw new Error(
          `${where}: '${prev.key}' (${String(prev.value)}) and '${key}' (${String(value)}) disagree`,
        );
      values[field] = { key, value };
    } else if (Object.hasOwn(HF_FIXED, key)) {
      const f = HF_FIXED[key];
      if (!f.ok(value, o))
        throw new Error(`${where}: '${key}' is ${JSON.stringify(value)}; gptkit implements ${f.need}`);
    } else if (key.startsWith('gptkit_')) {
      // defineProperty, not assignment: 'gptkit___proto__' must be a key, not replace the record's prototype.
      Object.defineProperty(gptkit, key.slice('gptkit_'.length), { value, enumerable: true, writable: true });
    } else if (!(hf && HF_IGNORED.has(key))) {
      const accepted = SPELLINGS.map(([, names]) => names.join('|')).join(', ');
      throw new Error(
        `${where}: unknown key '${key}'; accepted keys: ${accepted} (and Hugging Face's GPT2Config keys)`,
      );
    }
  }
  const missing = REQUIRED.filter((k) => values[k] === undefined);
  if (missing.length)
    throw new Error(
      `${where}: missing ${missing.map((k) => SPELLINGS.find(([f]) => f === k)![1].join(' or ')).join('; ')} ` +
        `(choose a preset by name, e.g. --model gpt2-small, to get its sizes)`,
    );
  const num = (k: keyof GPTConfig): number => {
    const v = values[k]!.value;
    if (typeof v !== 'number')
      throw new Error(`${where}: '${values[k]!.key}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (k: keyof GPTConfig, dflt: boolean): boolean => {
    if (values[k] === undefined) return dflt;
    const v = values[k].value;
    if (typeof v !== 'boolean')
      throw new Error(`${where}: '${values[k].key}' must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  let labels: string[] | undefined;
  if (o.id2label !== undefined) labels = labelsFromHF(o.id2label, where);
  const isClassifier =
    labels !== undefined &&
    (values.numClasses !== undefined ||
      (Array.isArray(o.architectures) && o.architectures.includes('GPT2ForSequenceClassification')));
  let numClasses = values.numClasses !== undefined ? num('numClasses') : undefined;
  if (numClasses === undefined && isClassifier) numClasses = labels!.length;
  if (numClasses !== undefined && labels !== undefined && labels.length !== numClasses)
    throw new Error(`${where}: ${labels.length} class names in id2label but ${numClasses} classes`);
  const config: GPTConfig = {
    vocabSize: num('vocabSize'),
    contextLength: num('contextLength'),
    embDim: num('embDim'),
    nHeads: num('nHeads'),
    nLayers: num('nLayers'),
    dropRate: values.dropRate !== undefined ? num('dropRate') : 0.1,
    qkvBias: bool('qkvBias', hf),
    tiedHead: bool('tiedHead', hf && numClasses === undefined),
    ...(numClasses !== undefined ? { numClasses } : {}),
  };
  try {
    validateConfig(config);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  return { config, labels: numClasses !== undefined ? labels : undefined, gptkit };
}

function labelsFromHF(v: unknown, where: string): string[] {
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new Error(`${where}: id2label must be an object`);
  const entries = Object.entries(v as Record<string, unknown>);
  const out: string[] = [];
  for (const [k, name] of entries) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || typeof name !== 'string')
      throw new Error(
        `${where}: id2label must map 0..${entries.length - 1} to names, got '${k}': ${JSON.stringify(name)}`,
      );
    // Keys such as '1' and '01' are the same class; one would leave another class without a name.
    if (i in out) throw new Error(`${where}: id2label names class ${i} twice (key '${k}' repeats it)`);
    out[i] = name;
  }
  return out;
}

/** The standard Hugging Face GPT-2 config.json for a model, with gptkit_* keys only where HF has none. */
export function configToHF(
  c: GPTConfig,
  extra: { labels?: string[]; gptkit?: Record<string, unknown> } = {},
): Record<string, unknown> {
  const classifier = c.numClasses !== undefined;
  const labels =
    extra.labels ?? (classifier ? Array.from({ length: c.numClasses! }, (_, i) => `LABEL_${i}`) : undefined);
  const out: Record<string, unknown> = {
    architectures: [classifier ? 'GPT2ForSequenceClassification' : 'GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_positions: c.contextLength,
    n_ctx: c.contextLength,
    n_embd: c.embDim,
    n_layer: c.nLayers,
    n_head: c.nHeads,
    n_inner: null,
    layer_norm_epsilon: 1e-5,
    activation_function: 'gelu_new',
    resid_pdrop: c.dropRate,
    embd_pdrop: c.dropRate,
    attn_pdrop: c.dropRate,
    tie_word_embeddings: c.tiedHead,
    bos_token_id: 50256,
    eos_token_id: 50256,
  };
  if (labels) {
    out.id2label = Object.fromEntries(labels.map((name, i) => [String(i), name]));
    out.label2id = Object.fromEntries(labels.map((name, i) => [name, i]));
    out.pad_token_id = 50256;
  }
  // HF's GPT-2 always has a qkv bias (a bias-free model is saved with zeros): say which this is.
  out.gptkit_qkv_bias = c.qkvBias;
  for (const [k, v] of Object.entries(extra.gptkit ?? {})) out[`gptkit_${k}`] = v;
  return out;
}
