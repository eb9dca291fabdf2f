// Fused linear layer: y = x @ W^T + b in one GEMM (bias pre-filled, accumulate), with a backward that
// adds dW and db straight into a leaf parameter's .grad (GEMM with beta = 1) instead of allocating them.
// A weight held as bf16 / int8 (inference storage, see packWeight) takes the backend's packed kernel instead.
import { getBackend, type FloatArray, type GemmArgs, type PackedMatrix } from '../backend/index.js';
import { isGradEnabled, record } from '../tensor/autograd.js';
import { empty, fromPacked, keep, shapeStr, type Tensor } from '../tensor/tensor.js';
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
  if (weight.packed) return packedLinear(x, weight, weight.packed, bias);
  const xc = contiguous(x);
  // A weight can be a strided view: a model mapped from its file keeps Conv1D weights in the file's [in, out]
  // layout. The GEMM reads it through its strides when either is 1; only other views are copied.
  const w = weight.strides[0] === 1 || weight.strides[1] === 1 ? weight : contiguous(weight);
  const [wRowStride, wColStride] = w.strides;
  const rows = inp === 0 ? 0 : xc.size / inp;
  const y = empty([...x.shape.slice(0, -1), out], x.dtype);
  const bk = backendFor(x);
  fillBias(y, bias, rows, out);
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
        bRowStride: wColStride,
        bColStride: wRowStride,
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
        bRowStride: wRowStride,
        bColStride: wColStride,
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
      // db (out) (+)= the column sums of g (rows, out)
      bk.sumRows(
        gc.data.subarray(gc.offset, gc.offset + rows * out) as FloatArray,
        rows,
        out,
        target.t.data as FloatArray,
        target.beta,
      );
      if (!target.leaf) db = target.t;
    }
    return bias ? [dx, dw, db] : [dx, dw];
  });
}

/** The bias of every row of y (rows, out), or nothing: the GEMMs then accumulate onto it (beta = 1). */
function fillBias(y: Tensor, bias: Tensor | null, rows: number, out: number): void {
  if (!bias) return;
  const bc = contiguous(bias);
  const yd = y.data;
  if (rows === 0) return;
  yd.set(bc.data.subarray(bc.offset, bc.offset + out), 0);
  // Doubling block copies (memmove speed) instead of one short copy per row.
  for (let done = 1; done < rows; done *= 2) yd.copyWithin(done * out, 0, Math.min(done, rows - done) * out);
}

/** Inference only: x (..., in) @ W^T + b with W held packed; no gradient flows through it. */
function packedLinear(x: Tensor, weight: Tensor, w: PackedMatrix, bias: Tensor | null): Tensor {
  const [out, inp] = weight.shape;
  const name = weight.name ? ` '${weight.name}'` : '';
  if (weight.offset !== 0 || !weight.isContiguous() || out !== w.rows || inp !== w.cols)
    throw new Error(
      `linear: a view of the ${w.dtype} weight${name} cannot be multiplied; use the weight itself`,
    );
  if (x.dtype !== 'float32')
    throw new Error(`linear: ${w.dtype} weights${name} take float32 inputs, got ${x.dtype}`);
  if (isGradEnabled() && (x.requiresGrad || bias?.requiresGrad))
    throw new Error(
      `linear: the weight${name} is held as ${w.dtype} for inference; gradients cannot flow through it (load the model as f32 to train)`,
    );
  const xc = contiguous(x);
  const rows = inp === 0 ? 0 : xc.size / inp;
  const y = empty([...x.shape.slice(0, -1), out], 'float32');
  fillBias(y, bias, rows, out);
  getBackend().packedLinear({
    M: rows,
    N: out,
    K: inp,
    x: xc.data as Float32Array,
    xOffset: xc.offset,
    xRowStride: inp,
    w,
    y: y.data as Float32Array,
    yOffset: 0,
    yRowStride: out,
    beta: bias ? 1 : 0,
  });
  return y;
}

