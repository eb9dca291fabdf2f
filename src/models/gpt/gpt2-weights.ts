// The one mapping between GPTModel (the book's parameter names, Linear weights [out, in]) and the Hugging
// Face GPT-2 layout (Conv1D weights [in, out], q/k/v fused in c_attn, tied head, `score` for classifiers).
// loadGPT2, saveGPT2 and training checkpoints all go through gpt2Layout(); parameters the layout has no
// name for (LoRA adapters) travel under their own dotted names (modelTensors / placeModelTensors).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  type NamedTensor,
} from '../../io/safetensors.js';
import { shapeStr, type Tensor } from '../../tensor/tensor.js';
import { configToHF, parseModelConfig, type GPTConfig } from './config.js';
import { GPTModel } from './gpt.js';
import { withoutInit } from '../../nn/layers.js';

/** One tensor of the Hugging Face layout and the model parameters it holds. */
export interface LayoutEntry {
  /** Shape in the Hugging Face file. */
  shape: number[];
  /** The model parameters this entry covers. */
  params: Tensor[];
  /** File data (row-major, `shape`) -> the parameters. */
  write(src: Float32Array): void;
  /** The parameters -> file data (a new array). */
  read(): Float32Array;
  /** The parameter's own memory, when the file data is the parameter unchanged (loads stream into it). */
  target?: Float32Array;
}

const view = (t: Tensor) => t.data.subarray(t.offset, t.offset + t.size) as Float32Array;

function direct(t: Tensor): LayoutEntry {
  const target = view(t);
  return {
    shape: [...t.shape],
    params: [t],
    write: (src) => target.set(src),
    read: () => target.slice(),
    target,
  };
}

/** Linear weights [out_k, in] side by side as one Conv1D weight [in, sum(out_k)] (c_attn holds q, k, v). */
function conv1d(ws: Tensor[]): LayoutEntry {
  const inp = ws[0].shape[1];
  const cols = ws.reduce((s, w) => s + w.shape[0], 0);
  const each = (f: (w: Float32Array, out: number, colOffset: number) => void) => {
    let off = 0;
    for (const w of ws) {
      f(view(w), w.shape[0], off);
      off += w.shape[0];
    }
  };
  return {
    shape: [inp, cols],
    params: ws,
    write: (src) =>
      each((w, out, off) => {
        for (let i = 0; i < inp; i++) {
          const row = i * cols + off;
          for (let o = 0; o < out; o++) w[o * inp + i] = src[row + o];
        }
      }),
    read: () => {
      const dst = new Float32Array(inp * cols);
      each((w, out, off) => {
        for (let i = 0; i < inp; i++) for (let o = 0; o < out; o++) dst[i * cols + off + o] = w[o * inp + i];
      });
      return dst;
    },
  };
}

/** c_attn.bias: q, k, v biases concatenated; all zeros (and required to be) for a model without qkv bias. */
function qkvBias(biases: Array<Tensor | null>, C: number, name: string): LayoutEntry {
  const present = biases.filter((b): b is Tensor => b !== null);
  return {
    shape: [3 * C],
    params: present,
    write: (src) => {
      if (present.length === 0) {
        if (src.some((x) => x !== 0))
          throw new Error(`'${name}' is not zero, but the configuration says the model has no qkv bias`);
        return;
      }
      present.forEach((b, j) => view(b).set(src.subarray(j * C, (j + 1) * C)));
    },
    read: () => {
      const dst = new Float32Array(3 * C);
      present.forEach((b, j) => dst.set(view(b), j * C));
      return dst;
    },
  };
}

