// The one resolver of what users type after --model, used by every command and task: a preset name (a
// fresh model), a released GPT-2 name (its downloaded weights), a config JSON (a fresh model), a model
// directory (Hugging Face layout), a training run directory (its model/), or a LoRA adapter directory
// (its base model plus the adapters). The configuration is known before any weights are built.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isKnownModel, KNOWN_MODELS, resolveModelRef } from '../../io/hub.js';
import { templateFromSpec, type PromptTemplate, type TemplateSpec } from '../../data/instruction.js';
import { globalRng } from '../../tensor/rng.js';
import {
  GPT2_PRESETS,
  HF_NAME_TO_PRESET,
  parseModelConfig,
  validateConfig,
  type GPTConfig,
} from './config.js';
import { GPTModel } from './gpt.js';
import { loadGPT2, readModelConfig } from './gpt2-weights.js';
import { initGPT2Weights } from './init.js';
import { quantizeModel, type WeightDtype } from './quantize.js';
import { ADAPTER_CONFIG, loadAdapters, readAdapterConfig, type AdapterConfig } from './adapters.js';

export interface ResolveModelOptions {
  /**
   * What a name like `gpt2-medium` means: 'fresh' (pretraining: the architecture with new weights) or
   * 'pretrained' (OpenAI's released weights, downloaded with `gptkit download`). Default 'pretrained'.
   * Preset names that are not released models (`gpt2-small`) are always fresh.
   */
  names?: 'fresh' | 'pretrained';
  /** Fresh presets: length of the position table (the book's GPT_CONFIG_124M trains with 256). Default: the preset's. */
  presetContextLength?: number;
  /** Dropout of the built model. Default: the configuration's for fresh models, 0 for loaded ones. */
  dropRate?: number;
  /** Fresh models: 'book' (PyTorch's default init, GPTModel's constructor) or 'gpt2' (N(0, 0.02)). Default 'book'. */
  init?: 'book' | 'gpt2';
}

export interface ModelSource {
  /** What the user gave, for messages ('gpt2-small', a path). */
  label: string;
  kind: 'fresh' | 'pretrained' | 'adapters';
  /** The configuration the built model has. */
  config: GPTConfig;
  /** The model directory holding the weights (pretrained), or the adapter directory. */
  dir?: string;
  /** A classifier's class names, from config.json. */
  labels?: string[];
  /** The `gptkit_*` keys of config.json (without the prefix): task settings stored with the model. */
  gptkit: Record<string, unknown>;
  /** The instruction template the model was fine-tuned with (config.json's gptkit_template); none for base models. */
  template?: PromptTemplate;
  /** The adapter configuration, for kind 'adapters'. */
  adapters?: AdapterConfig;
  /**
   * Build the model: fresh models draw their initial weights from globalRng. Returned in train mode.
   * `dtype` 'bf16' / 'int8' holds the Linear weights (and a tied head) so, for inference only (see
   * quantizeModel); loaded weights are converted while streaming. Default 'f32'.
   */
  build(opts?: BuildOptions): Promise<GPTModel>;
}

export interface BuildOptions {
  dtype?: WeightDtype;
  /**
   * Inference only: a pretrained f32 model keeps its weights in the mapped file instead of copies (loads in a
   * fraction of the time, shares the pages with the page cache), frozen; see LoadGPT2Options.map. Default false.
   */
  map?: boolean;
}

function fresh(config: GPTConfig, init: 'book' | 'gpt2'): (o?: BuildOptions) => Promise<GPTModel> {
  return async (o = {}) => {
    const model = new GPTModel(config);
    if (init === 'gpt2') initGPT2Weights(model, globalRng);
    return quantizeModel(model, o.dtype ?? 'f32').train();
  };
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

const hasModel = (dir: string) =>
  existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'model.safetensors'));

/** Resolve `spec` without building weights. */
export async function resolveModel(
  spec: string | GPTConfig,
  o: ResolveModelOptions = {},
): Promise<ModelSource> {
  const src = await resolveSource(spec, o);
  const t = src.gptkit.template;
  if (t !== undefined) src.template = templateFromSpec(t as TemplateSpec, `${src.label}: gptkit_template`);
  return src;
}