/** Storage for a (rows, cols) weight in `dtype` (zeros), to be filled by packWeightInto. */
export function allocatePacked(dtype: 'bf16' | 'int8', rows: number, cols: number): PackedMatrix {
  const n = rows * cols;
  const data = dtype === 'bf16' ? new Uint16Array(n) : new Int8Array(n);
  // Fresh and untouched: huge pages make its first touch (loading) and its streaming (decoding) cheaper.
  getBackend().adviseHugePages?.(data.buffer as ArrayBuffer);
  return {
    dtype,
    rows,
    cols,
    data,
    scales: dtype === 'int8' ? new Float32Array(rows) : null,
  } as PackedMatrix;
}

/**
 * Convert rows [row0, row0 + rows) of a weight from f32 source data into `dst` (a packed matrix, or the
 * Float32Array of an f32 weight): element (i, j) of the source is src[srcOffset + i*rowStride + j*colStride].
 */
export function packWeightInto(
  dst: PackedMatrix | Float32Array,
  cols: number,
  src: Float32Array,
  s: { srcOffset?: number; rowStride: number; colStride: number; row0?: number; rows: number },
): void {
  const row0 = s.row0 ?? 0;
  const span = (a: Float32Array | Uint16Array | Int8Array) => a.subarray(row0 * cols, (row0 + s.rows) * cols);
  const packed = dst instanceof Float32Array ? null : dst;
  getBackend().packWeights({
    rows: s.rows,
    cols,
    src,
    srcOffset: s.srcOffset ?? 0,
    srcRowStride: s.rowStride,
    srcColStride: s.colStride,
    dst: span(packed ? packed.data : (dst as Float32Array)),
    scales: packed?.scales?.subarray(row0, row0 + s.rows),
  });
}

/** A new tensor holding a 2-d float32 weight (out, in) as bf16 or int8 (it shares nothing with the original). */
export function packWeight(weight: Tensor, dtype: 'bf16' | 'int8'): Tensor {
  if (weight.ndim !== 2 || weight.dtype !== 'float32' || weight.packed)
    throw new Error(`packWeight: expected a 2-d float32 weight, got ${weight}`);
  const [rows, cols] = weight.shape;
  const packed = allocatePacked(dtype, rows, cols);
  packWeightInto(packed, cols, weight.data as Float32Array, {
    srcOffset: weight.offset,
    rowStride: weight.strides[0],
    colStride: weight.strides[1],
    rows,
  });
  const t = fromPacked(packed);
  t.name = weight.name;
  return t;
}

/** Embedding lookup in a packed (V, C) weight: ids (...) int32 -> (..., C), rows dequantized to f32. */
export function packedEmbedding(weight: Tensor, idsTensor: Tensor): Tensor {
  const w = weight.packed;
  if (!w) throw new Error(`packedEmbedding: ${weight} is not packed`);
  if (idsTensor.dtype !== 'int32')
    throw new Error(`embedding: indices must be int32, got ${idsTensor.dtype} ${shapeStr(idsTensor.shape)}`);
  const ic = contiguous(idsTensor);
  const ids = (ic.data as Int32Array).subarray(ic.offset, ic.offset + ic.size);
  for (let i = 0; i < ids.length; i++)
    if (ids[i] < 0 || ids[i] >= w.rows)
      throw new Error(`embedding: index ${ids[i]} at position ${i} is out of range [0, ${w.rows})`);
  const C = w.cols;
  const out = empty([...idsTensor.shape, C], 'float32');
  const od = out.data as Float32Array;
  if (w.dtype === 'bf16') {
    const o32 = new Uint32Array(od.buffer, od.byteOffset, ids.length * C);
    const d = w.data;
    for (let i = 0; i < ids.length; i++) {
      const src = ids[i] * C;
      for (let j = 0; j < C; j++) o32[i * C + j] = d[src + j] << 16;
    }
  } else {
    const d = w.data;
    for (let i = 0; i < ids.length; i++) {
      const src = ids[i] * C;
      const scale = w.scales![ids[i]];
      for (let j = 0; j < C; j++) od[i * C + j] = d[src + j] * scale;
    }
  }
  return out;
}
