// The one GPT configuration type and the GPT-2 presets (the book's GPT_CONFIG_124M and its larger siblings).

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
      throw new Error(`config: ${k} must be a positive integer, got ${v}`);
  }
  if (c.embDim % c.nHeads !== 0)
    throw new Error(`config: embDim ${c.embDim} is not divisible by nHeads ${c.nHeads}`);
  if (!(c.dropRate >= 0 && c.dropRate < 1))
    throw new Error(`config: dropRate must be in [0, 1), got ${c.dropRate}`);
  return c;
}

/** A Hugging Face GPT-2 config.json as a GPTConfig (checkpoints: qkv bias and tied head). */
export function configFromHF(hf: Record<string, unknown>, dropRate = 0): GPTConfig {
  const num = (k: string): number => {
    const v = hf[k];
    if (typeof v !== 'number') throw new Error(`config.json: field '${k}' is missing or not a number`);
    return v;
  };
  return validateConfig({
    vocabSize: num('vocab_size'),
    contextLength: num('n_positions'),
    embDim: num('n_embd'),
    nHeads: num('n_head'),
    nLayers: num('n_layer'),
    dropRate,
    qkvBias: true,
    tiedHead: true,
  });
}

export function configToHF(c: GPTConfig): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_positions: c.contextLength,
    n_ctx: c.contextLength,
    n_embd: c.embDim,
    n_layer: c.nLayers,
    n_head: c.nHeads,
    layer_norm_epsilon: 1e-5,
    activation_function: 'gelu_new',
    resid_pdrop: c.dropRate,
    embd_pdrop: c.dropRate,
    attn_pdrop: c.dropRate,
    bos_token_id: 50256,
    eos_token_id: 50256,
  };
}