async function resolveSource(spec: string | GPTConfig, o: ResolveModelOptions): Promise<ModelSource> {
  const init = o.init ?? 'book';
  if (init !== 'book' && init !== 'gpt2')
    throw new Error(`init must be 'book' or 'gpt2', got '${String(init)}'`);
  const withDrop = (c: GPTConfig, dflt: number): GPTConfig =>
    validateConfig({ ...c, dropRate: o.dropRate ?? dflt });

  if (typeof spec === 'object') {
    const config = withDrop(spec, spec.dropRate);
    return { label: 'custom configuration', kind: 'fresh', config, gptkit: {}, build: fresh(config, init) };
  }
  if (!spec) throw new Error('--model: give a model name, a config file or a model directory');

  if (existsSync(spec)) {
    if (statSync(spec).isFile()) {
      // DIR/config.json of a model directory means the directory.
      if (basename(spec) === 'config.json' && hasModel(dirname(spec)))
        return pretrained(dirname(spec), spec, o);
      const { config: c, labels, gptkit } = parseModelConfig(readJson(spec), spec);
      const config = withDrop(c, c.dropRate);
      return { label: spec, kind: 'fresh', config, labels, gptkit, build: fresh(config, init) };
    }
    if (existsSync(join(spec, ADAPTER_CONFIG))) return adapters(spec, o);
    if (hasModel(spec)) return pretrained(spec, spec, o);
    // A training run directory keeps its final model in model/.
    const nested = join(spec, 'model');
    if (existsSync(join(nested, ADAPTER_CONFIG))) return adapters(nested, o);
    if (hasModel(nested)) return pretrained(nested, spec, o);
    throw new Error(
      `--model ${spec}: this directory has no model (config.json + model.safetensors), no ${ADAPTER_CONFIG}, ` +
        `and no model/ folder of a finished training run`,
    );
  }
  const names = o.names ?? 'pretrained';
  if (names === 'pretrained' && isKnownModel(spec))
    return pretrained((await resolveModelRef(spec)).dir, spec, o);
  const preset = GPT2_PRESETS[spec] ?? GPT2_PRESETS[HF_NAME_TO_PRESET[spec] ?? ''];
  if (preset) {
    if (o.presetContextLength !== undefined && o.presetContextLength > preset.contextLength)
      throw new Error(
        `context length ${o.presetContextLength} is larger than the model's ${preset.contextLength} (${spec}); use --context-length ${preset.contextLength} or less`,
      );
    const config = withDrop(
      { ...preset, contextLength: o.presetContextLength ?? preset.contextLength },
      preset.dropRate,
    );
    return { label: spec, kind: 'fresh', config, gptkit: {}, build: fresh(config, init) };
  }
  const looksLikePath = /[/\\]/.test(spec) || spec.startsWith('.') || spec.endsWith('.json');
  throw new Error(
    looksLikePath
      ? `--model ${spec}: no such file or directory`
      : `--model ${spec}: not a preset (${Object.keys(GPT2_PRESETS).join(', ')}), a released model ` +
          `(${KNOWN_MODELS.join(', ')}), a config file, or a model directory`,
  );
}

async function pretrained(dir: string, label: string, o: ResolveModelOptions): Promise<ModelSource> {
  const { config: c, labels, gptkit } = await readModelConfig(dir);
  const dropRate = o.dropRate ?? 0;
  const config = { ...c, dropRate };
  return {
    label,
    kind: 'pretrained',
    config,
    dir: resolve(dir),
    labels,
    gptkit,
    build: async (b = {}) => (await loadGPT2(dir, { dropRate, dtype: b.dtype, map: b.map })).train(),
  };
}

async function adapters(dir: string, o: ResolveModelOptions): Promise<ModelSource> {
  const ac = await readAdapterConfig(dir);
  const base = await resolveModel(ac.baseModel, { ...o, names: 'pretrained' });
  if (base.kind === 'adapters')
    throw new Error(`${dir}: the base model of adapters cannot itself be adapters`);
  const config: GPTConfig = { ...base.config, tiedHead: ac.numClasses ? false : base.config.tiedHead };
  if (ac.numClasses) config.numClasses = ac.numClasses;
  return {
    label: dir,
    kind: 'adapters',
    config,
    dir: resolve(dir),
    labels: ac.labels,
    gptkit: ac.gptkit ?? {},
    adapters: ac,
    build: async (b = {}) => quantizeModel(await loadAdapters(await base.build(), dir, ac), b.dtype ?? 'f32'),
  };
}
