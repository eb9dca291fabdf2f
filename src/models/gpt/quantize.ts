// Inference weights as bf16 or int8: which tensors of a GPTModel are held packed (every Linear weight and the
// token embedding), converting a loaded f32 model, and asking a model what it holds.
// Not quantization-aware training: a packed model runs forward only (its parameters are frozen).
import type { PackedMatrix, WeightDtype } from '../../backend/index.js';
import { WEIGHT_DTYPES } from '../../backend/index.js';
import { Module, parameter } from '../../nn/module.js';
import { Embedding, Linear } from '../../nn/layers.js';
import { allocatePacked, packWeight } from '../../ops/linear.js';
import { fromPacked, type Tensor } from '../../tensor/tensor.js';
import { GPTModel } from './gpt.js';

export type { WeightDtype } from '../../backend/index.js';

/** Check a user-given weight dtype (`--dtype`); the message names the choices. */
export function parseWeightDtype(v: string, flag = '--dtype'): WeightDtype {
  if (!(WEIGHT_DTYPES as readonly string[]).includes(v))
    throw new Error(`${flag} must be one of ${WEIGHT_DTYPES.join(', ')}, got '${v}'`);
  return v as WeightDtype;
}

/** The weights inference keeps packed: every Linear weight (the head included) and the token embedding (read
 * by rows). Position embeddings, layer norms and biases stay f32. */
function packable(model: Module): Array<{ module: Linear | Embedding; weight: Tensor }> {
  const out: Array<{ module: Linear | Embedding; weight: Tensor }> = [];
  const walk = (m: Module) => {
    if (m instanceof Linear) out.push({ module: m, weight: m.weight });
    for (const [, c] of m.namedChildren()) walk(c);
  };
  walk(model);
  if (model instanceof GPTModel) out.push({ module: model.tok_emb, weight: model.tok_emb.weight });
  return out;
}

/** Replace weights by their packed forms (one per distinct tensor, so a tied head stays tied); freeze the rest. */
function replaceWeights(model: GPTModel, make: (w: Tensor) => Tensor): void {
  const done = new Map<Tensor, Tensor>();
  for (const { module, weight } of packable(model)) {
    let p = done.get(weight);
    if (!p) done.set(weight, (p = parameter(make(weight)))); // a parameter still: counted, named, kept
    module.weight = p;
  }
  for (const p of model.parameters()) p.requiresGrad = false;
}

/**
 * Hold the model's Linear weights and token embedding as bf16 or int8, converted from its f32 weights;
 * 'f32' leaves it unchanged. The f32 copies are dropped (the garbage collector frees them). In place; returns the
 * model, in eval mode and frozen: it can generate and classify, not train or be saved.
 */
export function quantizeModel(model: GPTModel, dtype: WeightDtype): GPTModel {
  parseWeightDtype(dtype, 'quantizeModel: dtype');
  if (dtype === 'f32') return model;
  const current = modelWeightDtype(model);
  if (current !== 'f32') {
    if (current === dtype) return model.eval();
    throw new Error(`quantizeModel: the model already holds ${current} weights; load it again as f32 first`);
  }
  replaceWeights(model, (w) => packWeight(w, dtype));
  return model.eval();
}

/**
 * Give a freshly built model (whose weights are about to be loaded) packed, zero-filled weights to load into,
 * without converting anything: what loadGPT2 does for a bf16 / int8 load.
 */
export function allocatePackedWeights(model: GPTModel, dtype: 'bf16' | 'int8'): void {
  replaceWeights(model, (w) => {
    const t = fromPacked(allocatePacked(dtype, w.shape[0], w.shape[1]));
    t.name = w.name;
    return t;
  });
}

/** 'f32', or the packed dtype of the model's Linear weights. */
export function modelWeightDtype(model: Module): WeightDtype {
  for (const { weight } of packable(model)) if (weight.packed) return weight.packed.dtype;
  return 'f32';
}

/** Bytes the model's parameters occupy in memory (packed weights at their packed size). */
export function modelWeightBytes(model: Module): number {
  const seen = new Set<PackedMatrix>();
  let bytes = 0;
  for (const p of model.parameters()) bytes += p.packed ? 0 : p.size * 4;
  for (const { weight } of packable(model)) {
    const w = weight.packed;
    if (!w || seen.has(w)) continue;
    seen.add(w);
    bytes += w.data.byteLength + (w.scales?.byteLength ?? 0);
  }
  return bytes;
}
