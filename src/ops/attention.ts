// Fused causal self-attention: softmax(mask(q k^T * scale)) v in one kernel, with a memory-efficient
// backward that recomputes attention weights from the saved log-sum-exp instead of storing [T, T].
import { record } from '../tensor/autograd.js';
import { empty, shapeStr, Tensor } from '../tensor/tensor.js';
import { assertFloat, backendFor } from './util.js';
import { flat } from './nn-fused.js';

/**
 * q: (B, H, Tq, D), k and v: (B, H, Tk, D) with Tq <= Tk; query i sits at position Tk - Tq + i
 * (so a KV-cache step attends its new queries to all cached keys). Returns (B, H, Tq, D).
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, scale = 1 / Math.sqrt(q.shape[q.ndim - 1])): Tensor {
  assertFloat('causalAttention', q, k, v);
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) {
    throw new Error(`causalAttention: expected 4-d (B, H, T, D) tensors, got ${shapeStr(q.shape)}, ${shapeStr(k.shape)}, ${shapeStr(v.shape)}`);
  }
  const [B, H, Tq, D] = q.shape;
  const Tk = k.shape[2];
  if (k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== D || v.shape.some((d, i) => d !== k.shape[i]) || Tq > Tk) {
    throw new Error(`causalAttention: incompatible shapes q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}`);
  }
  const bk = backendFor(q);
  const qf = flat(q);
  const kf = flat(k);
  const vf = flat(v);
  const out = empty(q.shape, q.dtype);
  const lse = empty([B * H * Tq], q.dtype);
  const args = { BH: B * H, Tq, Tk, D, qStart: Tk - Tq, scale, q: qf, k: kf, v: vf, out: out.data, lse: lse.data } as const;
  bk.attention(args as Parameters<typeof bk.attention>[0]);
  return record(out, 'causalAttention', [q, k, v], (g) => {
    const dq = empty(q.shape, q.dtype);
    const dk = empty(k.shape, k.dtype);
    const dv = empty(v.shape, v.dtype);
    bk.attentionBackward({ ...args, dout: flat(g), dq: dq.data, dk: dk.data, dv: dv.data } as Parameters<typeof bk.attentionBackward>[0]);
    return [dq, dk, dv];
  });
}
