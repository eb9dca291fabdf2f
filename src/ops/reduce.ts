// Reductions over one axis (or all elements): sum, mean, var, max, argmax, logsumexp.
// var is a composite of mean/sub/mul, so its gradient comes for free.
import { record } from '../tensor/autograd.js';
import { empty, Tensor } from '../tensor/tensor.js';
import { mul, sub } from './elementwise.js';
import { normAxis } from './util.js';
import { contiguous, expand, reshape } from './view.js';

export interface ReduceOptions {
  keepdim?: boolean;
}

/** Shape bookkeeping: the contiguous input seen as [outer, n, inner] around the reduced axis. */
function split3(x: Tensor, axis: number): { outer: number; n: number; inner: number; keptShape: number[] } {
  const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const keptShape = [...x.shape];
  keptShape[axis] = 1;
  return { outer, n: x.shape[axis], inner, keptShape };
}

function finalShape(keptShape: number[], axis: number, keepdim: boolean): number[] {
  return keepdim ? keptShape : keptShape.filter((_, i) => i !== axis);
}

/** Sum over axis (all elements when axis is undefined). */
export function sum(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  if (axis === undefined) {
    const flat = reshape(x, [x.size]);
    return sum(flat, 0, { keepdim: false });
  }
  const a = normAxis('sum', axis, x.ndim);
  const xc = contiguous(x);
  const { outer, n, inner, keptShape } = split3(x, a);
  const out = empty(finalShape(keptShape, a, !!opts.keepdim), x.dtype, true);
  const od = out.data;
  const xd = xc.data;
  const base = xc.offset;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < n; i++) {
      const src = base + (o * n + i) * inner;
      const dst = o * inner;
      for (let j = 0; j < inner; j++) od[dst + j] += xd[src + j];
    }
  }
  return record(out, 'sum', [x], (g) => [expand(reshape(g, keptShape), x.shape)]);
}

export function mean(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  const n = axis === undefined ? x.size : x.shape[normAxis('mean', axis, x.ndim)];
  return mul(sum(x, axis, opts), 1 / n);
}

/**
 * Variance over axis with PyTorch's `correction` (1 = unbiased, torch.var's default; 0 = biased,
 * what LayerNorm uses and what the book passes as unbiased=False).
 */
export function variance(
  x: Tensor,
  axis?: number,
  opts: ReduceOptions & { correction?: number } = {},
): Tensor {
  const n = axis === undefined ? x.size : x.shape[normAxis('var', axis, x.ndim)];
  const correction = opts.correction ?? 1;
  const centered = sub(x, mean(x, axis, { keepdim: axis !== undefined }));
  return mul(sum(mul(centered, centered), axis, opts), 1 / Math.max(n - correction, 0));
}

/** Maximum over axis and the index of its first occurrence (gradient flows to that index). */
export function max(x: Tensor, axis: number, opts: ReduceOptions = {}): { values: Tensor; indices: Tensor } {
  const a = normAxis('max', axis, x.ndim);
  const { outer, n, inner, keptShape } = split3(x, a);
  if (n === 0) throw new Error(`max: cannot reduce over an empty axis ${a}`);
  const xc = contiguous(x);
  const shape = finalShape(keptShape, a, !!opts.keepdim);
  const values = empty(shape, x.dtype);
  const indices = empty(shape, 'int32');
  const xd = xc.data;
  const base = xc.offset;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let best = -Infinity;
      let bi = 0;
      for (let i = 0; i < n; i++) {
        const v = xd[base + (o * n + i) * inner + j];
        // NaN propagates as in torch.max.
        if (v > best || Number.isNaN(v)) {
          best = v;
          bi = i;
          if (Number.isNaN(v)) break;
        }
      }
      values.data[o * inner + j] = best;
      indices.data[o * inner + j] = bi;
    }
  }
  record(values, 'max', [x], (g) => {
    const gx = empty(x.shape, g.dtype, true);
    const gc = contiguous(g);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const k = o * inner + j;
        gx.data[(o * n + indices.data[k]) * inner + j] = gc.data[gc.offset + k];
      }
    }
    return [gx];
  });
  return { values, indices };
}

/** Index of the maximum along axis (int32; no gradient). */
export function argmax(x: Tensor, axis: number, opts: ReduceOptions = {}): Tensor {
  const { values, indices } = max(x, axis, opts);
  values.dispose();
  return indices;
}
