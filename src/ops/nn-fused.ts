// Fused ops for neural networks, each one backend kernel forward and one backward:
// layer norm, GELU (tanh approximation), cross-entropy with ignoreIndex, and dropout.
import { record } from '../tensor/autograd.js';
import { globalRng, type Rng } from '../tensor/rng.js';
import { empty, shapeStr, Tensor } from '../tensor/tensor.js';
import { assertFloat, backendFor } from './util.js';
import { contiguous, reshape } from './view.js';
import type { FloatArray } from '../backend/index.js';

/** The contiguous elements of t as a typed array of exactly t.size elements. */
export function flat(t: Tensor): FloatArray {
  const c = t.isContiguous() ? t : contiguous(t);
  return c.data.subarray(c.offset, c.offset + c.size) as FloatArray;
}

/** Layer norm over the last axis with biased variance (torch.nn.LayerNorm, the book's LayerNorm). */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5): Tensor {
  assertFloat('layerNorm', x, weight, bias);
  const cols = x.shape[x.ndim - 1];
  if (weight.size !== cols || bias.size !== cols) {
    throw new Error(
      `layerNorm: weight ${shapeStr(weight.shape)} and bias ${shapeStr(bias.shape)} must have the last dim of the input ${shapeStr(x.shape)}`,
    );
  }
  const rows = cols === 0 ? 0 : x.size / cols;
  const out = empty(x.shape, x.dtype);
  const mean = empty([rows], x.dtype);
  const rstd = empty([rows], x.dtype);
  const bk = backendFor(x);
  const xf = flat(x);
  const wf = flat(weight);
  const bf = flat(bias);
  bk.layerNorm(
    xf,
    wf,
    bf,
    out.data as FloatArray,
    mean.data as FloatArray,
    rstd.data as FloatArray,
    rows,
    cols,
    eps,
  );
  return record(out, 'layerNorm', [x, weight, bias], (g) => {
    const dx = empty(x.shape, x.dtype);
    const dw = empty(weight.shape, x.dtype, true);
    const db = empty(bias.shape, x.dtype, true);
    bk.layerNormBackward(
      flat(g),
      xf,
      wf,
      mean.data as FloatArray,
      rstd.data as FloatArray,
      dx.data as FloatArray,
      dw.data as FloatArray,
      db.data as FloatArray,
      rows,
      cols,
    );
    return [dx, dw, db];
  });
}

/** GELU with the tanh approximation, as GPT-2 and the book use. */
export function gelu(x: Tensor): Tensor {
  assertFloat('gelu', x);
  const out = empty(x.shape, x.dtype);
  const bk = backendFor(x);
  const xf = flat(x);
  bk.gelu(xf, out.data as FloatArray, x.size);
  return record(out, 'gelu', [x], (g) => {
    const dx = empty(x.shape, x.dtype);
    bk.geluBackward(xf, flat(g), dx.data as FloatArray, x.size);
    return [dx];
  });
}

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped and excluded from the mean (PyTorch's default -100). */
  ignoreIndex?: number;
  /** 'mean' over non-ignored targets (PyTorch's default), 'sum', or 'none' (per-target losses). */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy between logits [..., V] and int32 targets [...], fused with log-softmax.
 * A batch whose targets are all ignored gives NaN under 'mean', as PyTorch does.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  assertFloat('crossEntropy', logits);
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? 'mean';
  if (targets.dtype !== 'int32') throw new Error(`crossEntropy: targets must be int32, got ${targets.dtype}`);
  const V = logits.shape[logits.ndim - 1];
  const rows = V === 0 ? 0 : logits.size / V;
  if (targets.size !== rows || logits.ndim !== targets.ndim + 1) {
    throw new Error(
      `crossEntropy: logits ${shapeStr(logits.shape)} do not match targets ${shapeStr(targets.shape)}`,
    );
  }
  const tf = flat(targets) as unknown as Int32Array;
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const t = tf[r];
    if (t === ignoreIndex) continue;
    if (t < 0 || t >= V || !Number.isInteger(t)) {
      throw new Error(`crossEntropy: target ${t} at position ${r} is out of range [0, ${V})`);
    }
    count++;
  }
  const bk = backendFor(logits);
  const lf = flat(logits);
  const losses = empty([rows], logits.dtype);
  const lse = empty([rows], logits.dtype);
  bk.crossEntropy(lf, tf, losses.data as FloatArray, lse.data as FloatArray, rows, V, ignoreIndex);
  let out: Tensor;
  if (reduction === 'none') {
    out = reshape(losses, targets.shape);
  } else {
    out = empty([], logits.dtype);
    let s = 0;
    for (let r = 0; r < rows; r++) s += losses.data[r];
    out.data[0] = reduction === 'mean' ? s / count : s;
  }
  return record(out, 'crossEntropy', [logits], (g) => {
    const dl = empty(logits.shape, logits.dtype);
    if (reduction === 'none') {
      // Per-row scale: run row by row through the kernel with each row's own upstream gradient.
      const gf = flat(g);
      for (let r = 0; r < rows; r++) {
        bk.crossEntropyBackward(
          lf.subarray(r * V, (r + 1) * V),
          tf.subarray(r, r + 1),
          (lse.data as FloatArray).subarray(r, r + 1),
          (dl.data as FloatArray).subarray(r * V, (r + 1) * V),
          1,
          V,
          ignoreIndex,
          gf[r],
        );
      }
    } else {
      const scale = g.item() / (reduction === 'mean' ? count : 1);
      bk.crossEntropyBackward(
        lf,
        tf,
        lse.data as FloatArray,
        dl.data as FloatArray,
        rows,
        V,
        ignoreIndex,
        scale,
      );
    }
    return [dl];
  });
}

/**
 * Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p). The mask is a
 * hash of (seed from rng, element index), so nothing is stored for backward but the seed.
 */
export function dropout(x: Tensor, p: number, training: boolean, rng: Rng = globalRng): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: probability must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  assertFloat('dropout', x);
  const seed = rng.nextUint32();
  const threshold = Math.ceil(p * 16777216);
  const scale = p === 1 ? 0 : 1 / (1 - p);
  const n = x.size;
  const bk = backendFor(x);
  const out = empty(x.shape, x.dtype);
  // The mask is a counter-based hash of (seed, element index): backward regenerates it from the seed.
  bk.dropout(flat(x), out.data as FloatArray, n, seed, threshold, scale);
  return record(out, 'dropout', [x], (g) => {
    const dx = empty(x.shape, x.dtype);
    bk.dropout(flat(g), dx.data as FloatArray, n, seed, threshold, scale);
    return [dx];
  });
}
