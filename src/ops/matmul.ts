// Batched matrix multiply with broadcasting over batch dimensions, like torch.matmul for ndim >= 2.
// Transposed and strided operands go to the GEMM as strides, never as copies.
import type { GemmArgs } from '../backend/index.js';
import { record } from '../tensor/autograd.js';
import { empty, shapeStr, Tensor } from '../tensor/tensor.js';
import { assertFloat, backendFor, broadcastShapes } from './util.js';
import { reshape, sumTo, transpose } from './view.js';

/** A single stride that walks all batch dims of t (in the broadcast batch shape), or null if none does. */
function flatBatchStride(t: Tensor, batchShape: readonly number[]): number | null {
  const nb = batchShape.length;
  const lead = nb - (t.ndim - 2);
  // Strides of t's batch dims in the broadcast batch shape (0 where broadcast or absent).
  const strides = batchShape.map((d, i) => {
    if (i < lead) return 0;
    const td = t.shape[i - lead];
    return td === 1 && d !== 1 ? 0 : t.strides[i - lead];
  });
  let stride: number | null = null;
  let expect: number | null = null;
  for (let i = nb - 1; i >= 0; i--) {
    if (batchShape[i] === 1) continue;
    const s = strides[i];
    if (stride === null) {
      stride = s;
      expect = s * batchShape[i];
    } else if (s === expect || (s === 0 && stride === 0)) {
      expect = s * batchShape[i];
    } else return null;
  }
  return stride ?? 0;
}

/** Storage offset of each batch entry of t, in the broadcast batch shape. */
function batchOffsets(t: Tensor, batchShape: readonly number[]): number[] {
  const lead = batchShape.length - (t.ndim - 2);
  const offsets: number[] = [];
  const idx = new Array<number>(batchShape.length).fill(0);
  const total = batchShape.reduce((p, d) => p * d, 1);
  for (let n = 0; n < total; n++) {
    let o = t.offset;
    for (let i = lead; i < batchShape.length; i++)
      if (t.shape[i - lead] !== 1) o += idx[i] * t.strides[i - lead];
    offsets.push(o);
    for (let d = batchShape.length - 1; d >= 0; d--) {
      if (++idx[d] < batchShape[d]) break;
      idx[d] = 0;
    }
  }
  return offsets;
}

function gemmPerBatch(
  a: Tensor,
  b: Tensor,
  out: Tensor,
  batchShape: readonly number[],
  M: number,
  N: number,
  K: number,
): void {
  const ao = batchOffsets(a, batchShape);
  const bo = batchOffsets(b, batchShape);
  const bk = backendFor(a);
  for (let i = 0; i < ao.length; i++) {
    bk.gemm({
      batch: 1,
      M,
      N,
      K,
      a: a.data as Float32Array,
      aOffset: ao[i],
      aRowStride: a.strides[a.ndim - 2],
      aColStride: a.strides[a.ndim - 1],
      aBatchStride: 0,
      b: b.data as Float32Array,
      bOffset: bo[i],
      bRowStride: b.strides[b.ndim - 2],
      bColStride: b.strides[b.ndim - 1],
      bBatchStride: 0,
      c: out.data as Float32Array,
      cOffset: i * M * N,
      cRowStride: N,
      cBatchStride: 0,
      alpha: 1,
      beta: 0,
    });
  }
}

/** C (fresh, contiguous) = a @ b over broadcast batch dims, without autograd. */
function matmulForward(a: Tensor, b: Tensor): Tensor {
  if (a.ndim < 2 || b.ndim < 2) {
    throw new Error(
      `matmul: operands must be at least 2-d, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`,
    );
  }
  assertFloat('matmul', a, b);
  const M = a.shape[a.ndim - 2];
  const K = a.shape[a.ndim - 1];
  const K2 = b.shape[b.ndim - 2];
  const N = b.shape[b.ndim - 1];
  if (K !== K2) {
    throw new Error(`matmul: inner dimensions differ: ${shapeStr(a.shape)} @ ${shapeStr(b.shape)}`);
  }
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = batchShape.reduce((p, d) => p * d, 1);
  const out = empty([...batchShape, M, N], a.dtype);
  if (out.size === 0) return out;
  if (K === 0) {
    out.data.fill(0);
    return out;
  }
  const A = a;
  const B = b;
  const aBatch = flatBatchStride(A, batchShape);
  const bBatch = flatBatchStride(B, batchShape);
  if (aBatch === null || bBatch === null) {
    // Batch dims that no single stride walks (e.g. mixed broadcasting): one GEMM per batch entry.
    gemmPerBatch(a, b, out, batchShape, M, N, K);
    return out;
  }
  const g: GemmArgs = {
    batch,
    M,
    N,
    K,
    a: A.data as Float32Array,
    aOffset: A.offset,
    aRowStride: A.strides[A.ndim - 2],
    aColStride: A.strides[A.ndim - 1],
    aBatchStride: aBatch,
    b: B.data as Float32Array,
    bOffset: B.offset,
    bRowStride: B.strides[B.ndim - 2],
    bColStride: B.strides[B.ndim - 1],
    bBatchStride: bBatch,
    c: out.data as Float32Array,
    cOffset: 0,
    cRowStride: N,
    cBatchStride: M * N,
    alpha: 1,
    beta: 0,
  };
  // A shared B with row-contiguous batches of A is one tall GEMM: better blocking, one call.
  if (batch > 1 && bBatch === 0 && aBatch === M * g.aRowStride) {
    g.M = M * batch;
    g.batch = 1;
  }
  backendFor(a).gemm(g);
  return out;
}

/** torch.matmul for operands of rank >= 2 (batch dimensions broadcast). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const out = matmulForward(a, b);
  return record(out, 'matmul', [a, b], (g) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a.requiresGrad) ga = sumTo(matmulForward(g, transpose(b)), a.shape);
    if (b.requiresGrad) {
      if (b.ndim === 2 && a.ndim > 2) {
        // Shared weight: fold the batch into rows, so gb = a2^T @ g2 is one GEMM with no batch sum.
        const K = a.shape[a.ndim - 1];
        const a2 = reshape(a, [-1, K]);
        const g2 = reshape(g, [-1, g.shape[g.ndim - 1]]);
        gb = matmulForward(transpose(a2), g2);
      } else {
        gb = sumTo(matmulForward(transpose(a), g), b.shape);
      }
    }
    return [ga, gb];
  });
}
