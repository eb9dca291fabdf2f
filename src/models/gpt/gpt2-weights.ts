// Mapping between GPTModel (the book's parameter names, Linear weights [out, in]) and the Hugging Face
// GPT-2 checkpoint layout (Conv1D weights [in, out], q/k/v fused in c_attn, tied head). Loading streams
// each tensor from the file into its parameter; a tensor that needs transposing goes through one scratch buffer.
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
import { configFromHF, configToHF, validateConfig, type GPTConfig } from './config.js';
import { GPTModel } from './gpt.js';
import { withoutInit } from '../../nn/layers.js';

/** How one checkpoint tensor lands in the model: into which parameters, and how. */
interface Placement {
  /** Expected checkpoint shape. */
  shape: number[];
  /** Copy the checkpoint tensor (row-major data) into the model. */
  place(src: Float32Array): void;
  /** The parameter's own memory, when the checkpoint data can be read into it unchanged. */
  target?: Float32Array;
}

/** dst[o, i] = src[i, colOffset + o] for a Conv1D weight src [in, cols] and a Linear weight dst [out, in]. */
function transposeInto(src: Float32Array, cols: number, colOffset: number, dst: Tensor): void {
  const [out, inp] = dst.shape;
  const d = dst.data;
  for (let i = 0; i < inp; i++) {
    const row = i * cols + colOffset;
    for (let o = 0; o < out; o++) d[o * inp + i] = src[row + o];
  }
}

function direct(t: Tensor): Placement {
  const target = t.data.subarray(t.offset, t.offset + t.size) as Float32Array;
  return { shape: [...t.shape], place: (src) => target.set(src), target };
}

/** The checkpoint tensors a model of this config expects, keyed by Hugging Face name. */
function hfPlacements(model: GPTModel): Map<string, Placement> {
  const { embDim: C, nLayers, qkvBias, tiedHead } = model.cfg;
  const m = new Map<string, Placement>();
  m.set('wte.weight', direct(model.tok_emb.weight));
  m.set('wpe.weight', direct(model.pos_emb.weight));
  for (let i = 0; i < nLayers; i++) {
    const b = model.trf_blocks[i];
    const p = `h.${i}.`;
    m.set(`${p}ln_1.weight`, direct(b.norm1.scale));
    m.set(`${p}ln_1.bias`, direct(b.norm1.shift));
    m.set(`${p}attn.c_attn.weight`, {
      shape: [C, 3 * C],
      place: (src) => {
        transposeInto(src, 3 * C, 0, b.att.W_query.weight);
        transposeInto(src, 3 * C, C, b.att.W_key.weight);
        transposeInto(src, 3 * C, 2 * C, b.att.W_value.weight);
      },
    });
    if (qkvBias) {
      m.set(`${p}attn.c_attn.bias`, {
        shape: [3 * C],
        place: (src) => {
          b.att.W_query.bias!.data.set(src.subarray(0, C));
          b.att.W_key.bias!.data.set(src.subarray(C, 2 * C));
          b.att.W_value.bias!.data.set(src.subarray(2 * C, 3 * C));
        },
      });
    }
    const conv = (t: Tensor): Placement => ({
      shape: [t.shape[1], t.shape[0]],
      place: (src) => transposeInto(src, t.shape[0], 0, t),
    });
    m.set(`${p}attn.c_proj.weight`, conv(b.att.out_proj.weight));
    m.set(`${p}attn.c_proj.bias`, direct(b.att.out_proj.bias!));
    m.set(`${p}ln_2.weight`, direct(b.norm2.scale));
    m.set(`${p}ln_2.bias`, direct(b.norm2.shift));
    m.set(`${p}mlp.c_fc.weight`, conv(b.ff.layers[0].weight));
    m.set(`${p}mlp.c_fc.bias`, direct(b.ff.layers[0].bias!));
    m.set(`${p}mlp.c_proj.weight`, conv(b.ff.layers[2].weight));
    m.set(`${p}mlp.c_proj.bias`, direct(b.ff.layers[2].bias!));
  }
  m.set('ln_f.weight', direct(model.final_norm.scale));
  m.set('ln_f.bias', direct(model.final_norm.shift));
  if (!tiedHead) m.set('lm_head.weight', direct(model.out_head.weight));
  return m;
}

/** Checkpoint entries that carry no parameters (the causal-mask buffers of older transformers versions). */
const IGNORED = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** Strip the `transformer.` prefix that GPT2LMHeadModel.save_pretrained adds. */
function normaliseName(name: string): string {
  return name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
}

/**
 * Read a Hugging Face GPT-2 directory (config.json + model.safetensors) into a new GPTModel in eval
 * mode. The model is only returned once every tensor loaded: a failure leaves nothing half-loaded in use.
 */
