// The one mapping between GPTModel (the book's parameter names, Linear weights [out, in]) and the Hugging
// Face GPT-2 layout (Conv1D weights [in, out], q/k/v fused in c_attn, tied head, `score` for classifiers).
// loadGPT2, saveGPT2 and training checkpoints all go through gpt2Layout(); parameters the layout has no
// name for (LoRA adapters) travel under their own dotted names (modelTensors / placeModelTensors).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  LOADABLE_DTYPES,
  openSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  type NamedTensor,
  type SafetensorsHeader,
  type TensorInfo,
} from '../../io/safetensors.js';
import { decodeBF16, decodeF16 } from '../../io/half.js';
import { shapeStr, Storage, Tensor } from '../../tensor/tensor.js';
import { getBackend, WEIGHT_DTYPES, type PackedMatrix, type WeightDtype } from '../../backend/index.js';
import { allocatePackedWeights } from './quantize.js';
import { packWeightInto } from '../../ops/linear.js';
import { copyInto } from '../../ops/view.js';
import { configToHF, parseModelConfig, type GPTConfig } from './config.js';
import { GPTModel } from './gpt.js';
import { withoutInit } from '../../nn/layers.js';

/** One tensor of the Hugging Face layout and the model parameters it holds. */
export interface LayoutEntry {
  /** Shape in the Hugging Face file. */
  shape: number[];
  /** The model parameters this entry covers. */
  params: Tensor[];
  /** File data (row-major, `shape`) -> the parameters (converted to their storage: f32, bf16 or int8). */
  write(src: Float32Array): void;
  /**
   * Rows [row0, row0 + src.length / cols) of the file data -> the parameter, for entries whose file rows are the
   * parameter's rows (loads convert large tensors in bounded chunks through it).
   */
  writeRows?(src: Float32Array, row0: number): void;
  /**
   * The parameters -> file data: the parameter's own memory where the layouts agree (no copy: write it out before
   * the model changes), else a new array. Throws for bf16 / int8 parameters (inference storage).
   */
  read(): Float32Array;
  /** The parameter's own memory, when the file data is the parameter unchanged (loads stream into it). */
  target?: Float32Array;
  /**
   * Tensors over the file data itself (`src`, row-major `shape`) that stand for `params`, in order: a Conv1D
   * weight becomes a transposed view. A load that maps the file makes them the parameters.
   */
  views(src: Float32Array): Tensor[];
}

const view = (t: Tensor) => t.data.subarray(t.offset, t.offset + t.size) as Float32Array;

/** A parameter's values in row-major order: its own memory, or a copy for a strided view (a mapped model). */
function dense(t: Tensor): Float32Array {
  if (t.isContiguous()) return view(t);
  const out = new Float32Array(t.size);
  copyInto(t, out, 0);
  return out;
}

/** A NaN or infinity in a file gives garbage at inference, never an error: loads refuse it, naming the tensor. */
function nonFinite(path: string, name: string, value: number): Error {
  return new Error(
    `${path}: tensor '${name}' holds a non-finite value (${value}); the file is damaged or was saved from a diverged model`,
  );
}

/** Where a weight's values go: its packed storage, or its own f32 memory. */
const destination = (t: Tensor): PackedMatrix | Float32Array => t.packed ?? view(t);

function unreadable(t: Tensor): Error {
  return new Error(
    `tensor '${t.name}' is held as ${t.packed!.dtype} for inference and cannot be saved; load the model as f32 to save it`,
  );
}

function direct(t: Tensor): LayoutEntry {
  const cols = t.ndim === 2 ? t.shape[1] : t.size;
  const writeRows = (src: Float32Array, row0: number) =>
    packWeightInto(destination(t), cols, src, {
      rowStride: cols,
      colStride: 1,
      row0,
      rows: src.length / cols,
    });
  const views = (src: Float32Array) => [new Tensor(new Storage(src, false), t.shape)];
  if (t.packed)
    return {
      shape: [...t.shape],
      params: [t],
      write: (src) => writeRows(src, 0),
      writeRows,
      read: () => {
        throw unreadable(t);
      },
      views,
    };
  return {
    shape: [...t.shape],
    params: [t],
    write: (src) => view(t).set(src),
    writeRows: (src, row0) => view(t).set(src, row0 * cols),
    read: () => dense(t),
    get target() {
      return t.isContiguous() ? view(t) : undefined;
    },
    views,
  };
}

