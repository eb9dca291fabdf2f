// Where a pretraining run's model comes from: a preset name (a fresh model, the book's way), a config JSON
// file (ours or a Hugging Face config.json), a config object, or a Hugging Face-layout directory with weights.
// The configuration is known before any weights are built, so bad options and resume mismatches fail fast.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensorsHeader } from '../io/safetensors.js';
import {
  configFromHF,
  GPT2_PRESETS,
  HF_NAME_TO_PRESET,
  validateConfig,
  type GPTConfig,
} from '../models/gpt/config.js';
import { GPTModel } from '../models/gpt/gpt.js';
import { loadGPT2 } from '../models/gpt/gpt2-weights.js';
import { globalRng } from '../tensor/rng.js';
import { initGPT2Weights } from './init.js';

/** The book's chapter-5 window length, used when no context length is given (capped by the model's). */
export const DEFAULT_CONTEXT_LENGTH = 256;

export interface ModelSourceOptions {
  /** Training window length; presets build their position table this long (the book's 256). */
  contextLength?: number;
  dropRate?: number;
  /** 'book': PyTorch's default init (GPTModel's constructor); 'gpt2': GPT-2's N(0, 0.02) init. Fresh models only. */
  init?: 'book' | 'gpt2';
}

export interface ModelSource {
  /** 'gpt2-small', 'config.json', or the directory, for messages. */
  label: string;
  kind: 'preset' | 'config' | 'pretrained';
  /** The configuration the model will have. */
  config: GPTConfig;
  /** Training windows: the given context length, else min(256, the model's). */
  contextLength: number;
  /** Build the model (fresh models draw their initial weights from globalRng). Returned in train mode. */
  build(): Promise<GPTModel>;
}

function readJson(path: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: not a valid model configuration (${(e as Error).message})`);
  }
}

/** A config JSON in gptkit's own field names, or a Hugging Face config.json (n_embd, n_layer, ...). */
function configFromJson(obj: Record<string, unknown>, path: string): GPTConfig {
  if ('n_embd' in obj) {
    const cfg = configFromHF(obj, typeof obj.resid_pdrop === 'number' ? obj.resid_pdrop : 0.1);
    return {
      ...cfg,
      qkvBias: obj.gptkit_qkv_bias === undefined ? cfg.qkvBias : Boolean(obj.gptkit_qkv_bias),
      tiedHead: obj.gptkit_tied_head === undefined ? cfg.tiedHead : Boolean(obj.gptkit_tied_head),
    };
  }
  const base = GPT2_PRESETS['gpt2-small'];
  const cfg = { ...base, dropRate: 0.1, ...(obj as Partial<GPTConfig>) };
  try {
    return validateConfig(cfg);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

function windowLength(requested: number | undefined, modelMax: number, label: string): number {
  if (requested === undefined) return Math.min(DEFAULT_CONTEXT_LENGTH, modelMax);
  if (!Number.isInteger(requested) || requested < 1)
    throw new Error(`context length must be a positive integer, got ${requested}`);
  if (requested > modelMax) {
    throw new Error(
      `context length ${requested} is larger than the model's ${modelMax} (${label}); use --context-length ${modelMax} or less`,
    );
  }
  return requested;
}

function fresh(config: GPTConfig, init: 'book' | 'gpt2'): () => Promise<GPTModel> {
  return async () => {
    const model = new GPTModel(config);
    if (init === 'gpt2') initGPT2Weights(model, globalRng);
    return model.train();
  };
}

/** Resolve `spec` (a preset name, a config file, a config object, or a model directory) without building weights. */
export function resolveModelSource(spec: string | GPTConfig, o: ModelSourceOptions = {}): ModelSource {
  const init = o.init ?? 'book';
  if (init !== 'book' && init !== 'gpt2')
    throw new Error(`init must be 'book' or 'gpt2', got '${String(init)}'`);
  if (typeof spec === 'object') {
    const config = validateConfig({ ...spec, dropRate: o.dropRate ?? spec.dropRate });
    const contextLength = windowLength(o.contextLength, config.contextLength, 'the given configuration');
    return {
      label: 'custom configuration',
      kind: 'config',
      config,
      contextLength,
      build: fresh(config, init),
    };
  }
  const preset = GPT2_PRESETS[spec] ?? GPT2_PRESETS[HF_NAME_TO_PRESET[spec] ?? ''];
  if (preset && !existsSync(spec)) {
    // The book's GPT_CONFIG_124M: the preset with the position table cut to the training context length.
    const contextLength = windowLength(o.contextLength, preset.contextLength, spec);
    const config = validateConfig({ ...preset, contextLength, dropRate: o.dropRate ?? 0.1 });
    return { label: spec, kind: 'preset', config, contextLength, build: fresh(config, init) };
  }
  if (!existsSync(spec)) {
    throw new Error(
      `--model ${spec}: not a preset (${Object.keys(GPT2_PRESETS).join(', ')}), a config file, or a model directory`,
    );
  }
  if (statSync(spec).isFile()) {
    const config = configFromJson(readJson(spec), spec);
    if (o.dropRate !== undefined) config.dropRate = o.dropRate;
    const contextLength = windowLength(o.contextLength, config.contextLength, spec);
    return { label: spec, kind: 'config', config, contextLength, build: fresh(validateConfig(config), init) };
  }
  const cfgPath = join(spec, 'config.json');
  const weights = join(spec, 'model.safetensors');
  if (!existsSync(cfgPath) || !existsSync(weights)) {
    throw new Error(
      `--model ${spec}: a model directory needs config.json and model.safetensors (the Hugging Face layout)`,
    );
  }
  const hf = readJson(cfgPath);
  const dropRate = o.dropRate ?? 0.1;
  const base = configFromJson(hf, cfgPath);
  const config: GPTConfig = { ...base, dropRate };
  const contextLength = windowLength(o.contextLength, config.contextLength, spec);
  return {
    label: spec,
    kind: 'pretrained',
    config,
    contextLength,
    build: async () => (await loadGPT2(spec, { dropRate })).train(),
  };
}

/**
 * The configuration, with a pretrained directory's tiedHead settled from its weights file (lm_head present
 * or not, as loadGPT2 decides), so it can be compared with a checkpoint's before anything is built.
 */
export async function settleConfig(src: ModelSource): Promise<GPTConfig> {
  if (src.kind === 'pretrained') {
    const header = await readSafetensorsHeader(join(src.label, 'model.safetensors'));
    const names = header.tensors.map((t) => t.name.replace(/^transformer\./, ''));
    src.config.tiedHead = !names.includes('lm_head.weight');
  }
  return src.config;
}
