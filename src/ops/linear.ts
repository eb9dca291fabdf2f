// Fused linear layer: y = x @ W^T + b in one GEMM (bias pre-filled, accumulate), with a backward that
// adds dW and db straight into a leaf parameter's .grad (GEMM with beta = 1) instead of allocating them.
import type { FloatArray, GemmArgs } from '../backend/index.js';
import { record } from '../tensor/autograd.js';
import { empty, keep, shapeStr, type Tensor } from '../tensor/tensor.js';
import { assertFloat, backendFor } from './util.js';
import { contiguous } from './view.js';

/** Gradient destination for a parameter: its own .grad when it is a leaf (accumulate), else a fresh tensor. */
function gradTarget(p: Tensor): { t: Tensor; beta: 0 | 1; leaf: boolean } {
  if (!p.node) {
    if (!p.grad) return { t: (p.grad = keep(empty(p.shape, p.dtype))), beta: 0, leaf: true };
    return { t: p.grad, beta: 1, leaf: true };
  }
  return { t: empty(p.shape, p.dtype), beta: 0, leaf: false };
}

/** x (..., in) -> (..., out) with weight (out, in) and optional bias (out), as torch.nn.functional.linear. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  assertFloat('linear', x, weight, ...(bias ? [bias] : []));
  const [out, inp] = weight.shape;
  if (weight.ndim !== 2 || x.shape[x.ndim - 1] !== inp || (bias && (bias.ndim !== 1 || bias.size !== out))) {
    throw new Error(
      `linear: input ${shapeStr(x.shape)}, weight ${shapeStr(weight.shape)}${bias ? `, bias ${shapeStr(bias.shape)}` : ''} do not fit`,
    );
  }
  const xc = contiguous(x);
  const w = contiguous(weight);
  const rows = inp === 0 ? 0 : xc.size / inp;
  const y = empty([...x.shape.slice(0, -1), out], x.dtype);
  const bk = backendFor(x);
  if (bias) {
    const bc = contiguous(bias);
    const bd = bc.data.subarray(bc.offset, bc.offset + out);
    for (let r = 0; r < rows; r++) y.data.set(bd, r * out);
  }
  type Args = Omit<Partial<GemmArgs>, 'a' | 'b' | 'c'> &
    Pick<GemmArgs, 'M' | 'N' | 'K'> & { a: Tensor['data']; b: Tensor['data']; c: Tensor['data'] };
  const gemm = (g: Args): void =>
    bk.gemm({
      batch: 1,
      aOffset: 0,
      aBatchStride: 0,
      bOffset: 0,
      bBatchStride: 0,
      cOffset: 0,
      cBatchStride: 0,
      alpha: 1,
      beta: 0,
      aRowStride: g.K,
      aColStride: 1,
      bRowStride: g.N,
      bColStride: 1,
      cRowStride: g.N,
      ...g,
      a: g.a as FloatArray,
      b: g.b as FloatArray,
      c: g.c as FloatArray,
    } as GemmArgs);
  if (rows > 0 && out > 0) {
    if (inp === 0) {
      if (!bias) y.data.fill(0);
    } else {
      // y (rows, out) = x (rows, in) @ W^T: W (out, in) read with swapped strides.
      gemm({
        M: rows,
        N: out,
        K: inp,
        a: xc.data,
        aOffset: xc.offset,
        b: w.data,
        bOffset: w.offset,
        bRowStride: 1,
        bColStride: inp,
        c: y.data,
        beta: bias ? 1 : 0,
      });
    }
  }
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(y, 'linear', inputs, (g) => {
    const gc = contiguous(g);
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      // dx (rows, in) = g (rows, out) @ W (out, in)
      dx = empty(x.shape, x.dtype);
      gemm({
        M: rows,
        N: inp,
        K: out,
        a: gc.data,
        aOffset: gc.offset,
        b: w.data,
        bOffset: w.offset,
        c: dx.data,
      });
    }
    let dw: Tensor | null = null;
    if (weight.requiresGrad) {
      // dW (out, in) += g^T (out, rows) @ x (rows, in)
      const target = gradTarget(weight);
      gemm({
        M: out,
        N: inp,
        K: rows,
        a: gc.data,
        aOffset: gc.offset,
        aRowStride: 1,
        aColStride: out,
        b: xc.data,
        bOffset: xc.offset,
        c: target.t.data,
        beta: target.beta,
      });
      if (!target.leaf) dw = target.t;
    }
    let db: Tensor | null = null;
    if (bias?.requiresGrad) {
      const target = gradTarget(bias);
      const d = target.t.data;
      if (target.beta === 0) d.fill(0);
      const gd = gc.data;
      for (let r = 0; r < rows; r++) {
        const o = gc.offset + r * out;
        for (let j = 0; j < out; j++) d[j] += gd[o + j];
      }
      if (!target.leaf) db = target.t;
    }
    return bias ? [dx, dw, db] : [dx, dw];
  });
}