/** The Hugging Face GPT-2 layout of this model: file tensor name -> where it lives in the model. */
export function gpt2Layout(model: GPTModel): Map<string, LayoutEntry> {
  const { embDim: C, nLayers, tiedHead, numClasses } = model.cfg;
  const m = new Map<string, LayoutEntry>();
  m.set('wte.weight', direct(model.tok_emb.weight));
  m.set('wpe.weight', direct(model.pos_emb.weight));
  for (let i = 0; i < nLayers; i++) {
    const b = model.trf_blocks[i];
    const p = `h.${i}.`;
    const { W_query: q, W_key: k, W_value: v } = b.att;
    m.set(`${p}ln_1.weight`, direct(b.norm1.scale));
    m.set(`${p}ln_1.bias`, direct(b.norm1.shift));
    m.set(`${p}attn.c_attn.weight`, conv1d([q.weight, k.weight, v.weight]));
    m.set(`${p}attn.c_attn.bias`, qkvBias([q.bias, k.bias, v.bias], C, `${p}attn.c_attn.bias`));
    m.set(`${p}attn.c_proj.weight`, conv1d([b.att.out_proj.weight]));
    m.set(`${p}attn.c_proj.bias`, direct(b.att.out_proj.bias!));
    m.set(`${p}ln_2.weight`, direct(b.norm2.scale));
    m.set(`${p}ln_2.bias`, direct(b.norm2.shift));
    m.set(`${p}mlp.c_fc.weight`, conv1d([b.ff.layers[0].weight]));
    m.set(`${p}mlp.c_fc.bias`, direct(b.ff.layers[0].bias!));
    m.set(`${p}mlp.c_proj.weight`, conv1d([b.ff.layers[2].weight]));
    m.set(`${p}mlp.c_proj.bias`, direct(b.ff.layers[2].bias!));
  }
  m.set('ln_f.weight', direct(model.final_norm.scale));
  m.set('ln_f.bias', direct(model.final_norm.shift));
  if (numClasses !== undefined) {
    // GPT2ForSequenceClassification's head is `score`; the book's classifier head also has a bias.
    m.set('score.weight', direct(model.out_head.weight));
    m.set('score.bias', direct(model.out_head.bias!));
  } else if (!tiedHead) {
    m.set('lm_head.weight', direct(model.out_head.weight));
  }
  return m;
}

/** Parameters the Hugging Face layout has no name for (LoRA adapters), by their dotted model names. */
export function extraParameters(model: GPTModel): Array<[string, Tensor]> {
  const covered = new Set<Tensor>();
  for (const e of gpt2Layout(model).values()) for (const p of e.params) covered.add(p);
  return model.namedParameters().filter(([, p]) => !covered.has(p));
}

/** Every parameter of the model as named file tensors: the Hugging Face layout, then the extras. */
export function modelTensors(model: GPTModel): NamedTensor[] {
  const out: NamedTensor[] = [];
  for (const [name, e] of gpt2Layout(model)) out.push({ name, shape: e.shape, data: e.read() });
  for (const [name, p] of extraParameters(model))
    out.push({ name, shape: [...p.shape], data: view(p).slice() });
  return out;
}

/** The model's parameters in the Hugging Face layout only (copies, Conv1D weights [in, out]). */
export function hfTensors(model: GPTModel): NamedTensor[] {
  const layout = gpt2Layout(model);
  return modelTensors(model).filter((t) => layout.has(t.name));
}

function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/** Strip the `transformer.` prefix that GPT2LMHeadModel.save_pretrained adds. */
function normaliseName(name: string): string {
  return name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
}

/** Checkpoint entries that carry no parameters (causal-mask buffers of older transformers versions). */
const IGNORED = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/**
 * Copy file tensors (as modelTensors names them) into every parameter of the model. Strict: a missing
 * tensor, a wrong shape, or a tensor the model has no place for is an error naming it.
 */
export function placeModelTensors(
  model: GPTModel,
  tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
  where: string,
): void {
  const targets = new Map<string, { shape: readonly number[]; write: (src: Float32Array) => void }>(
    gpt2Layout(model),
  );
  for (const [name, p] of extraParameters(model))
    targets.set(name, { shape: p.shape, write: (src) => view(p).set(src) });
  checkNames(
    model,
    [...tensors].map(([n, t]) => ({ name: n, shape: t.shape })),
    targets,
    where,
  );
  for (const [raw, t] of tensors) {
    const target = targets.get(normaliseName(raw));
    if (target) target.write(t.data);
  }
}