/** Linear weights [out_k, in] side by side as one Conv1D weight [in, sum(out_k)] (c_attn holds q, k, v). */
function conv1d(ws: Tensor[]): LayoutEntry {
  const inp = ws[0].shape[1];
  const cols = ws.reduce((s, w) => s + w.shape[0], 0);
  return {
    shape: [inp, cols],
    params: ws,
    // Weight (o, i) of the k-th Linear is file element (i, off_k + o): a transposed read, done natively in
    // cache-sized tiles (and converted to bf16 / int8 on the way when the weight is held so).
    write: (src) => {
      let off = 0;
      for (const w of ws) {
        packWeightInto(destination(w), inp, src, {
          srcOffset: off,
          rowStride: 1,
          colStride: cols,
          rows: w.shape[0],
        });
        off += w.shape[0];
      }
    },
    read: () => {
      const dst = new Float32Array(inp * cols);
      let off = 0;
      for (const w of ws) {
        if (w.packed) throw unreadable(w);
        const out = w.shape[0];
        // file (i, off + o) = W (o, i): rows of the file block are columns of W; one Linear fills whole rows
        const blk = ws.length === 1 ? dst : new Float32Array(inp * out);
        packWeightInto(blk, out, w.data as Float32Array, {
          srcOffset: w.offset,
          rowStride: w.strides[1],
          colStride: w.strides[0],
          rows: inp,
        });
        if (blk !== dst)
          for (let i = 0; i < inp; i++) dst.set(blk.subarray(i * out, (i + 1) * out), i * cols + off);
        off += out;
      }
      return dst;
    },
    views: (src) => {
      const storage = new Storage(src, false);
      let off = 0;
      return ws.map((w) => {
        const t = new Tensor(storage, w.shape, [1, cols], off);
        off += w.shape[0];
        return t;
      });
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
      present.forEach((b, j) => dst.set(dense(b), j * C));
      return dst;
    },
    views: (src) => {
      if (present.length === 0) {
        if (src.some((x) => x !== 0))
          throw new Error(`'${name}' is not zero, but the configuration says the model has no qkv bias`);
        return [];
      }
      const storage = new Storage(src, false);
      return present.map((_, j) => new Tensor(storage, [C], [1], j * C));
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

/**
 * Every parameter of the model as named file tensors: the Hugging Face layout, then the extras. Tensors whose layout
 * is the model's (wte, wpe, norms, biases, an untied head) are views of the parameters, not copies (a checkpoint of
 * the 124M model then touches 0.3 GB less fresh memory): write them before the model changes.
 */
export function modelTensors(model: GPTModel): NamedTensor[] {
  const out: NamedTensor[] = [];
  for (const [name, e] of gpt2Layout(model)) out.push({ name, shape: e.shape, data: e.read() });
  for (const [name, p] of extraParameters(model)) out.push({ name, shape: [...p.shape], data: dense(p) });
  return out;
}

/** The model's parameters in the Hugging Face layout only (Conv1D weights [in, out]; see modelTensors for views). */
export function hfTensors(model: GPTModel): NamedTensor[] {
  const layout = gpt2Layout(model);
  return modelTensors(model).filter((t) => layout.has(t.name));
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

export interface LoadGPT2Options {
  /** Dropout of the built model (default 0). */
  dropRate?: number;
  /**
   * How the model holds its Linear weights (and a tied token embedding): 'f32' (default, the reference), or
   * 'bf16' / 'int8' for inference, converted while streaming (peak memory near the converted size).
   */
  dtype?: WeightDtype;
  /** Bytes of f32 data converted per step when a tensor's file rows are its parameter's rows (wte). Default 16 MiB. */
  chunkBytes?: number;
  /**
   * Inference only, f32: map the file into memory and use its data in place (Conv1D weights as transposed views)
   * instead of copying it: no fresh memory, pages shared with the page cache and every other process mapping the
   * file. The parameters are frozen: a mapped model generates, classifies, is quantized or saved, but does not
   * train. Falls back to reading when the file needs converting (f16 / bf16 data, unaligned tensors) or the
   * backend cannot map files. Default false.
   */
  map?: boolean;
}

const DEFAULT_CHUNK_FLOATS = 4 * 1024 * 1024;

/** One step of a load: file bytes [begin, begin + bytes) of a tensor, then what to do with them. */
interface LoadStep {
  info: TensorInfo;
  begin: number;
  bytes: number;
  /** f32 file data read straight into the parameter's memory. */
  into?: Uint8Array;
  /** Else: the data as f32 (elements [begin / size, ...) of the tensor) -> the model. */
  apply?: (src: Float32Array) => void;
}

function loadSteps(info: TensorInfo, e: LayoutEntry, chunkFloats: number): LoadStep[] {
  const size = info.dtype === 'F32' ? 4 : 2;
  const cols = e.shape.length === 2 ? e.shape[1] : Math.max(1, info.numel);
  const steps: LoadStep[] = [];
  if (e.target && info.dtype === 'F32') {
    const bytes = new Uint8Array(e.target.buffer, e.target.byteOffset, e.target.byteLength);
    for (let b = 0; b < info.byteLength; b += chunkFloats * 4) {
      const n = Math.min(chunkFloats * 4, info.byteLength - b);
      steps.push({ info, begin: b, bytes: n, into: bytes.subarray(b, b + n) });
    }
    return steps;
  }
  const writeRows = e.writeRows;
  if (writeRows && info.numel > chunkFloats) {
    const rowsPerStep = Math.max(1, Math.floor(chunkFloats / cols));
    const rows = info.numel / cols;
    for (let r = 0; r < rows; r += rowsPerStep) {
      const n = Math.min(rowsPerStep, rows - r);
      steps.push({ info, begin: r * cols * size, bytes: n * cols * size, apply: (src) => writeRows(src, r) });
    }
    return steps;
  }
  return [{ info, begin: 0, bytes: info.byteLength, apply: (src) => e.write(src) }];
}

/**
 * Stream the file's tensors into the model: f32 data straight into parameters, the rest (Conv1D transposes,
 * bf16 / int8 conversions, 16-bit files) through two scratch buffers, the next read in flight while the native
 * kernels convert the previous one.
 */
async function streamInto(path: string, steps: LoadStep[]): Promise<void> {
  const scratchFloats = Math.max(
    0,
    ...steps.filter((s) => s.apply).map((s) => s.bytes / (s.info.dtype === 'F32' ? 4 : 2)),
  );
  const scratch = [new Float32Array(scratchFloats), new Float32Array(scratchFloats)];
  const raw = steps.some((s) => s.info.dtype !== 'F32')
    ? [new Uint16Array(scratchFloats), new Uint16Array(scratchFloats)]
    : [];
  const reader = await openSafetensors(path);
  try {
    const fetch = async (k: number): Promise<Float32Array | null> => {
      const st = steps[k];
      if (st.into) {
        await reader.read(st.info, st.into, st.begin);
        return null;
      }
      const n = st.bytes / (st.info.dtype === 'F32' ? 4 : 2);
      const f = scratch[k % 2].subarray(0, n);
      if (st.info.dtype === 'F32') {
        await reader.read(st.info, new Uint8Array(f.buffer, 0, st.bytes), st.begin);
      } else {
        const r = raw[k % 2].subarray(0, n);
        await reader.read(st.info, new Uint8Array(r.buffer, 0, st.bytes), st.begin);
        (st.info.dtype === 'F16' ? decodeF16 : decodeBF16)(r, f, 0);
      }
      return f;
    };
    const finite = (st: LoadStep, data: Float32Array) => {
      const i = getBackend().firstNonFinite(data);
      if (i !== -1) throw nonFinite(path, normaliseName(st.info.name), data[i]);
    };
    let next = steps.length ? fetch(0) : null;
    for (let k = 0; k < steps.length; k++) {
      const data = await next!;
      // Start the following read before converting: the conversion (sync, native) overlaps the file I/O.
      next = k + 1 < steps.length ? fetch(k + 1) : null;
      next?.catch(() => {}); // a failure surfaces at its own await; never as an unhandled rejection meanwhile
      const st = steps[k];
      if (data) {
        finite(st, data);
        st.apply!(data);
      } else {
        finite(st, new Float32Array(st.into!.buffer, st.into!.byteOffset, st.bytes / 4));
      }
    }
  } finally {
    await reader.close();
  }
}

/** The most bytes mapped as one ArrayBuffer (Node's limit for one is 4 GiB). */
const MAP_PIECE_BYTES = 2 ** 31;

/**
 * Make the model's parameters views of the file's data, mapped into memory (see LoadGPT2Options.map). False, with
 * the model untouched, when this file or backend cannot be mapped so.
 */
async function mapInto(
  model: GPTModel,
  header: SafetensorsHeader,
  layout: Map<string, LayoutEntry>,
): Promise<boolean> {
  const backend = getBackend();
  const path = header.path;
  const aligned = (t: TensorInfo) => t.dtype === 'F32' && (header.dataStart + t.dataOffsets[0]) % 4 === 0;
  const mapFile = backend.mapFile;
  if (
    !mapFile ||
    !header.tensors.every(aligned) ||
    header.tensors.some((t) => t.byteLength > MAP_PIECE_BYTES)
  )
    return false;
  // Node holds at most 4 GiB in one ArrayBuffer: map runs of whole tensors, each under MAP_PIECE_BYTES.
  let piece: { buffer: ArrayBuffer; begin: number } | null = null;
  const dataOf = (t: TensorInfo): Float32Array => {
    const [begin, end] = t.dataOffsets;
    if (!piece || end - piece.begin > piece.buffer.byteLength) {
      const last = header.tensors.findLast((u) => u.dataOffsets[1] - begin <= MAP_PIECE_BYTES)!;
      const length = last.dataOffsets[1] - begin;
      piece = { buffer: mapFile(path, header.dataStart + begin, length), begin };
    }
    return new Float32Array(piece.buffer, begin - piece.begin, t.numel);
  };
  const names = new Map(model.namedParameters().map(([n, p]) => [p, n]));
  const by = new Map<Tensor, Tensor>();
  let sinceYield = 0;
  for (const t of header.tensors) {
    const name = normaliseName(t.name);
    if (IGNORED.test(name) || (model.cfg.tiedHead && name === 'lm_head.weight')) continue;
    const src = dataOf(t);
    // Reading every value once also brings the file's pages in, so the first forward pass does not.
    const bad = backend.firstNonFinite(src);
    if (bad !== -1) throw nonFinite(path, name, src[bad]);
    const e = layout.get(name)!;
    e.views(src).forEach((v, k) => {
      v.name = names.get(e.params[k]) ?? ''; // errors about a view name the weight
      by.set(e.params[k], v);
    });
    // Give a server's event loop a turn between large tensors (mapping in a cold file reads from disk).
    if ((sinceYield += t.byteLength) > 256 * 2 ** 20) {
      sinceYield = 0;
      await new Promise((r) => setImmediate(r));
    }
  }
  model.replaceParameters(by);
  for (const p of model.parameters()) p.requiresGrad = false;
  return true;
}

/**
 * Read a Hugging Face GPT-2 directory (config.json + model.safetensors) into a new GPTModel in eval mode,
 * language model or classifier. The model is only returned once every tensor loaded.
 */
export async function loadGPT2(dir: string, opts: LoadGPT2Options = {}): Promise<GPTModel> {
  const dtype = opts.dtype ?? 'f32';
  const chunkFloats = Math.max(1, Math.floor((opts.chunkBytes ?? DEFAULT_CHUNK_FLOATS * 4) / 4));
  if (!WEIGHT_DTYPES.includes(dtype))
    throw new Error(`loadGPT2: dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got '${String(dtype)}'`);
  const { config } = await readModelConfig(dir);
  const weightsPath = join(dir, 'model.safetensors');
  if (!existsSync(weightsPath)) throw new Error(`${weightsPath}: file not found`);
  const cfg: GPTConfig = { ...config, dropRate: opts.dropRate ?? 0 };
  const header = await readSafetensorsHeader(weightsPath);
  // Every parameter is about to be overwritten: no random init. The f32 weights a packed load replaces were
  // never touched, so they never took physical memory.
  const model = withoutInit(() => new GPTModel(cfg));
  if (dtype !== 'f32') allocatePackedWeights(model, dtype);
  const layout = gpt2Layout(model);
  checkNames(model, header.tensors, layout, weightsPath);
  for (const t of header.tensors)
    if (!LOADABLE_DTYPES.includes(t.dtype))
      throw new Error(
        `${weightsPath}: tensor '${t.name}': dtype ${t.dtype} cannot be loaded as float32 (loadable: ${LOADABLE_DTYPES.join(', ')})`,
      );
  if (opts.map && dtype === 'f32' && (await mapInto(model, header, layout))) return model.eval();
  const steps: LoadStep[] = [];
  for (const t of header.tensors) {
    const name = normaliseName(t.name);
    if (IGNORED.test(name) || (model.cfg.tiedHead && name === 'lm_head.weight')) continue;
    steps.push(...loadSteps(t, layout.get(name)!, chunkFloats));
  }
  await streamInto(weightsPath, steps);
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
