// LoRA adapters saved apart from their base model (appendix E): DIR/adapter_config.json names the base
// model and the LoRA settings; DIR/adapter_model.safetensors holds the A/B matrices by their model names
// (trf_blocks.0.att.W_query.lora.A, ...) plus a classifier head, which the base model does not have.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, saveSafetensors } from '../../io/safetensors.js';
import { applyLoRA, type LoRAOptions } from '../../nn/lora.js';
import { noGrad } from '../../tensor/autograd.js';
import { shapeStr, type Tensor } from '../../tensor/tensor.js';
import type { GPTModel } from './gpt.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
const FORMAT = 'gptkit-lora';

export interface AdapterConfig {
  format: typeof FORMAT;
  /** The base model as `--model` resolves it (a released name or an absolute directory). */
  baseModel: string;
  rank: number;
  alpha: number;
  scaling: NonNullable<LoRAOptions['scaling']>;
  /** Set when the adapters sit on a classifier (the head is stored with them). */
  numClasses?: number;
  labels?: string[];
  /** Task settings stored with the model (as config.json's gptkit_* keys). */
  gptkit?: Record<string, unknown>;
}

export async function readAdapterConfig(dir: string): Promise<AdapterConfig> {
  const path = join(dir, ADAPTER_CONFIG);
  let c: AdapterConfig;
  try {
    c = JSON.parse(await readFile(path, 'utf8')) as AdapterConfig;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (c?.format !== FORMAT) throw new Error(`${path}: not a gptkit LoRA adapter configuration`);
  if (typeof c.baseModel !== 'string' || !Number.isInteger(c.rank) || typeof c.alpha !== 'number')
    throw new Error(`${path}: baseModel, rank and alpha are required`);
  return c;
}

/** The tensors an adapter file holds: every LoRA matrix, and the head when it is a classifier's. */
export function adapterTensors(model: GPTModel): Array<[string, Tensor]> {
  const head = model.cfg.numClasses !== undefined;
  return model
    .namedParameters()
    .filter(([n]) => n.includes('.lora.') || (head && (n === 'out_head.weight' || n === 'out_head.bias')));
}

/** Write DIR/adapter_config.json and DIR/adapter_model.safetensors for a model with LoRA layers. */
export async function saveAdapters(
  model: GPTModel,
  dir: string,
  config: Omit<AdapterConfig, 'format' | 'numClasses'>,
): Promise<void> {
  const tensors = adapterTensors(model);
  if (!tensors.some(([n]) => n.includes('.lora.')))
    throw new Error('saveAdapters: the model has no LoRA layers');
  await mkdir(dir, { recursive: true });
  await saveSafetensors(
    join(dir, ADAPTER_WEIGHTS),
    tensors.map(([name, t]) => ({
      name,
      shape: [...t.shape],
      data: t.data.slice(t.offset, t.offset + t.size) as Float32Array,
    })),
    { format: FORMAT },
  );
  const full: AdapterConfig = { format: FORMAT, ...config, numClasses: model.cfg.numClasses };
  await writeFile(join(dir, ADAPTER_CONFIG), JSON.stringify(full, null, 2) + '\n');
}

/** Put saved adapters (and a classifier head) onto a base model; returns it in train mode. */
export async function loadAdapters(base: GPTModel, dir: string, config: AdapterConfig): Promise<GPTModel> {
  const path = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(path)) throw new Error(`${path}: file not found`);
  if (config.numClasses !== undefined) base.useClassifierHead(config.numClasses);
  applyLoRA(base, { rank: config.rank, alpha: config.alpha, scaling: config.scaling });
  const want = new Map(adapterTensors(base));
  const have = await readSafetensors(path);
  for (const name of want.keys()) if (!have.has(name)) throw new Error(`${path}: missing tensor '${name}'`);
  for (const [name, t] of have) {
    const p = want.get(name);
    if (!p) throw new Error(`${path}: unexpected tensor '${name}' for this base model`);
    if (shapeStr(p.shape) !== shapeStr(t.shape))
      throw new Error(
        `${path}: tensor '${name}' has shape ${shapeStr(t.shape)}, expected ${shapeStr(p.shape)}`,
      );
  }
  noGrad(() => {
    for (const [name, p] of want) p.data.set(have.get(name)!.data, p.offset);
  });
  return base.train();
}