function checkNames(
  model: GPTModel,
  present: ReadonlyArray<{ name: string; shape: readonly number[] }>,
  targets: ReadonlyMap<string, { shape: readonly number[] }>,
  where: string,
): void {
  const names = new Set<string>();
  for (const t of present) {
    const name = normaliseName(t.name);
    names.add(name);
    // A tied model's file may still hold lm_head.weight (a copy of wte): transformers ignores it too.
    if (IGNORED.test(name) || (name === 'lm_head.weight' && model.cfg.tiedHead)) continue;
    const target = targets.get(name);
    if (!target)
      throw new Error(
        `${where}: unexpected tensor '${t.name}' for a ${model.cfg.nLayers}-layer GPT-2` +
          (name === 'lm_head.weight' ? ' with a tied head' : ''),
      );
    if (shapeStr(t.shape) !== shapeStr(target.shape))
      throw new Error(
        `${where}: tensor '${t.name}' has shape ${shapeStr(t.shape)}, but the configuration implies ${shapeStr(target.shape)}`,
      );
  }
  const missing = [...targets.keys()].filter((k) => !names.has(k));
  if (missing.length)
    throw new Error(
      `${where}: missing tensor(s) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}` +
        (missing.includes('lm_head.weight') ? ' (config.json says the head is not tied to wte)' : ''),
    );
}

/** What `config.json` of a model directory says: the architecture, class names, gptkit's extra keys. */
export async function readModelConfig(dir: string): Promise<ReturnType<typeof parseModelConfig>> {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new Error(`${path}: file not found`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return parseModelConfig(json, path);
}

/**
 * Read a Hugging Face GPT-2 directory (config.json + model.safetensors) into a new GPTModel in eval mode,
 * language model or classifier. The model is only returned once every tensor loaded.
 */
export async function loadGPT2(dir: string, opts: { dropRate?: number } = {}): Promise<GPTModel> {
  const { config } = await readModelConfig(dir);
  const weightsPath = join(dir, 'model.safetensors');
  if (!existsSync(weightsPath)) throw new Error(`${weightsPath}: file not found`);
  const cfg: GPTConfig = { ...config, dropRate: opts.dropRate ?? 0 };
  const header = await readSafetensorsHeader(weightsPath);
  const model = withoutInit(() => new GPTModel(cfg)); // every parameter is about to be overwritten
  const layout = gpt2Layout(model);
  checkNames(model, header.tensors, layout, weightsPath);
  // Direct tensors stream straight into their parameters; the others go through scratch buffers in
  // passes of bounded size, so peak memory stays near the model's own size.
  const byName = (raw: string) =>
    IGNORED.test(normaliseName(raw)) ? undefined : layout.get(normaliseName(raw));
  const tiedCopy = (raw: string) => model.cfg.tiedHead && normaliseName(raw) === 'lm_head.weight';
  await loadSafetensors(weightsPath, (raw) => (tiedCopy(raw) ? null : (byName(raw)?.target ?? null)));
  const rest = header.tensors.filter((t) => !tiedCopy(t.name) && byName(t.name) && !byName(t.name)!.target);
  const passBytes = 256 * 1024 * 1024;
  for (let i = 0; i < rest.length;) {
    const batch = new Map<string, Float32Array>();
    let bytes = 0;
    while (i < rest.length && (batch.size === 0 || bytes + rest[i].numel * 4 <= passBytes)) {
      batch.set(rest[i].name, new Float32Array(rest[i].numel));
      bytes += rest[i].numel * 4;
      i++;
    }
    await loadSafetensors(weightsPath, (raw) => batch.get(raw) ?? null);
    for (const [raw, scratch] of batch) byName(raw)!.write(scratch);
  }
  // A NaN or infinity in the file gives garbage at inference, never an error: refuse it here, by name.
  for (const [name, e] of layout)
    for (const p of e.params) {
      const i = firstNonFinite(view(p));
      if (i !== -1)
        throw new Error(
          `${weightsPath}: tensor '${name}' holds a non-finite value (${view(p)[i]}); the file is damaged or was saved from a diverged model`,
        );
    }
  return model.eval();
}

/**
 * Write the model as a Hugging Face GPT-2 directory (config.json + model.safetensors): standard keys,
 * `gptkit_*` keys only for what Hugging Face has no key for. `labels` names a classifier's classes.
 */
export async function saveGPT2(
  model: GPTModel,
  dir: string,
  extra: { labels?: string[]; gptkit?: Record<string, unknown> } = {},
): Promise<void> {
  if (extraParameters(model).length)
    throw new Error(
      'saveGPT2: the model has parameters the GPT-2 layout cannot hold (LoRA adapters): merge them first, or save the adapters',
    );
  await mkdir(dir, { recursive: true });
  await saveSafetensors(join(dir, 'model.safetensors'), hfTensors(model), { format: 'pt' });
  await writeFile(join(dir, 'config.json'), JSON.stringify(configToHF(model.cfg, extra), null, 2) + '\n');
}