export async function loadGPT2(dir: string, opts: { dropRate?: number } = {}): Promise<GPTModel> {
  const configPath = join(dir, 'config.json');
  const weightsPath = join(dir, 'model.safetensors');
  for (const p of [configPath, weightsPath]) if (!existsSync(p)) throw new Error(`${p}: file not found`);
  let hf: Record<string, unknown>;
  try {
    hf = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${configPath}: not valid JSON (${(e as Error).message})`);
  }
  const header = await readSafetensorsHeader(weightsPath);
  const names = new Set(header.tensors.map((t) => normaliseName(t.name)));
  const cfg: GPTConfig = {
    ...configFromHF(hf, opts.dropRate ?? 0),
    // gptkit's own checkpoints record these; released GPT-2 checkpoints have qkv bias and a tied head.
    qkvBias: hf.gptkit_qkv_bias === undefined ? true : Boolean(hf.gptkit_qkv_bias),
    tiedHead: !names.has('lm_head.weight'),
  };
  const model = withoutInit(() => new GPTModel(cfg)); // every parameter is about to be overwritten
  const placements = hfPlacements(model);
  for (const info of header.tensors) {
    const name = normaliseName(info.name);
    if (IGNORED.test(name) || (name === 'lm_head.weight' && cfg.tiedHead)) continue;
    // A model without qkv bias is saved with a zero c_attn.bias (the HF layout has no way to omit it).
    if (!cfg.qkvBias && /^h\.\d+\.attn\.c_attn\.bias$/.test(name)) continue;
    const p = placements.get(name);
    if (!p)
      throw new Error(`${weightsPath}: unexpected tensor '${info.name}' for a ${cfg.nLayers}-layer GPT-2`);
    if (shapeStr(info.shape) !== shapeStr(p.shape)) {
      throw new Error(
        `${weightsPath}: tensor '${info.name}' has shape ${shapeStr(info.shape)}, but config.json implies ${shapeStr(p.shape)}`,
      );
    }
  }
  const missing = [...placements.keys()].filter((k) => !names.has(k));
  if (missing.length) {
    throw new Error(
      `${weightsPath}: missing tensor(s) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
    );
  }
  // Direct tensors stream straight into their parameters; transposed ones go through scratch buffers
  // in passes of bounded size, so peak memory stays near the model's own size.
  const direct = new Set([...placements].filter(([, p]) => p.target).map(([n]) => n));
  await loadSafetensors(weightsPath, (raw) => {
    const name = normaliseName(raw);
    return direct.has(name) ? placements.get(name)!.target! : null;
  });
  const rest = header.tensors.filter(
    (t) => placements.has(normaliseName(t.name)) && !direct.has(normaliseName(t.name)),
  );
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
    for (const [raw, scratch] of batch) placements.get(normaliseName(raw))!.place(scratch);
  }
  return model.eval();
}

/** Write the model as a Hugging Face GPT-2 directory (config.json + model.safetensors). */
export async function saveGPT2(model: GPTModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors = hfTensors(model);
  await saveSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  const cfg = {
    ...configToHF(model.cfg),
    gptkit_qkv_bias: model.cfg.qkvBias,
    gptkit_tied_head: model.cfg.tiedHead,
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
}

/** The model's parameters in the Hugging Face layout (copies, Conv1D weights transposed back to [in, out]). */
export function hfTensors(model: GPTModel): NamedTensor[] {
  const { embDim: C, nLayers } = validateConfig(model.cfg);
  const out: NamedTensor[] = [];
  const add = (name: string, shape: number[], data: Float32Array) => out.push({ name, shape, data });
  const copy = (t: Tensor) => Float32Array.from(t.data.subarray(t.offset, t.offset + t.size));
  const toConv = (ws: Tensor[]): Float32Array => {
    // Conv1D [in, sum(out)] from Linear weights [out, in] placed side by side.
    const inp = ws[0].shape[1];
    const cols = ws.reduce((s, w) => s + w.shape[0], 0);
    const dst = new Float32Array(inp * cols);
    let off = 0;
    for (const w of ws) {
      const [o] = w.shape;
      for (let i = 0; i < inp; i++) for (let j = 0; j < o; j++) dst[i * cols + off + j] = w.data[j * inp + i];
      off += o;
    }
    return dst;
  };
  add('wte.weight', [...model.tok_emb.weight.shape], copy(model.tok_emb.weight));
  add('wpe.weight', [...model.pos_emb.weight.shape], copy(model.pos_emb.weight));
  for (let i = 0; i < nLayers; i++) {
    const b = model.trf_blocks[i];
    const p = `h.${i}.`;
    add(`${p}ln_1.weight`, [C], copy(b.norm1.scale));
    add(`${p}ln_1.bias`, [C], copy(b.norm1.shift));
    add(
      `${p}attn.c_attn.weight`,
      [C, 3 * C],
      toConv([b.att.W_query.weight, b.att.W_key.weight, b.att.W_value.weight]),
    );
    const qkvb = new Float32Array(3 * C);
    [b.att.W_query.bias, b.att.W_key.bias, b.att.W_value.bias].forEach(
      (bias, j) => bias && qkvb.set(bias.data.subarray(0, C), j * C),
    );
    add(`${p}attn.c_attn.bias`, [3 * C], qkvb);
    add(`${p}attn.c_proj.weight`, [C, C], toConv([b.att.out_proj.weight]));
    add(`${p}attn.c_proj.bias`, [C], copy(b.att.out_proj.bias!));
    add(`${p}ln_2.weight`, [C], copy(b.norm2.scale));
    add(`${p}ln_2.bias`, [C], copy(b.norm2.shift));
    add(`${p}mlp.c_fc.weight`, [C, 4 * C], toConv([b.ff.layers[0].weight]));
    add(`${p}mlp.c_fc.bias`, [4 * C], copy(b.ff.layers[0].bias!));
    add(`${p}mlp.c_proj.weight`, [4 * C, C], toConv([b.ff.layers[2].weight]));
    add(`${p}mlp.c_proj.bias`, [C], copy(b.ff.layers[2].bias!));
  }
  add('ln_f.weight', [C], copy(model.final_norm.scale));
  add('ln_f.bias', [C], copy(model.final_norm.shift));
  if (!model.cfg.tiedHead)
    add('lm_head.weight', [...model.out_head.weight.shape], copy(model.out_head.weight));
  return out;
}
